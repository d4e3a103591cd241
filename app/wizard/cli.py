"""The bare `liveface calibrate`: the wizard, and its options.

    liveface calibrate                                # guided, in the terminal
    liveface calibrate --profile anna                 # keep several people apart
    liveface calibrate --auto --takes DIR --json      # unattended: the takes in DIR play
                                                      # through a virtual microphone

The options have their own names in the namespace (`wizard_*`), so they never mix with
those of `calibrate mic|voice|eyes|avatar`.
"""

import argparse
import json
import sys
from pathlib import Path


def add_wizard_arguments(calibrate: argparse.ArgumentParser) -> None:
    wizard = calibrate.add_argument_group(
        "the wizard (no PART)", "set everything up step by step: microphone, voice, eye "
                                "camera (when there is one), avatar")
    wizard.add_argument("--profile", dest="wizard_profile", metavar="NAME", default=None,
                        help="the profile to save into (default: 'default')")
    wizard.add_argument("--auto", dest="wizard_auto", action="store_true",
                        help="unattended: every question takes its default answer")
    wizard.add_argument("--takes", dest="wizard_takes", metavar="DIR", type=Path,
                        help="takes to use for the voice (audio files, each with a .txt of "
                             "its words); with --auto they play through a PulseAudio "
                             "virtual microphone as if read aloud")
    wizard.add_argument("--device", dest="wizard_device", metavar="NAME",
                        help="the microphone (default: the configured one, else the system's)")
    wizard.add_argument("--language", dest="wizard_language", metavar="L",
                        help="the language of the sentences to read (default en; see "
                             "calibration/prompts/)")
    wizard.add_argument("--eye-camera", dest="wizard_eye_camera", metavar="CAMERA",
                        help="an eye camera index, a recording, or `synthetic`")
    wizard.add_argument("--avatar", dest="wizard_avatar", metavar="FILE", type=Path,
                        help="the avatar to offer (default: the configured one)")
    wizard.add_argument("--steps", dest="wizard_fit_steps", metavar="N", type=int,
                        help="voice fitting steps (default: the tested recipe)")
    wizard.add_argument("--plan", dest="wizard_plan", metavar="TOML", type=Path,
                        help="the wizard's steps and texts (default calibration/wizard.toml)")
    wizard.add_argument("--no-save", dest="wizard_no_save", action="store_true",
                        help="measure only; save nothing")
    wizard.add_argument("--json", dest="wizard_json", action="store_true",
                        help="print the summary as JSON (the wizard's words go to stderr)")


def run_wizard_command(args: argparse.Namespace, config) -> None:
    from app.profiles import DEFAULT_PROFILE, profile_folder
    from app.wizard.run import run_wizard
    from app.wizard.session import WizardOptions
    from app.wizard.ui import TerminalUI

    name = args.wizard_profile or DEFAULT_PROFILE
    profile_folder(name)  # a bad name is refused before anything is asked
    options = WizardOptions(
        profile=name, device=args.wizard_device, language=args.wizard_language,
        takes=args.wizard_takes, auto=args.wizard_auto, eye_camera=args.wizard_eye_camera,
        avatar=args.wizard_avatar, fit_steps=args.wizard_fit_steps,
        save=not args.wizard_no_save, config_path=args.config, plan_path=args.wizard_plan)
    ui = TerminalUI(auto=args.wizard_auto, stream=sys.stderr if args.wizard_json else None)
    summary = run_wizard(options, config, ui)
    if args.wizard_json:
        print(json.dumps(summary, indent=2))


def add_mirror_wizard_arguments(mirror: argparse.ArgumentParser, where: str = "window"
                                ) -> None:
    """`liveface mirror --calibrate` (the wizard in the window's overlay) and `liveface
    run --calibrate` (on a panel in the headset, `where="headset"`); the microphone, eye
    camera, avatar and profile flags are the live command's own (--profile NAME: the profile
    the wizard saves into)."""
    shown_in = {"window": "in the overlay",
                "headset": "on a panel in the scene, answered by the controller's select "
                           "(next choice: menu or B) or by a word spoken"}[where]
    wizard = mirror.add_argument_group(f"the setup wizard in the {where} (--calibrate)")
    wizard.add_argument("--calibrate", action="store_true",
                        help=f"run the setup wizard (as `liveface calibrate`) {shown_in}, "
                             "saving into --profile NAME (default: 'default')")
    wizard.add_argument("--auto", dest="wizard_auto", action="store_true",
                        help="unattended: every question takes its default answer, and the "
                             f"{'window closes' if where == 'window' else 'run ends'} at the end")
    wizard.add_argument("--takes", dest="wizard_takes", type=Path, metavar="DIR",
                        help="takes for the voice step (with --auto: played through a "
                             "PulseAudio virtual microphone)")
    wizard.add_argument("--language", dest="wizard_language", metavar="L",
                        help="the language of the sentences to read (default en)")
    wizard.add_argument("--plan", dest="wizard_plan", type=Path, metavar="TOML",
                        help="the wizard's steps and texts (default calibration/wizard.toml)")


def mirror_wizard_options(args: argparse.Namespace):
    """The wizard's options for `liveface mirror|run --calibrate`, None without it."""
    if not args.calibrate:
        return None
    from app.profiles import DEFAULT_PROFILE, profile_folder
    from app.wizard.session import WizardOptions

    name = args.profile or DEFAULT_PROFILE
    profile_folder(name)
    return WizardOptions(profile=name, device=args.device, language=args.wizard_language,
                         takes=args.wizard_takes, auto=args.wizard_auto,
                         eye_camera=args.eye_camera, avatar=args.avatar,
                         config_path=args.config, plan_path=args.wizard_plan)
