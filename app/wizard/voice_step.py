"""The wizard's voice step: the person reads sentences one at a time, each take is
checked as it comes in (and asked again, with the reason, when it is refused), then the
model is fitted to the voice and the fit kept only if it is better on sentences held out.

    sentences   calibration/prompts/<language>.txt; unattended with --takes, the takes'
                own words, each played through the virtual microphone when it is asked for
    checks      app.voice.takes.check_take (level, clipping, that it says the sentence)
    enrolment   the usable takes go to `liveface calibrate voice`'s own code
                (app.voice.enrol_cli.run_voice): every 4th held out to judge the fit,
                the fit kept and saved in the profile only if it is better there
"""

from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from app.audio.contract import SAMPLE_RATE_HZ
from app.voice.enrol_cli import HOLD_OUT_EVERY, MIN_ENROLMENT_TAKES
from app.voice.takes import Take, TakeRefused, check_take
from app.wizard.plan import StepPlan, load_prompts
from app.wizard.record import PauseDetector, drain, record_take, speech_threshold_dbfs
from app.wizard.session import Session, StepOutcome

MAX_TRIES = 3  # takes of one sentence before the person is asked whether to go on
PLAYED_TAIL_S = 1.5  # unattended: how long past a played take's end to keep listening


@dataclass(frozen=True)
class Sentence:
    text: str
    played: tuple = ()  # unattended: the takes to play for it, one per try


def sentences_to_read(session: Session, language: str) -> list[Sentence]:
    """The prompt file's sentences; with prepared takes, their words, in the takes' order,
    the takes of one sentence being its tries."""
    if not session.takes:
        return [Sentence(text) for text in load_prompts(language)]
    tries: dict[str, list[Take]] = {}
    for take in session.takes:
        tries.setdefault(" ".join(take.text.split()), []).append(take)
    return [Sentence(text, tuple(takes)) for text, takes in tries.items()]


def run_voice(step: StepPlan, session: Session) -> StepOutcome:
    if session.options.auto and not session.takes:  # nobody there to read the sentences
        return StepOutcome("skipped", step.text("no_takes"))
    language = session.options.language or step.values.get("language", "en")
    sentences = sentences_to_read(session, language)
    checked, refused = [], []
    as_recorded = bool(session.takes) and session.virtual_mic is None  # no microphone needed
    with nullcontext() if as_recorded else session.open_microphone() as source:
        for number, sentence in enumerate(sentences, 1):
            take, reasons = _read_sentence(step, session, source, sentence, number,
                                           len(sentences), language)
            refused += reasons
            if take is not None:
                checked.append(take)
    held_out = checked[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY]
    enrolment = [c for i, c in enumerate(checked) if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
    counts = {"sentences": len(sentences), "usable": len(checked), "refused": refused}
    if len(enrolment) < MIN_ENROLMENT_TAKES or not held_out:
        return StepOutcome("failed", step.text("too_few", usable=len(checked),
                                               needed=MIN_ENROLMENT_TAKES + 1), figures=counts)
    return _enrol(step, session, enrolment, held_out, language, counts)


def _read_sentence(step: StepPlan, session: Session, source, sentence: Sentence,
                   number: int, count: int, language: str):
    """The sentence's first take that passes its checks (None if the person moved on),
    and the reasons the others were refused."""
    reasons = []
    tries = 0
    while True:
        if sentence.played and tries >= len(sentence.played):
            return None, reasons  # unattended: no more prepared takes of it
        if not sentence.played and tries and tries % MAX_TRIES == 0 and \
                session.ui.choose([("r", step.text("try_again")), ("s", step.text("skip"))],
                                  "s") == "s":
            return None, reasons
        session.ui.prompt(f"{step.text('sentence', number=number, count=count)}\n\n"
                          f"{sentence.text}")
        audio = _record(session, source, sentence.played[tries] if sentence.played else None)
        tries += 1
        try:
            return check_take(Take(str(number), audio, sentence.text), language), reasons
        except TakeRefused as err:
            reasons.append({"sentence": number, "why": str(err)})
            session.ui.result(step.text("again", reason=str(err)), ok=False)


def _record(session: Session, source, played: Take | None):
    if played is not None and session.virtual_mic is None:
        return played.audio  # recordings the person already has
    detector = PauseDetector(speech_threshold_dbfs(session.room_dbfs))
    drain(source)
    if played is not None:  # unattended: the take plays as if the person read it now
        seconds = len(played.audio) / SAMPLE_RATE_HZ
        detector = replace(detector, no_speech_s=seconds + 0.5,
                           max_s=seconds + PLAYED_TAIL_S)
        session.virtual_mic.play(played.audio)
    with session.ui.level_meter("recording") as update:
        return record_take(source, session.clock, detector, update)


def _enrol(step: StepPlan, session: Session, enrolment: list, held_out: list,
           language: str, counts: dict) -> StepOutcome:
    """The usable takes handed to the voice enrolment (`liveface calibrate voice`'s own
    code), which fits, judges on every 4th take, and saves a kept fit in the profile."""
    import argparse
    import tempfile

    from app.audio.io import write_wav
    from app.voice.enrol_cli import run_voice as enrol_voice

    checked = sorted(enrolment + held_out, key=lambda c: int(c.take.name))
    session.ui.say(step.text("fitting", enrolment=len(enrolment), held_out=len(held_out)))
    with tempfile.TemporaryDirectory(prefix="lf-voice-") as folder:
        for c in checked:
            write_wav(Path(folder) / f"{int(c.take.name):03d}.wav", c.take.audio,
                      SAMPLE_RATE_HZ)
            (Path(folder) / f"{int(c.take.name):03d}.txt").write_text(c.take.text + "\n",
                                                                      encoding="utf-8")
        args = argparse.Namespace(takes=Path(folder), check=None, language=language,
                                  profile=session.options.profile,
                                  steps=session.options.fit_steps,
                                  no_save=not session.options.save)
        summary, _text = enrol_voice(args, session.config, lambda text: None)
    figures = {**counts, **{k: summary[k] for k in (
        "before", "after", "kept", "fit_s", "language", "enrolment_takes", "held_out_takes",
        "profile")}}
    return StepOutcome("done", describe_fit(step, summary), figures=figures,
                       profile_saved=summary["profile"] is not None)


def describe_fit(step: StepPlan, summary: dict) -> str:
    before, after = summary["before"], summary["after"]
    vowels = f"{after['vowels_closed']}/{after['vowels']}"
    return step.text("result", closed_before=before["bilabial_closed"],
                     closed_after=after["bilabial_closed"],
                     bilabials=after["bilabial_phones"], vowels_after=vowels,
                     lve_before=before["lve_mm"], lve_after=after["lve_mm"],
                     verdict=step.text("kept" if summary["kept"] else "not_kept"))
