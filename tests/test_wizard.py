"""The setup wizard (`liveface calibrate` with no part): its plan read from
calibration/, skip and redo, the pause that ends a take, and the whole wizard run
unattended through a PulseAudio virtual microphone with a recorded speaker's takes
(Asterisk's English prompts, installed by CI), one of them refused and asked again."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from monado import LIVEFACE, monado, requires_monado  # noqa: F401 - the fixture
from pulse import pulse, requires_pulse  # noqa: F401 - the fixture
from xvfb import requires_xvfb, xvfb  # noqa: F401 - the fixture

from app.audio.io import read_audio, write_wav
from app.config import load_config
from app.data.recorded import CORPORA, corpus_prompts
from app.errors import LivefaceError
from app.profiles import read_profile
from app.resources import default_avatar_path, resource_dir
from app.wizard.plan import load_plan, load_prompts
from app.wizard.record import BLOCK_S, MARGIN_S, PauseDetector
from app.wizard.run import run_wizard
from app.wizard.session import WizardOptions
from app.wizard.ui import TerminalUI

REPO = Path(__file__).resolve().parents[1]
ENGLISH = CORPORA["asterisk-en"]
needs_corpus = pytest.mark.skipif(not ENGLISH.audio_dir.is_dir(),
                                  reason=f"apt-get install {ENGLISH.packages} (CI does)")
NAMES = ("agent-pass", "conf-getpin", "pbx-invalid", "conf-onlyperson", "vm-mismatch",
         "vm-reenterpassword")
AVATAR_ONLY = """
title = "Quick setup"
intro = "Only the avatar, for {profile}."
start = "start"
skip = "skip"
next = "next"
redo = "again"
summary = "saved as {profile} in {folder}"
summary_unsaved = "nothing saved"

[[steps]]
id = "avatar"
title = "Pick your look"
explain = "Choose a face."
ask = "avatar file"
result = "{name} has {targets} targets{missing}"
"""


class ScriptedUI(TerminalUI):
    """Answers the wizard's choices from a list, as a person at the keyboard would."""

    def __init__(self, answers: list[str]):
        super().__init__(stream=io.StringIO())
        self.answers, self.asked = list(answers), 0

    def choose(self, options, default):
        return self.answers.pop(0)

    def ask_text(self, question, default):
        self.asked += 1
        return default

    def text(self) -> str:
        return self.console.file.getvalue()


# -- the plan --------------------------------------------------------------------------------
def test_the_shipped_plan_and_sentences():
    plan = load_plan()
    assert [step.id for step in plan.steps] == ["mic", "voice", "eyes", "avatar"]
    assert plan.steps[2].when == "eye_camera"
    assert "2 seconds" in plan.steps[0].explanation()
    languages = sorted(p.stem for p in (resource_dir("calibration") / "prompts").glob("*.txt"))
    assert "en" in languages and len(languages) >= 3
    for language in languages:
        sentences = load_prompts(language)
        assert 8 <= len(sentences) <= 12, language
        # every sentence closes the lips (p, b, m); several rest them (a pause within it)
        assert all(set(s.lower()) & set("pbmпбм") for s in sentences), language
        assert sum("," in s or ". " in s for s in sentences) >= 3, language
    with pytest.raises(LivefaceError, match="no sentences to read in 'xx'"):
        load_prompts("xx")


def test_a_changed_plan_changes_the_steps(tmp_path):
    plan = tmp_path / "wizard.toml"
    plan.write_text(AVATAR_ONLY)
    ui = ScriptedUI(["y", "n"])
    summary = run_wizard(WizardOptions(profile="plan-test", plan_path=plan,
                                       config_path=tmp_path / "config.toml"),
                         load_config(None), ui)
    assert [step["id"] for step in summary["steps"]] == ["avatar"]
    assert summary["steps"][0]["result"] == "head.glb has 52 targets"
    shown = ui.text()
    assert "Quick setup" in shown and "step 1 of 1: Pick your look" in shown
    assert "Choose a face." in shown and "saved as plan-test" in shown
    profile = read_profile("plan-test")
    assert profile.settings["avatar"]["path"] == str(default_avatar_path().resolve())
    assert load_config(tmp_path / "config.toml").avatar.path == profile.settings["avatar"]["path"]


