"""Audible playback of the file that stands in for the microphone, best effort.

It starts together with the file source, so what you hear is what the avatar is being fed
(plus the output device's own latency). No output device, or one that refuses the
stream, is not an error: the mirror says so in one line and runs silently. The PortAudio
callback only copies from a buffer prepared before the stream starts.
"""

import sys

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ


class FilePlayback:
    def __init__(self, audio: np.ndarray):
        self.audio = np.ascontiguousarray(audio, np.float32)
        self._position = 0
        self._stream = None

    def start(self) -> bool:
        """Open the default output and start playing; False (and a notice) when there is
        no way to play."""
        try:
            import sounddevice as sd

            if sd.default.device[1] is None or sd.default.device[1] < 0:
                raise RuntimeError("no audio output device")
            self._stream = sd.OutputStream(samplerate=SAMPLE_RATE_HZ, channels=1,
                                           dtype="float32", callback=self._callback)
            self._stream.start()
        except Exception as err:  # noqa: BLE001 - any PortAudio refusal means "play silently"
            self._stream = None
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            print(f"liveface: no audible playback ({reason}); the avatar still hears the file.",
                  file=sys.stderr)
            return False
        return True

    def _callback(self, out: np.ndarray, frames: int, _time, _status) -> None:
        chunk = self.audio[self._position:self._position + frames]
        out[:len(chunk), 0] = chunk
        out[len(chunk):, 0] = 0.0
        self._position += len(chunk)

    def stop(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None
