"""How the wizard talks to a person: in the terminal, through rich. Unattended (`--auto`)
every question takes its default answer, said aloud so a log reads like a session.

Another front end (the mirror window's overlay) offers the same methods.
"""

import sys
from contextlib import contextmanager

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

LEVEL_FLOOR_DBFS = -60.0  # the level bar's empty end


class TerminalUI:
    def __init__(self, auto: bool = False, stream=None):
        # with --json the wizard's words go to stderr and stdout holds the summary alone
        self.console = Console(file=stream or sys.stdout, highlight=False)
        self.auto = auto

    def title(self, title: str, intro: str) -> None:
        self.console.print(Panel(Text(intro), title=Text(title, style="bold")))

    def heading(self, number: int, count: int, title: str) -> None:
        self.console.print(Rule(Text(f"step {number} of {count}: {title}", style="bold")))

    def say(self, text: str) -> None:
        self.console.print(Text(text))

    def result(self, text: str, ok: bool = True) -> None:
        self.console.print(Text(("✓ " if ok else "✗ ") + text,
                                style="green" if ok else "yellow"))

    def choose(self, options: list[tuple[str, str]], default: str) -> str:
        """One of the options' keys; Enter (or --auto) takes the default."""
        labels = "  ".join(f"[{'Enter' if key == default else key}] {label}"
                           for key, label in options)
        if self.auto:
            self.console.print(Text(f"{labels}  -> {dict(options)[default]} (auto)",
                                    style="dim"))
            return default
        keys = {key for key, _ in options}
        while True:
            answer = self._input(labels + "  ").strip().lower()
            if not answer:
                return default
            if answer[:1] in keys:
                return answer[:1]

    def ask_text(self, question: str, default: str) -> str:
        if self.auto:
            self.console.print(Text(f"{question}: {default} (auto)", style="dim"))
            return default
        return self._input(f"{question} [{default}]: ").strip() or default

    def prompt(self, text: str) -> None:
        """A sentence to read, or an instruction to act on now: stands out."""
        self.console.print(Panel(Text(text, style="bold"), expand=False))

    @contextmanager
    def level_meter(self, label: str):
        """A live input level bar while recording; yields `update(level_dbfs, seconds)`."""
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
                "{task.fields[level]}"), TimeElapsedColumn(), console=self.console,
                      transient=True) as progress:
            task = progress.add_task(label, total=-LEVEL_FLOOR_DBFS, level="")

            def update(level_dbfs: float, seconds: float) -> None:
                shown = max(level_dbfs, LEVEL_FLOOR_DBFS) - LEVEL_FLOOR_DBFS
                progress.update(task, completed=shown, level=f"{level_dbfs:6.1f} dBFS")

            yield update

    @contextmanager
    def progress(self, label: str, total: int):
        """A progress bar; yields `advance(done)` taking how many of `total` are done."""
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      console=self.console, transient=True) as progress:
            task = progress.add_task(label, total=total)
            yield lambda done: progress.update(task, completed=done)

    def summary(self, rows: list[tuple[str, str, str]], closing: str) -> None:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for title, status, text in rows:
            table.add_row(Text(title, style="bold"), Text(status), Text(text))
        self.console.print(Rule(Text("summary", style="bold")))
        self.console.print(table)
        self.console.print(Text(closing))

    def _input(self, prompt: str) -> str:
        try:
            return self.console.input(Text(prompt, style="cyan"))
        except EOFError:  # no one at the keyboard: the defaults carry on
            return ""