def test_skip_and_redo(tmp_path):
    plan = tmp_path / "wizard.toml"
    plan.write_text(AVATAR_ONLY + AVATAR_ONLY[AVATAR_ONLY.index("[[steps]]"):])
    ui = ScriptedUI(["y", "r", "y", "n", "s"])  # start, redo, start, next; skip the second
    summary = run_wizard(WizardOptions(profile="redo-test", plan_path=plan, save=False),
                         load_config(None), ui)
    assert [step["status"] for step in summary["steps"]] == ["done", "skipped"]
    assert ui.asked == 2 and not ui.answers
    assert summary["saved_to"] is None and read_profile("redo-test") is None
    assert "nothing saved" in ui.text()


@pytest.mark.parametrize("change, error", [
    (lambda t: t.replace('id = "avatar"', 'id = "teeth"'), "id is 'teeth'"),
    (lambda t: t.replace('redo = "again"\n', ""), "texts redo are missing"),
    (lambda t: t[:t.index("[[steps]]")], "no \\[\\[steps\\]\\]"),
    (lambda t: t.replace('title = "Pick', 'when = "moon"\ntitle = "Pick'), "when = 'moon'"),
])
def test_a_broken_plan_is_refused_with_what_is_wrong(tmp_path, change, error):
    plan = tmp_path / "wizard.toml"
    plan.write_text(change(AVATAR_ONLY))
    with pytest.raises(LivefaceError, match=error):
        load_plan(plan)


@pytest.mark.parametrize("language, engine", [("en", "flite"), ("it", "festival"),
                                              ("ru", "festival")])
def test_every_sentence_read_aloud_passes_the_take_checks(language, engine):
    """Each sentence, spoken by a synthetic voice, is aligned to its words: a person
    reading it as written is not refused for the sentence's sake. (espeak-ng's voice is
    too far from recorded speech for the aligner; German, Spanish and French have no
    other voice here.)"""
    from app.data.speech import get_engine
    from app.voice.takes import Take, check_take

    sentences = load_prompts(language)
    try:
        voice = get_engine(engine)
        voice.synthesize(sentences[0], language)
    except LivefaceError as err:
        pytest.skip(f"no {engine} voice for {language}: {err}")
    for number, sentence in enumerate(sentences, 1):
        audio = np.asarray(voice.synthesize(sentence, language).audio, np.float32)
        check_take(Take(str(number), audio, sentence), language)  # refused: raises


# -- a take ends after a pause -----------------------------------------------------------------
def _feed(detector: PauseDetector, levels: list[float]) -> int:
    """How many blocks it took to end the take (len + 1 if it never ended)."""
    for count, level in enumerate(levels, 1):
        if detector.feed(level):
            return count
    return len(levels) + 1


def test_a_take_ends_after_the_pause_that_follows_speech():
    blocks = lambda seconds: round(seconds / BLOCK_S)
    levels = [-70.0] * blocks(1.0) + [-20.0] * blocks(1.5) + [-70.0] * blocks(3.0)
    detector = PauseDetector(threshold_dbfs=-50.0)
    ended = _feed(detector, levels)
    assert ended == blocks(1.0 + 1.5 + 0.9)  # 0.9 s of quiet after the speech
    span = detector.speech_span(ended * 320)
    margin = round(MARGIN_S * 16000)
    assert span.start == blocks(1.0) * 320 - margin
    assert span.stop == blocks(2.5) * 320 + margin
    click = [-70.0] * 10 + [-10.0] * 2 + [-70.0] * blocks(10.0)  # not speech: keeps listening
    quiet = PauseDetector(threshold_dbfs=-50.0, no_speech_s=4.0)
    assert _feed(quiet, click) == blocks(4.0)
    assert quiet.speech_span(1000) == slice(0, 1000)  # no speech: all of it, to be refused


