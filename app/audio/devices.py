"""Input devices as PortAudio (through sounddevice) sees them, and choosing one by name."""

from dataclasses import dataclass

import sounddevice as sd

from app.errors import LivefaceError


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    host_api: str
    channels: int
    default_rate_hz: int


def list_input_devices() -> list[InputDevice]:
    """Every device that can record, in PortAudio's order."""
    devices = []
    for info in sd.query_devices():
        if info["max_input_channels"] > 0:
            host_api = sd.query_hostapis(info["hostapi"])["name"]
            devices.append(InputDevice(int(info["index"]), str(info["name"]), str(host_api),
                                       int(info["max_input_channels"]),
                                       round(info["default_samplerate"])))
    return devices


class NoInputDevice(LivefaceError):
    """The system has no audio input at all (as opposed to none matching a name)."""


def find_input_device(name: str | int | None = None) -> InputDevice:
    """The device with this index, exact name or (case-insensitive) partial name; the
    system default when `name` is None. A clear error lists the choices otherwise."""
    devices = list_input_devices()
    if not devices:
        raise NoInputDevice("no audio input device found; plug in a microphone, or use "
                            "--audio FILE to play a file as if it were the microphone.")
    if name is None:
        default = sd.default.device[0]
        if default is None or default < 0:
            return devices[0]
        return next((d for d in devices if d.index == default), devices[0])
    if isinstance(name, int) or str(name).isdigit():
        found = [d for d in devices if d.index == int(name)]
    else:
        found = [d for d in devices if d.name == name] or \
                [d for d in devices if str(name).lower() in d.name.lower()]
    if len(found) == 1 or (found and found[0].name == name):
        return found[0]
    what = "matches several input devices" if found else "matches no input device"
    raise LivefaceError(f"'{name}' {what}; choose one of: {describe(found or devices)}.")


def describe(devices: list[InputDevice]) -> str:
    return "; ".join(f"[{d.index}] {d.name} ({d.host_api}, {d.default_rate_hz} Hz)"
                     for d in devices)


def rescan_devices() -> None:
    """Make PortAudio list devices afresh (after a device or sound server appeared).

    PortAudio fixes its device list when it starts; the only way to see new devices is to
    restart it, which closes every open stream of this process. Call it only with no stream
    open.
    """
    sd._terminate()
    sd._initialize()
