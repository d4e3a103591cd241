"""The wizard as a panel that another thread draws: the mirror window's overlay
(`overlay_ui.py`) and the headset's panel in the scene (`app/xr/panel.py`) show the same
state, answered by that front end's own input.

The wizard runs on its own thread (`WizardThread`) and talks to `PanelUI` as it talks to
the terminal; the drawing thread takes a copy of its state (`snapshot`) each frame, and an
answer (a button, the controller's select, a spoken word) goes to the question the wizard
waits on (`answer`). Unattended (`--auto`) the front end closes once the summary has been
shown.
"""

import queue
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from app.wizard.ui import LEVEL_FLOOR_DBFS

SHOWN_LINES = 8
SUMMARY_HOLD_S = 1.0  # unattended: how long the summary stays before the front end closes
SPOKEN_THRESHOLD_DBFS = -40.0  # a word said to answer, heard over a quiet room
SPOKEN_GRACE_S = 1.0  # after a question appears: the end of a sentence read is no answer
SPOKEN_MIN_S = 0.25  # a word, not a click
SPOKEN_PAUSE_S = 0.5  # then quiet: the answer is given


@dataclass(frozen=True)
class PanelState:
    """What the panel shows at one moment."""

    heading: str = ""
    lines: tuple[str, ...] = ()
    prompt: str = ""  # a sentence to read or an instruction to act on now
    choices: tuple[tuple[str, str], ...] = ()  # (key, label) of the question waiting
    highlighted: int = 0  # the choice the controller's select (or a spoken word) takes
    meter: tuple[str, float, str] | None = None  # (label, fraction 0..1, figure)
    version: int = 0  # grows with every change: redraw only when it moved


class PanelUI:
    def __init__(self, auto: bool = False):
        self.auto = auto
        self._lock = threading.Lock()
        self._heading = ""
        self._lines: deque[str] = deque(maxlen=SHOWN_LINES)
        self._prompt = ""
        self._choices: list[tuple[str, str]] = []
        self._highlighted = 0
        self._meter: tuple[str, float, str] | None = None
        self._version = 0
        self._answers: queue.Queue[str] = queue.Queue(maxsize=1)
        self.finished = threading.Event()

    # -- what the wizard calls (its thread) -----------------------------------------------
    def title(self, title: str, intro: str) -> None:
        with self._lock:
            self._heading = title
            self._lines.append(intro)
            self._version += 1

    def heading(self, number: int, count: int, title: str) -> None:
        with self._lock:
            self._heading, self._prompt = f"step {number} of {count}: {title}", ""
            self._lines.clear()
            self._version += 1

    def say(self, text: str) -> None:
        with self._lock:
            self._lines.append(text)
            self._version += 1

    def result(self, text: str, ok: bool = True) -> None:
        self.say(("[ok] " if ok else "[!] ") + text)

    def prompt(self, text: str) -> None:
        with self._lock:
            self._prompt = text
            self._version += 1

    def choose(self, options: list[tuple[str, str]], default: str) -> str:
        if self.auto:
            self.say(f"-> {dict(options)[default]} (auto)")
            return default
        with self._lock:
            self._choices = list(options)
            self._highlighted = [key for key, _ in options].index(default)
            self._version += 1
        try:
            return self._answers.get()
        finally:
            with self._lock:
                self._choices = []
                self._version += 1

    def ask_text(self, question: str, default: str) -> str:
        self.say(f"{question}: {default}")  # a panel offers what --avatar gave
        return default

    @contextmanager
    def level_meter(self, label: str):
        def update(level_dbfs: float, seconds: float) -> None:
            fraction = max(0.0, min(1.0, 1.0 - level_dbfs / LEVEL_FLOOR_DBFS))
            self._set_meter((label, fraction, f"{level_dbfs:.0f} dBFS"))

        try:
            yield update
        finally:
            self._set_meter(None)

    @contextmanager
    def progress(self, label: str, total: int):
        def advance(done: int) -> None:
            self._set_meter((label, done / max(total, 1), f"{done}/{total}"))

        try:
            yield advance
        finally:
            self._set_meter(None)

    def summary(self, rows: list[tuple[str, str, str]], closing: str) -> None:
        with self._lock:
            self._heading, self._prompt = "summary", ""
            self._lines = deque([f"{title}: {status}. {text}" for title, status, text in rows]
                                + [closing], maxlen=SHOWN_LINES)
            self._version += 1

    # -- what the front end calls (its drawing thread) -------------------------------------------
    def snapshot(self) -> PanelState:
        with self._lock:
            return PanelState(self._heading, tuple(self._lines), self._prompt,
                              tuple(self._choices), self._highlighted, self._meter,
                              self._version)

    def answer(self, key: str) -> None:
        """A choice's key, as the person picked it; ignored while nothing is asked."""
        with self._lock:
            if key not in (k for k, _ in self._choices):
                return
        try:
            self._answers.put_nowait(key)
        except queue.Full:
            pass  # a second answer before the wizard took the first

    def answer_highlighted(self) -> None:
        with self._lock:
            choices, index = list(self._choices), self._highlighted
        if choices:
            self.answer(choices[index][0])

    def highlight_next(self) -> None:
        """Move the highlight to the next choice (round)."""
        with self._lock:
            if self._choices:
                self._highlighted = (self._highlighted + 1) % len(self._choices)
                self._version += 1

    def _set_meter(self, meter) -> None:
        with self._lock:
            self._meter = meter
            self._version += 1


