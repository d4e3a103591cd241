"""`liveface calibrate voice`: enrol a voice from takes a person already has.

    liveface calibrate voice --takes DIR [--check DIR] [--language en] [--profile NAME]

DIR holds one audio file per take with a `.txt` of its words beside it (same stem). Each
take is checked (`app.voice.takes`); refused takes are listed with the reason and left
out. Without `--check`, every fourth usable take is held out of the fitting to judge it.
The result compares the student on the held-out takes without and with the adapter
(pooled p/b/m closures, vowels shut, silences closed, LVE) and says whether the adapter
was kept: only when it is better there (`app.voice.enrol.is_better`); a kept adapter is
saved in the profile, where the live commands, `render` and `animate` find it.
"""

import argparse
from pathlib import Path

from app.errors import LivefaceError

HOLD_OUT_EVERY = 4
MIN_ENROLMENT_TAKES = 4


def add_voice_part(parts) -> argparse.ArgumentParser:
    voice = parts.add_parser("voice", help="fit the model to your voice from recorded takes, "
                                           "keep it if it is better on takes held out")
    voice.add_argument("--takes", type=Path, required=True,
                       help="a folder of takes: audio files, each with a .txt of its words")
    voice.add_argument("--check", type=Path,
                       help="a second folder of takes to judge the fit on (default: every "
                            f"{HOLD_OUT_EVERY}th take of --takes is held out)")
    voice.add_argument("--language", default="en",
                       help="the takes' language, as the data engine names it (default en)")
    voice.add_argument("--profile", help="the profile to save into (default: 'default')")
    voice.add_argument("--steps", type=int, default=None,
                       help="adapter training steps (default: the tested recipe)")
    voice.add_argument("--no-save", action="store_true", help="measure only")
    return voice


def run_voice(args: argparse.Namespace, config, log=print) -> tuple[dict, str]:
    from dataclasses import replace

    from app.checkpoints import STUDENT_FILE, load_parts
    from app.resources import asset_path
    from app.training.adapt import AdaptSettings
    from app.voice.enrol import enrol
    from app.voice.takes import read_takes

    takes = read_takes(args.takes)
    checked, refused = _checked(takes, args.language, log)
    if args.check is not None:
        held_out, more_refused = _checked(read_takes(args.check), args.language, log)
        refused += more_refused
        enrolment = checked
    else:
        held_out = checked[HOLD_OUT_EVERY - 1::HOLD_OUT_EVERY]
        enrolment = [c for c in checked if c not in held_out]
    if len(enrolment) < MIN_ENROLMENT_TAKES or not held_out:
        raise LivefaceError(
            f"{len(checked)} usable takes ({len(refused)} refused) are too few: enrolment "
            f"needs at least {MIN_ENROLMENT_TAKES} to learn from and one to check on.")
    model_path = asset_path("models", STUDENT_FILE)
    parts = load_parts(model_path)
    settings = AdaptSettings() if args.steps is None else replace(AdaptSettings(),
                                                                  steps=args.steps)
    log(f"fitting to {len(enrolment)} takes, checking on {len(held_out)} ...")
    result = enrol(parts, [c.aligned for c in enrolment], [c.aligned for c in held_out],
                   settings)
    summary = {"takes": len(takes), "enrolment_takes": len(enrolment),
               "held_out_takes": len(held_out), "refused": refused,
               "before": result.before, "after": result.after, "kept": result.kept,
               "fit_s": result.seconds, "language": args.language}
    summary["profile"] = (None if args.no_save or not result.kept
                          else str(_save(args.profile, result, model_path, summary)))
    return summary, describe(summary)


def _checked(takes, language: str, log) -> tuple[list, list[dict]]:
    from app.voice.takes import TakeRefused, check_take

    checked, refused = [], []
    for take in takes:
        try:
            checked.append(check_take(take, language))
        except TakeRefused as err:
            log(f"refused: {err}")
            refused.append({"take": take.name, "why": str(err)})
    return checked, refused


def _save(name: str | None, result, model_path: Path, summary: dict) -> Path:
    from app.profiles import DEFAULT_PROFILE, Profile, load_profile, save_profile
    from app.voice.voice_file import adapter_bytes, model_sha256

    profile = load_profile(name) or Profile(name or DEFAULT_PROFILE)
    voice_summary = {k: summary[k] for k in ("before", "after", "language", "held_out_takes",
                                              "enrolment_takes")}
    profile.settings["voice"] = voice_summary
    profile.voice = adapter_bytes(result.fit, model_sha256(model_path), voice_summary)
    return save_profile(profile)


def describe(summary: dict) -> str:
    def line(name: str, s: dict) -> str:
        return (f"  {name:<7} p/b/m closed {s['bilabial_closed']}/{s['bilabial_phones']}"
                f" ({_pct(s['bilabial_closed'], s['bilabial_phones'])}), vowels shut "
                f"{s['vowels_closed']}/{s['vowels']} ({_pct(s['vowels_closed'], s['vowels'])})"
                f", LVE {s['lve_mm']:.2f} mm")

    before, after = summary["before"], summary["after"]
    gain = (_share(after["bilabial_closed"], after["bilabial_phones"])
            - _share(before["bilabial_closed"], before["bilabial_phones"])) * 100
    verdict = (f"kept: {gain:+.0f} points of p/b/m closures on the held-out takes"
               if summary["kept"] else "not kept: it was not better on the held-out takes")
    where = f"; saved in {summary['profile']}" if summary["profile"] else ""
    return "\n".join([
        f"voice enrolment: {summary['enrolment_takes']} takes fitted in {summary['fit_s']} s, "
        f"{summary['held_out_takes']} held out, {len(summary['refused'])} refused",
        line("without", before), line("with", after), verdict + where])


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(part: int, whole: int) -> str:
    return f"{100 * _share(part, whole):.0f}%" if whole else "n/a"
