"""The wizard's plan: its steps in order and everything it says, read from
`calibration/wizard.toml`, and the sentences the voice step asks a person to read, from
`calibration/prompts/<language>.txt` (one a line, `#` starts a comment).

The code knows how to run each kind of step (`id`); which steps run, in what order, and
every text shown are data.
"""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from app.errors import LivefaceError
from app.resources import resource_dir

STEP_KINDS = ("mic", "voice", "eyes", "avatar")
CONDITIONS = ("eye_camera",)  # `when`: the step runs only if this is present or given
PLAN_TEXTS = ("title", "intro", "start", "skip", "next", "redo", "summary", "summary_unsaved")
STEP_FIELDS = ("id", "title", "explain", "when")


@dataclass(frozen=True)
class StepPlan:
    id: str  # which kind of step: one of STEP_KINDS
    title: str
    explain: str
    when: str | None = None  # one of CONDITIONS, or None: always
    values: dict = field(default_factory=dict)  # its texts and settings (result, quiet_s, ...)

    def text(self, key: str, **fields) -> str:
        """One of the step's texts with `{name}` fields filled in (its own settings, such
        as `quiet_s`, are fields too)."""
        return _fill(self.values[key], {**self.values, **fields}, f"step {self.id}'s {key}")

    def explanation(self) -> str:
        return _fill(self.explain, self.values, f"step {self.id}'s explain")


@dataclass(frozen=True)
class WizardPlan:
    steps: tuple[StepPlan, ...]
    texts: dict  # PLAN_TEXTS
    path: Path

    def text(self, key: str, **fields) -> str:
        return _fill(self.texts[key], fields, key)


def default_plan_path() -> Path:
    return resource_dir("calibration") / "wizard.toml"


def load_plan(path: Path | None = None) -> WizardPlan:
    """The wizard's steps and texts; a clear error names what is wrong in the file."""
    path = Path(path) if path is not None else default_plan_path()
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise LivefaceError(f"cannot read the wizard's plan {path}: {err}.") from None
    missing = [key for key in PLAN_TEXTS if not isinstance(values.get(key), str)]
    if missing:
        raise LivefaceError(f"{path}: the texts {', '.join(missing)} are missing.")
    tables = values.get("steps")
    if not isinstance(tables, list) or not tables:
        raise LivefaceError(f"{path}: no [[steps]]; list at least one of {', '.join(STEP_KINDS)}.")
    steps = tuple(_step(table, path) for table in tables)
    return WizardPlan(steps, {key: _clean(values[key]) for key in PLAN_TEXTS}, path)


def _step(table: dict, path: Path) -> StepPlan:
    kind = table.get("id")
    if kind not in STEP_KINDS:
        raise LivefaceError(f"{path}: a step's id is {kind!r}; use one of "
                            f"{', '.join(STEP_KINDS)}.")
    if not isinstance(table.get("title"), str) or not isinstance(table.get("explain"), str):
        raise LivefaceError(f"{path}: step {kind} needs a title and an explain text.")
    when = table.get("when")
    if when is not None and when not in CONDITIONS:
        raise LivefaceError(f"{path}: step {kind}'s when = {when!r}; use one of "
                            f"{', '.join(CONDITIONS)} or leave it out.")
    values = {k: _clean(v) if isinstance(v, str) else v
              for k, v in table.items() if k not in STEP_FIELDS}
    return StepPlan(kind, table["title"], _clean(table["explain"]), when, values)


def _clean(text: str) -> str:
    return text.strip()


def _fill(template: str, fields: dict, what: str) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as err:
        raise LivefaceError(f"the wizard's text {what} ({template!r}) names a field it is "
                            f"not given: {err}.") from None


def prompts_path(language: str) -> Path:
    return resource_dir("calibration") / "prompts" / f"{language}.txt"


def load_prompts(language: str) -> list[str]:
    """The sentences to read in `language`, in order."""
    path = prompts_path(language)
    if not path.is_file():
        have = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise LivefaceError(f"no sentences to read in {language!r}; there are: "
                            f"{', '.join(have)} (calibration/prompts/).")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
