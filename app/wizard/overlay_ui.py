"""The wizard in the mirror window (`liveface mirror --calibrate`): the same steps, shown
in a panel of the imgui overlay instead of the terminal.

The wizard runs on its own thread and talks to `OverlayUI` as it talks to the terminal;
the render thread draws the panel from a copy of its state each frame (`draw`), and a
button pressed there answers the question the wizard waits on. Unattended (`--auto`) the
window closes once the summary has been shown.
"""

import queue
import threading
from collections import deque
from contextlib import contextmanager

from app.wizard.ui import LEVEL_FLOOR_DBFS

PANEL_WIDTH_PX = 560
SHOWN_LINES = 8
PROMPT_COLOUR = (1.0, 0.85, 0.3, 1.0)  # the sentence to read stands out
SUMMARY_HOLD_S = 1.0  # unattended: how long the summary stays before the window closes


class OverlayUI:
    def __init__(self, auto: bool = False):
        self.auto = auto
        self._lock = threading.Lock()
        self._heading = ""
        self._lines: deque[str] = deque(maxlen=SHOWN_LINES)
        self._prompt = ""
        self._choices: list[tuple[str, str]] = []
        self._meter: tuple[str, float, str] | None = None
        self._answers: queue.Queue[str] = queue.Queue(maxsize=1)
        self.finished = threading.Event()

    # -- what the wizard calls (its thread) -----------------------------------------------
    def title(self, title: str, intro: str) -> None:
        with self._lock:
            self._heading = title
            self._lines.append(intro)

    def heading(self, number: int, count: int, title: str) -> None:
        with self._lock:
            self._heading, self._prompt = f"step {number} of {count}: {title}", ""
            self._lines.clear()

    def say(self, text: str) -> None:
        with self._lock:
            self._lines.append(text)

    def result(self, text: str, ok: bool = True) -> None:
        self.say(("[ok] " if ok else "[!] ") + text)

    def prompt(self, text: str) -> None:
        with self._lock:
            self._prompt = text

    def choose(self, options: list[tuple[str, str]], default: str) -> str:
        if self.auto:
            self.say(f"-> {dict(options)[default]} (auto)")
            return default
        with self._lock:
            self._choices = list(options)
        try:
            return self._answers.get()
        finally:
            with self._lock:
                self._choices = []

    def ask_text(self, question: str, default: str) -> str:
        self.say(f"{question}: {default}")  # the mirror offers what --avatar gave
        return default

    @contextmanager
    def level_meter(self, label: str):
        def update(level_dbfs: float, seconds: float) -> None:
            fraction = max(0.0, min(1.0, 1.0 - level_dbfs / LEVEL_FLOOR_DBFS))
            with self._lock:
                self._meter = (label, fraction, f"{level_dbfs:.0f} dBFS")

        try:
            yield update
        finally:
            with self._lock:
                self._meter = None

    @contextmanager
    def progress(self, label: str, total: int):
        def advance(done: int) -> None:
            with self._lock:
                self._meter = (label, done / max(total, 1), f"{done}/{total}")

        try:
            yield advance
        finally:
            with self._lock:
                self._meter = None

    def summary(self, rows: list[tuple[str, str, str]], closing: str) -> None:
        with self._lock:
            self._heading, self._prompt = "summary", ""
            self._lines = deque([f"{title}: {status}. {text}" for title, status, text in rows]
                                + [closing], maxlen=SHOWN_LINES)

    # -- what the overlay calls (the render thread) ---------------------------------------------
    def draw(self, imgui) -> None:
        with self._lock:
            heading, lines, prompt = self._heading, list(self._lines), self._prompt
            choices, meter = list(self._choices), self._meter
        display = imgui.get_io().display_size
        imgui.set_next_window_pos((display.x * 0.5, display.y - 10), imgui.Cond_.always,
                                  (0.5, 1.0))
        imgui.set_next_window_size((PANEL_WIDTH_PX, 0))
        imgui.begin("setup", None, imgui.WindowFlags_.no_saved_settings
                    | imgui.WindowFlags_.no_collapse)
        imgui.text(heading)
        imgui.separator()
        for line in lines:
            imgui.text_wrapped(line)
        if prompt:
            imgui.separator()
            imgui.push_style_color(imgui.Col_.text, PROMPT_COLOUR)
            imgui.text_wrapped(prompt)
            imgui.pop_style_color()
        if meter is not None:
            label, fraction, text = meter
            imgui.progress_bar(fraction, (-1, 0), f"{label} {text}")
        for key, label in choices:
            if imgui.button(label):
                self._answer(key)
            imgui.same_line()
        imgui.new_line()
        imgui.end()

    def _answer(self, key: str) -> None:
        try:
            self._answers.put_nowait(key)
        except queue.Full:
            pass  # a second click before the wizard took the first


class WizardThread(threading.Thread):
    """Runs the wizard beside the mirror; `outcome()` is its summary (or its error)."""

    def __init__(self, options, ui: OverlayUI, close_window):
        super().__init__(name="wizard", daemon=True)
        self.options, self.ui, self.close_window = options, ui, close_window
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
            self.close_window()

    def outcome(self) -> dict | None:
        """The summary; the wizard's error raised here, on the caller's thread."""
        if self._error is not None:
            raise self._error
        return self._summary