# -- the whole wizard, unattended ----------------------------------------------------------------
@needs_corpus
@requires_pulse
@pytest.mark.pulse
def test_the_wizard_runs_unattended_through_the_virtual_microphone(pulse, tmp_path):  # noqa: F811
    """Six sentences; the first take of the second is silent, refused and asked again,
    and its second take is used. The profile holds the microphone and the avatar (and the
    voice when the fit was kept)."""
    words = {p.name: p.text for p in corpus_prompts(ENGLISH) if p.name in NAMES}
    takes = tmp_path / "takes"
    takes.mkdir()
    for number, name in enumerate(NAMES, 1):
        audio = read_audio(ENGLISH.audio_dir / f"{name}{ENGLISH.suffix}")
        tries = [audio * 1e-4, audio] if number == 2 else [audio]
        for attempt, take in enumerate(tries, 1):
            write_wav(takes / f"{number:02d}-{attempt}.wav", take, 16000)
            (takes / f"{number:02d}-{attempt}.txt").write_text(words[name])
    config = tmp_path / "config.toml"
    config.write_text("# mine\n")
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "calibrate", "--auto",
         "--takes", str(takes), "--steps", "6", "--profile", "wizard-test", "--json"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    shown = done.stderr
    print(f"\nthe wizard, unattended:\n{shown}")
    steps = {step["id"]: step for step in summary["steps"]}
    assert list(steps) == ["mic", "voice", "avatar"]  # no eye camera here
    assert all(step["status"] == "done" for step in steps.values())
    mic = steps["mic"]["figures"]
    assert mic["device"] == "pulse" and -30 < mic["voice_dbfs"] < 0 and mic["verdict"] == "good"
    assert "your room is quiet; your voice peaks at" in steps["mic"]["result"]
    voice = steps["voice"]["figures"]
    assert voice["sentences"] == 6 and voice["usable"] == 6
    assert [r["sentence"] for r in voice["refused"]] == [2]
    assert "silent" in voice["refused"][0]["why"]
    assert shown.count("please enter the conference pin number") == 2  # asked again
    assert "Please read it again" in shown
    assert voice["enrolment_takes"] == 5 and voice["held_out_takes"] == 1
    assert "p/b/m closed" in steps["voice"]["result"]
    profile = read_profile("wizard-test")
    assert summary["saved_to"] == str(profile.folder)
    assert profile.settings["microphone"]["device"] == "pulse"
    assert profile.settings["avatar"]["path"] == str(default_avatar_path().resolve())
    assert (profile.voice is not None) == voice["kept"]
    if voice["kept"]:
        assert profile.settings["voice"]["after"] == voice["after"]
    saved = config.read_text()  # the avatar is the default now; the virtual mic is not
    assert saved.startswith("# mine") and "[avatar]" in saved and "[audio]" not in saved


def test_a_step_that_fails_says_why_and_the_wizard_goes_on(tmp_path):
    plan = tmp_path / "wizard.toml"
    plan.write_text(AVATAR_ONLY + AVATAR_ONLY[AVATAR_ONLY.index("[[steps]]"):])
    broken = tmp_path / "broken.glb"
    broken.write_bytes(b"glTF" + b"\0" * 40)
    ui = ScriptedUI(["y", "n", "s"])
    summary = run_wizard(WizardOptions(profile="fail-test", plan_path=plan, avatar=broken),
                         load_config(None), ui)
    assert [step["status"] for step in summary["steps"]] == ["failed", "skipped"]
    assert "broken.glb" in summary["steps"][0]["result"]
    assert read_profile("fail-test") is None


EYES_ONLY = AVATAR_ONLY[:AVATAR_ONLY.index("[[steps]]")] + """
[[steps]]
id = "eyes"
title = "Eye camera"
when = "eye_camera"
explain = "Follow the targets."
result = "{targets_used} of {targets} targets"
headset = "in the headset: liveface run --eye-camera {camera} --calibrate-eyes"
"""


def test_the_eye_step_runs_only_with_an_eye_camera(tmp_path, monkeypatch):
    import app.wizard.steps

    plan = tmp_path / "wizard.toml"
    plan.write_text(EYES_ONLY)
    monkeypatch.setattr(app.wizard.steps.glob, "glob", lambda pattern: [])
    summary = run_wizard(WizardOptions(profile="eyes-test", plan_path=plan),
                         load_config(None), ScriptedUI([]))
    assert summary["steps"] == []  # no camera present or given: no step
    monkeypatch.setattr(app.wizard.steps.glob, "glob", lambda pattern: ["/dev/video2"])
    ui = ScriptedUI(["y", "n"])  # a live camera: its targets are shown in the headset
    summary = run_wizard(WizardOptions(profile="eyes-test", plan_path=plan),
                         load_config(None), ui)
    assert summary["steps"][0]["status"] == "skipped"
    assert summary["steps"][0]["result"] == ("in the headset: liveface run --eye-camera 2 "
                                             "--calibrate-eyes")


def test_unattended_without_takes_the_voice_step_says_what_it_needs(tmp_path):
    voice = load_plan().steps[1]
    assert voice.id == "voice"
    plan = tmp_path / "wizard.toml"
    plan.write_text(AVATAR_ONLY[:AVATAR_ONLY.index("[[steps]]")] + "[[steps]]\n" + "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in
        {"id": "voice", "title": voice.title, "explain": voice.explain,
         **voice.values}.items()) + "\n")
    ui = TerminalUI(auto=True, stream=io.StringIO())
    summary = run_wizard(WizardOptions(profile="auto-test", plan_path=plan, auto=True),
                         load_config(None), ui)
    assert summary["steps"][0]["status"] == "skipped"
    assert "--takes DIR" in summary["steps"][0]["result"]


