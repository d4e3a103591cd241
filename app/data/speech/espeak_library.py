"""libespeak-ng bound with ctypes; run as a child process, one utterance per process.

Why a child process: the C library keeps state between utterances in function-static
variables (the pitch flutter index, the wave phase), so the same text spoken twice in one
process gives slightly different samples. A fresh process per utterance makes synthesis
exactly reproducible, and also keeps the non-thread-safe library out of the caller's
threads. This file imports nothing but the standard library and `espeakng_loader`, so the
child starts in a few tens of milliseconds.

Protocol: one JSON request on stdin; on stdout one JSON line (the sample rate, the phone
and word events), then the 16-bit samples as raw little-endian bytes.

The library runs synchronously: `espeak_Synth` calls our callback with blocks of samples
and the events inside them. With espeakINITIALIZE_PHONEME_EVENTS and
espeakINITIALIZE_PHONEME_IPA every phone arrives as an espeakEVENT_PHONEME whose `sample`
field is its start in samples and whose name is IPA; every word arrives as an
espeakEVENT_WORD with its 1-based character position and length in the text.
"""

import ctypes
import json
import sys
from pathlib import Path

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_PHONEME_IPA = 0x0002
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 0x1
SSML = 0x10
ENDPAUSE = 0x1000
POS_CHARACTER = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}


class Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the input
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # samples from the start of the synthesis
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # phoneme name (UTF-8), or a number / pointer
    ]


class VoiceInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, name, NUL)*, NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event)
)


class Synthesizer:
    """One libespeak-ng instance: voice, parameters, one utterance at a time."""

    def __init__(self, library_path: str, data_path: str):
        self.lib = ctypes.CDLL(library_path)
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(VoiceInfo))
        options = INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA | INITIALIZE_DONT_EXIT
        self.rate_hz = self.lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), options
        )
        self.samples = bytearray()
        self.phones: list[tuple[int, str, int]] = []  # sample, IPA name, text position
        self.words: list[tuple[int, int]] = []  # text position, length
        self._callback = Callback(self._on_synth)  # must outlive every synthesis
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, count, events) -> int:
        if wav and count > 0:
            self.samples += ctypes.string_at(wav, count * 2)
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_PHONEME:
                name = bytes(event.id).split(b"\0")[0].decode("utf-8", "replace")
                self.phones.append((event.sample, name, event.text_position))
            elif event.type == EVENT_WORD:
                self.words.append((event.text_position, event.length))
            index += 1
        return 0  # go on synthesising

    def speak(self, voice: str, parameters: dict[str, int], text: str, ssml: bool) -> int:
        """Synthesise into `samples`, `phones`, `words`; returns an error code (0: fine)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            return -1
        for name, value in parameters.items():
            self.lib.espeak_SetParameter(PARAMETERS[name], int(value), 0)
        data = text.encode("utf-8")
        flags = CHARS_UTF8 | ENDPAUSE | (SSML if ssml else 0)
        return self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, flags, None, None)

    def voices(self) -> list[tuple[str, list[str]]]:
        """(identifier, language codes) of every voice the data holds."""
        listed = self.lib.espeak_ListVoices(None)
        found, index = [], 0
        while listed[index]:
            info = listed[index].contents
            found.append((info.identifier.decode(), languages(info.languages)))
            index += 1
        return found


def languages(address: int | None) -> list[str]:
    """Decode espeak_VOICE.languages: (priority byte, name, NUL) pairs ending in NUL."""
    names = []
    while address and ctypes.string_at(address, 1) != b"\0":
        name = ctypes.string_at(address + 1)  # after the priority byte, up to its NUL
        names.append(name.decode("utf-8", "replace").lower())
        address += len(name) + 2
    return names


def locate() -> tuple[str, str] | None:
    """Paths of libespeak-ng and espeak-ng-data from espeakng-loader, if installed."""
    try:
        import espeakng_loader
        library, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except (ImportError, RuntimeError):
        return None
    return (library, data) if Path(library).exists() else None


def main() -> int:
    request = json.loads(sys.stdin.read())
    paths = locate()
    if paths is None:
        print(json.dumps({"error": "missing"}), flush=True)
        return 1
    synth = Synthesizer(*paths)
    if request["command"] == "voices":
        reply = {"rate_hz": synth.rate_hz, "voices": synth.voices(), "data_path": paths[1]}
        print(json.dumps(reply), flush=True)
        return 0
    status = synth.speak(request["voice"], request["parameters"], request["text"],
                         request["ssml"])
    reply = {"status": status, "rate_hz": synth.rate_hz, "phones": synth.phones,
             "words": synth.words}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(bytes(synth.samples))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
