"""The wizard's sequence: for each step of the plan, explain it, run it (or skip it), show
the result, offer to do it again; save what it learnt in the profile after each step, so
that stopping half-way keeps the steps done; a summary at the end.

    summary = run_wizard(WizardOptions(profile="anna"), config, TerminalUI())

Each save writes the whole profile anew (`app.profiles.save_profile`: a new version, then
one atomic rename), so the previous profile stays intact until the new one is complete.
"""

from contextlib import ExitStack

from app.config import save_user_setting
from app.errors import LivefaceError
from app.live.clock import MonotonicClock
from app.profiles import Profile, load_profile, save_profile
from app.wizard.plan import StepPlan, WizardPlan, load_plan
from app.wizard.session import Session, StepOutcome, WizardOptions
from app.wizard.steps import applies, run_avatar, run_eyes, run_mic
from app.wizard.voice_step import run_voice

STEPS = {"mic": run_mic, "voice": run_voice, "eyes": run_eyes, "avatar": run_avatar}


def run_wizard(options: WizardOptions, config, ui, clock=None) -> dict:
    """Run the plan's steps; what it learnt, as a dict (see `_summary`)."""
    plan = load_plan(options.plan_path)
    profile = load_profile(options.profile) or Profile(options.profile)
    with ExitStack() as stack:
        session = Session(options, config, ui, clock or MonotonicClock())
        _prepare_takes(session, stack)
        steps = [step for step in plan.steps if applies(step, session)]
        ui.title(plan.text("title"), plan.text("intro", profile=profile.name))
        outcomes, saved_to = [], None
        for number, step in enumerate(steps, 1):
            ui.heading(number, len(steps), step.title)
            outcome = run_step(plan, step, session)
            outcomes.append((step, outcome))
            if outcome.profile_saved:  # read back what it saved, to save on top of it
                profile = load_profile(profile.name) or profile
                saved_to = str(profile.folder)
            if options.save and outcome.settings is not None:
                saved_to = _save(profile, outcome, options)
    closing = (plan.text("summary", profile=profile.name, folder=saved_to) if saved_to
               else plan.text("summary_unsaved"))
    ui.summary([(step.title, outcome.status, outcome.text) for step, outcome in outcomes],
               closing)
    return _summary(profile.name, saved_to, outcomes)


def run_step(plan: WizardPlan, step: StepPlan, session: Session) -> StepOutcome:
    """Explain, run, show the result; again while the person asks for it."""
    ui = session.ui
    ui.say(step.explanation())
    while True:
        if ui.choose([("y", plan.text("start")), ("s", plan.text("skip"))], "y") == "s":
            return StepOutcome("skipped", "")
        try:
            outcome = STEPS[step.id](step, session)
        except LivefaceError as err:  # no microphone, an unreadable avatar: say, go on
            outcome = StepOutcome("failed", str(err))
        if outcome.text:
            ui.result(outcome.text, ok=outcome.status == "done")
        if ui.choose([("n", plan.text("next")), ("r", plan.text("redo"))], "n") == "n":
            return outcome


def _prepare_takes(session: Session, stack: ExitStack) -> None:
    """With --takes: read them; unattended, they play through a virtual microphone,
    else they are used as recorded."""
    if session.options.takes is None:
        return
    from app.voice.takes import read_takes

    session.takes = read_takes(session.options.takes)
    if session.options.auto:
        from app.wizard.virtual_mic import VirtualMicrophone

        session.virtual_mic = stack.enter_context(VirtualMicrophone())


def _save(profile: Profile, outcome: StepOutcome, options: WizardOptions) -> str:
    profile.settings[outcome.key] = outcome.settings
    for section, key, value in outcome.config:
        save_user_setting(section, key, value, options.config_path)
    return str(save_profile(profile))


def _summary(name: str, saved_to: str | None, outcomes: list) -> dict:
    return {"profile": name, "saved_to": saved_to,
            "steps": [{"id": step.id, "status": outcome.status, "result": outcome.text,
                       **({"figures": outcome.figures} if outcome.figures else {})}
                      for step, outcome in outcomes]}