# -- the same wizard in the mirror window ---------------------------------------------------------
def _shipped_plan_with(path: Path, ids: tuple[str, ...]) -> Path:
    """calibration/wizard.toml with only the steps `ids`, as a changed plan would be."""
    import tomllib

    plan = tomllib.loads((resource_dir("calibration") / "wizard.toml").read_text())
    lines = [f"{key} = {json.dumps(value)}" for key, value in plan.items() if key != "steps"]
    for step in plan["steps"]:
        if step["id"] in ids:
            lines += ["[[steps]]"] + [f"{k} = {json.dumps(v)}" for k, v in step.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_corpus
@requires_pulse
@requires_xvfb
@pytest.mark.pulse
@pytest.mark.xvfb
def test_the_wizard_in_the_mirror_windows_overlay(xvfb, pulse, tmp_path):  # noqa: F811
    """`liveface mirror --calibrate --auto`: the wizard's panel drawn over the avatar, the
    microphone step hearing a take through the virtual microphone, the steps saved as in
    the terminal, the window closed at the end."""
    plan = _shipped_plan_with(tmp_path / "wizard.toml", ("mic", "avatar"))
    takes = tmp_path / "takes"
    takes.mkdir()
    write_wav(takes / "01.wav", read_audio(ENGLISH.audio_dir / f"{NAMES[0]}{ENGLISH.suffix}"))
    (takes / "01.txt").write_text("please enter your password")
    shot, stats = tmp_path / "shot.png", tmp_path / "stats.json"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "mirror", "--audio",
         str(REPO / "assets" / "audio" / "sample.wav"), "--stand-in", "--size", "640x480",
         "--calibrate", "--auto", "--takes", str(takes), "--plan", str(plan),
         "--profile", "mirror-test", "--screenshot", str(shot), "--stats-json", str(stats),
         "--duration", "90"],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=180,
        check=False)
    assert done.returncode == 0, done.stderr
    wizard = json.loads(stats.read_text())["wizard"]
    assert [step["status"] for step in wizard["steps"]] == ["done", "done"]
    assert wizard["steps"][0]["figures"]["verdict"] == "good"
    profile = read_profile("mirror-test")
    assert wizard["saved_to"] == str(profile.folder)
    assert profile.settings["microphone"]["device"] == "pulse"
    assert profile.settings["avatar"]["path"] == str(default_avatar_path().resolve())
    # the panel's title bar (imgui's active title blue) spans the lower half of the picture
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    title_blue = np.abs(pixels - np.array([41, 74, 122])).sum(axis=-1) < 30
    assert title_blue[240:].sum(axis=1).max() > 400


# -- the same wizard in the headset -----------------------------------------------------------
def _panel_pixels(eye: np.ndarray) -> np.ndarray:
    """The panel's dark blue background (app/xr/panel.py BACKGROUND over the scene)."""
    return np.abs(eye.astype(int) - np.array([24, 30, 44])).sum(axis=-1) < 18


def _on_panel(eye: np.ndarray) -> np.ndarray:
    """The part of an eye's picture the panel covers, found by its background colour."""
    mask = _panel_pixels(eye)
    assert mask.mean() > 0.006, mask.mean()  # the panel, in this eye (a wide field of view
    # in a small software-rendered image); its rows and columns, not a stray shadow
    rows = np.nonzero(mask.sum(axis=1) > 0.3 * mask.sum(axis=1).max())[0]
    columns = np.nonzero(mask.sum(axis=0) > 0.3 * mask.sum(axis=0).max())[0]
    assert rows.mean() > eye.shape[0] / 2  # below the mirror's face
    return eye[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]


def _prompt_pixels(eye: np.ndarray) -> np.ndarray:
    """The prompt's amber text (app/xr/panel.py PROMPT), as drawn small on the panel:
    blended into its dark blue, dimmer than it is, but still warm."""
    r, g, b = (eye[..., k].astype(int) for k in range(3))
    return (r > 70) & (r - b > 25) & (g - b > 15)


