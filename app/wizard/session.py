"""What the wizard's steps share: the person's choices (options), what earlier steps
learnt, the microphone, and what one step hands back (`StepOutcome`)."""

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from app.wizard.record import POLL_S, READ_SAMPLES

WARM_UP_S = 0.3  # a device's first buffers: often a click or a ramp


@dataclass(frozen=True)
class WizardOptions:
    profile: str = "default"
    device: str | None = None  # the microphone (else the configured one, else the system's)
    language: str | None = None  # the sentences' language (else the plan's)
    takes: Path | None = None  # prepared takes, played through a virtual microphone
    auto: bool = False  # every question takes its default answer
    eye_camera: str | None = None
    avatar: Path | None = None
    fit_steps: int | None = None  # voice adapter training steps (else the tested recipe)
    save: bool = True
    config_path: Path | None = None  # the config file the live commands read (--config)
    plan_path: Path | None = None  # the wizard's steps (else calibration/wizard.toml)


@dataclass
class StepOutcome:
    status: str  # "done", "failed" (tried, nothing learnt) or "skipped"
    text: str  # the result, as shown
    key: str | None = None  # where its settings go in the profile
    settings: dict | None = None
    profile_saved: bool = False  # the step saved the profile itself (the voice enrolment)
    config: list[tuple[str, str, str]] = field(default_factory=list)  # [section] key = value
    figures: dict = field(default_factory=dict)  # for --json


@dataclass
class Session:
    options: WizardOptions
    config: object  # app.config.Config
    ui: object  # app.wizard.ui.TerminalUI or another front end with its methods
    clock: object
    virtual_mic: object | None = None  # app.wizard.virtual_mic.VirtualMicrophone
    takes: list = field(default_factory=list)  # app.voice.takes.Take, when given
    room_dbfs: float | None = None  # the room's level, once the microphone step measured it
    microphone: str | None = None  # the device the microphone step settled on

    def microphone_query(self) -> str | int | None:
        if self.virtual_mic is not None:
            return self.virtual_mic.device
        return self.microphone or self.options.device or self.config.audio.device or None

    @contextmanager
    def open_microphone(self):
        """A started MicrophoneSource, its first buffers dropped; stopped afterwards."""
        from app.audio.capture import MicrophoneSource
        from app.audio.devices import find_input_device

        device = find_input_device(self.microphone_query())
        source = MicrophoneSource(self.clock, device.index)
        source.start()
        try:
            end_s = self.clock.now_s() + WARM_UP_S
            while self.clock.now_s() < end_s:
                if not source.read(READ_SAMPLES)[0].size:
                    self.clock.sleep_s(POLL_S)
            yield source
        finally:
            source.stop()