@dataclass
class SpokenAnswer:
    """Answering by voice, where there are no keys (the headset): a short word spoken
    after the question appeared, then a pause, takes the highlighted choice. Fed the input
    level each frame; time is given, not read."""

    threshold_dbfs: float = SPOKEN_THRESHOLD_DBFS
    asked_at_s: float | None = None  # when the question now waiting appeared
    speech_s: float = 0.0  # speech heard since then
    quiet_since_s: float | None = None
    last_s: float | None = None

    def feed(self, t_s: float, level_dbfs: float, asking: bool) -> bool:
        """True when the person has answered the question now waiting."""
        step_s = 0.0 if self.last_s is None else max(0.0, t_s - self.last_s)
        self.last_s = t_s
        if not asking:
            self.asked_at_s = None
            return False
        if self.asked_at_s is None:  # a new question: what was said before does not count
            self.asked_at_s, self.speech_s, self.quiet_since_s = t_s, 0.0, None
        if t_s - self.asked_at_s < SPOKEN_GRACE_S:
            return False
        if level_dbfs >= self.threshold_dbfs:
            self.speech_s += step_s
            self.quiet_since_s = None
            return False
        if self.quiet_since_s is None:
            self.quiet_since_s = t_s
        if self.speech_s >= SPOKEN_MIN_S and t_s - self.quiet_since_s >= SPOKEN_PAUSE_S:
            self.asked_at_s = None
            return True
        return False


class WizardThread(threading.Thread):
    """Runs the wizard beside a front end; `outcome()` is its summary (or its error)."""

    def __init__(self, options, ui: PanelUI, close):
        super().__init__(name="wizard", daemon=True)
        self.options, self.ui, self.close = options, ui, close
        self._summary: dict | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        import time

        from app.config import load_config
        from app.wizard.run import run_wizard

        try:
            self._summary = run_wizard(self.options, load_config(self.options.config_path),
                                       self.ui)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread by outcome()
            self._error = err
        self.ui.finished.set()
        if self.options.auto or self._error is not None:
            time.sleep(SUMMARY_HOLD_S)
            self.close()

    def outcome(self) -> dict | None:
        """The summary; the wizard's error raised here, on the caller's thread."""
        if self._error is not None:
            raise self._error
        return self._summary