@needs_corpus
@requires_pulse
@requires_monado
@pytest.mark.pulse
@pytest.mark.xr
def test_the_wizard_in_the_headset_on_a_panel_in_the_scene(monado, pulse, tmp_path):  # noqa: F811
    """`liveface run --calibrate --auto` against Monado's simulated HMD: the wizard's panel
    drawn in the scene in both eyes (a prompt on it while the microphone step listens
    through the virtual microphone), the steps done and saved as in the terminal, and the
    run ended after the summary."""
    plan = _shipped_plan_with(tmp_path / "wizard.toml", ("mic", "avatar"))
    takes = tmp_path / "takes"
    takes.mkdir()
    write_wav(takes / "01.wav", read_audio(ENGLISH.audio_dir / f"{NAMES[0]}{ENGLISH.suffix}"))
    (takes / "01.txt").write_text("please enter your password")
    eyes_png, stats, prompt_png = (tmp_path / "eyes.png", tmp_path / "stats.json",
                                   tmp_path / "prompt.png")
    done = monado.run(
        [*LIVEFACE, "run", "--audio", str(REPO / "assets" / "audio" / "sample.wav"),
         "--stand-in", "--calibrate", "--auto", "--takes", str(takes), "--plan", str(plan),
         "--profile", "headset-test", "--screenshot", str(eyes_png), "--stats-json",
         str(stats), "--duration", "120", "--resolution-scale", "2",
         "--screenshot-prompt", str(prompt_png)])
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(stats.read_text())
    wizard = figures["wizard"]
    assert [step["status"] for step in wizard["steps"]] == ["done", "done"], wizard
    assert wizard["steps"][0]["figures"]["verdict"] == "good"
    profile = read_profile("headset-test")
    assert wizard["saved_to"] == str(profile.folder)
    assert profile.settings["microphone"]["device"] == "pulse"
    assert profile.settings["avatar"]["path"] == str(default_avatar_path().resolve())
    assert figures["states"][-1] == "exiting"  # ended by the wizard, cleanly
    panel = figures["panel"]
    assert 0.5 < panel["distance_m"] < 0.8  # at arm's length
    assert panel["prompt_frames"] >= 10 and panel["frames"] >= min(figures["eye_frames"]) - 2
    sheet = np.asarray(Image.open(eyes_png).convert("RGB"))
    prompt_sheet = np.asarray(Image.open(prompt_png).convert("RGB"))
    width = figures["eye_size"][0]
    for eye in (sheet[:, :width], sheet[:, width:]):  # the summary, at the end
        on_panel = _on_panel(eye)
        light = (on_panel.min(axis=-1) > 90).mean()
        assert 0.005 < light < 0.3, light  # light text on it (the background has none)
        assert _prompt_pixels(on_panel).sum() < 5  # no instruction left on it
    for eye in (prompt_sheet[:, :width], prompt_sheet[:, width:]):  # the first instruction
        prompt = _prompt_pixels(_on_panel(eye)).sum()
        assert prompt > 15, prompt  # its text, in the prompt's colour, on the panel


def test_a_word_spoken_after_the_question_answers_it_in_the_headset():
    """Voice answers where there are no keys: what is said in the first second after a
    question appears (the end of a sentence read) does not count; a word then a pause does."""
    from app.wizard.panel_ui import SPOKEN_GRACE_S, SpokenAnswer

    spoken, step_s = SpokenAnswer(), 0.02
    answers = []
    for index in range(200):
        t_s = index * step_s
        talking = 0.2 <= t_s < 0.6 or 1.5 <= t_s < 1.9  # before the grace ends, and after
        if spoken.feed(t_s, -20.0 if talking else -70.0, asking=True):
            answers.append(t_s)
    assert len(answers) == 1 and 1.9 + 0.5 <= answers[0] < 1.9 + 0.6
    assert SPOKEN_GRACE_S > 0.6
    assert not spoken.feed(5.0, -20.0, asking=False)  # nothing asked: nothing answered


def test_the_panel_is_answered_by_its_highlighted_choice():
    """The headset's panel: `next` moves the highlight, `select` takes it."""
    import threading

    from app.wizard.panel_ui import PanelUI

    ui, chosen = PanelUI(), []
    asking = threading.Thread(target=lambda: chosen.append(
        ui.choose([("y", "start"), ("s", "skip")], "y")))
    asking.start()
    while not ui.snapshot().choices:
        threading.Event().wait(0.01)
    assert ui.snapshot().highlighted == 0
    ui.highlight_next()
    ui.answer_highlighted()
    asking.join(5)
    assert chosen == ["s"] and ui.snapshot().choices == ()
    ui.answer("y")  # nothing asked now: ignored, not kept for the next question
    assert ui._answers.empty()
