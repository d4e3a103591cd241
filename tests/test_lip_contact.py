"""The lip-contact head: its lip geometry, the edit it makes, its bundle, its stream, its fit."""

import numpy as np
import pytest
import torch

from app.avatar.rig import RIG_INDEX, RIG_SIZE
from app.call import wire
from app.checkpoints import load_animator, load_parts, save_bundle
from app.data.teacher import default_geometry
from app.data.timeline import Phone, Timeline
from app.errors import LivefaceError
from app.model.animator import Animator, animate_clip
from app.model.audio_encoder import AudioEncoder
from app.model.codec import ExpressionCodec
from app.model.config import tiny_config
from app.model.denoiser import Conditions, Denoiser
from app.model.lip_contact import (
    BILABIAL,
    CLOSE,
    NONE,
    OPEN,
    RELEASE,
    SILENCE,
    SPEECH,
    ContactHead,
    LipGeometry,
    apply_contact,
    contact_codes,
)
from app.training.contact import (
    EncoderFeatures,
    fit_head,
    frame_classes,
    heard_versions,
    rule,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lips():
    return LipGeometry.from_face(default_geometry())


def _rigs(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rig = np.zeros((count, RIG_SIZE), np.float32)
    for name in ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft",
                 "mouthLowerDownLeft", "mouthUpperUpRight", "mouthRollLower"):
        rig[:, RIG_INDEX[name]] = rng.uniform(0.0, 0.6, count)
    return rig


def test_the_lip_gap_is_the_metrics_gap(lips):
    rig = _rigs(64)
    np.testing.assert_allclose(lips.gap_mm(torch.from_numpy(rig)).numpy(),
                               default_geometry().lip_gap_mm(rig), atol=1e-4)


def test_close_shuts_open_lips_and_open_parts_shut_ones_and_nothing_else_moves(lips):
    geometry = default_geometry()
    rig = _rigs(60)
    rig[:20, RIG_INDEX["jawOpen"]] = 0.5  # wide open
    rig[:20, RIG_INDEX["mouthClose"]] = 0.0
    rig[20:40] = 0.0  # shut: at rest, or pressed
    rig[20:40, RIG_INDEX["mouthClose"]] = np.linspace(0.0, 0.3, 20)
    codes = torch.zeros(60, dtype=torch.int8)
    codes[:20], codes[20:40] = CLOSE, OPEN
    before = geometry.lip_gap_mm(rig)
    assert (before[:20] > 3.0).all() and (before[20:40] < 1.0).all()
    out = apply_contact(torch.from_numpy(rig), codes, lips).numpy()
    after = geometry.lip_gap_mm(out)
    assert (after[:20] < 1.0).all()
    assert (after[20:40] >= 1.4).all()
    np.testing.assert_array_equal(out[40:], rig[40:])
    # only the lip channels the edit owns change
    changed = np.flatnonzero(np.abs(out - rig).max(axis=0) > 0)
    assert set(changed) <= {RIG_INDEX["mouthClose"], RIG_INDEX["jawOpen"]}


def test_codes_follow_the_thresholds():
    probs = torch.tensor([[0.1, 0.2, 0.7], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.0, 0.45, 0.55]])
    codes = contact_codes(probs.clamp_min(1e-9).log(), close=0.6, open_=0.5)
    assert codes.tolist() == [CLOSE, OPEN, NONE, NONE]
    codes = contact_codes(probs.clamp_min(1e-9).log(), close=0.5, open_=1.0)
    assert codes.tolist() == [CLOSE, NONE, NONE, CLOSE]


def _parts(config):
    torch.manual_seed(0)
    return AudioEncoder(config), Denoiser(config), ExpressionCodec(config)


def _head(config, lips, bias: tuple[float, float, float]):
    torch.manual_seed(1)
    head = ContactHead(config.audio_channels, config.contact_context, config.contact_hidden,
                       lips)
    with torch.no_grad():
        head.net[-1].bias.copy_(torch.tensor(bias))
    return head.eval()


def test_a_bundle_keeps_its_head_and_older_bundles_load_without_one(tmp_path, lips):
    config = tiny_config(contact_context=3, contact_hidden=8, contact_close=0.6,
                         contact_open=0.7)
    head = _head(config, lips, (0.0, 0.0, 0.0))
    path = tmp_path / "with.safetensors"
    save_bundle(path, *_parts(config), config, head)
    parts = load_parts(path)
    assert parts.config.contact_close == 0.6 and parts.contact is not None
    for name, value in head.state_dict().items():
        assert torch.equal(parts.contact.state_dict()[name], value), name
    animator, _ = load_animator(path)
    assert animator.contact is not None

    plain = tiny_config()
    save_bundle(tmp_path / "without.safetensors", *_parts(plain), plain)
    assert load_parts(tmp_path / "without.safetensors").contact is None
    with pytest.raises(ValueError):
        save_bundle(tmp_path / "bad.safetensors", *_parts(plain), plain, head)


def test_a_release_head_answers_its_release_as_speech_and_a_bundle_keeps_it(tmp_path, lips):
    config = tiny_config(contact_context=3, contact_hidden=8, contact_close=0.6,
                         contact_open=0.5, contact_release=2)
    torch.manual_seed(1)
    head = ContactHead(config.audio_channels, 3, 8, lips, release=True).eval()
    with torch.no_grad():
        head.net[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 6.0]))  # the lips' release
    rows = torch.zeros(5, 3 * config.audio_channels)
    trained = head.trained_log_probs(rows).exp()
    answered = head(rows).exp()
    assert trained.shape == (5, 4) and answered.shape == (5, 3)
    assert torch.allclose(answered[:, SPEECH], trained[:, SPEECH] + trained[:, RELEASE])
    assert torch.allclose(answered[:, BILABIAL], trained[:, BILABIAL])
    assert (contact_codes(head(rows), 0.6, 0.5) == OPEN).all()

    path = tmp_path / "release.safetensors"
    save_bundle(path, *_parts(config), config, head)
    parts = load_parts(path)
    assert parts.config.contact_release == 2
    assert torch.allclose(parts.contact(rows), head(rows))
    # the same head under a config that says it has no release class does not load
    from app.checkpoints import BUNDLE, load_checkpoint, save_checkpoint

    state, _ = load_checkpoint(path, kind=BUNDLE)
    save_checkpoint(tmp_path / "bad.safetensors", state,
                    tiny_config(contact_context=3, contact_hidden=8), BUNDLE)
    with pytest.raises(LivefaceError, match="does not match its config"):
        load_parts(tmp_path / "bad.safetensors")


def test_a_bundle_whose_head_is_missing_is_a_clear_error(tmp_path, lips):
    from app.checkpoints import BUNDLE, save_checkpoint

    config = tiny_config(contact_context=2, contact_hidden=8)
    encoder, denoiser, codec = _parts(config)
    state = {"encoder": encoder.state_dict(), "denoiser": denoiser.state_dict(),
             "codec": codec.state_dict()}
    save_checkpoint(tmp_path / "b.safetensors", state, config, BUNDLE)
    with pytest.raises(LivefaceError, match="contact"):
        load_parts(tmp_path / "b.safetensors")


def _stream(animator, audio):
    samples = torch.from_numpy(audio)[None]
    frames = -(-audio.size // 320)
    torch.manual_seed(2)
    noise = torch.randn(1, frames, animator.config.latent_size)
    return animate_clip(animator, samples, Conditions.absent(1, frames, samples), noise)


@pytest.mark.parametrize("bias, code", [((0.0, 0.0, 9.0), CLOSE), ((0.0, 9.0, 0.0), None),
                                        ((9.0, 0.0, 0.0), NONE)])
def test_a_streaming_head_edits_the_lips_and_nothing_else(lips, bias, code):
    config = tiny_config(contact_context=3, contact_hidden=8, contact_close=0.5,
                         contact_open=0.5)
    encoder, denoiser, codec = _parts(config)
    plain = Animator(config, encoder, denoiser, codec).eval()
    touched = Animator(config, encoder, denoiser, codec, _head(config, lips, bias)).eval()
    audio = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    a, b = _stream(plain, audio), _stream(touched, audio)
    assert a.contact is None and b.contact.shape == (1, 50)
    torch.testing.assert_close(a.latent, b.latent)  # the model's own output travels as is
    if code is None:  # "speech": only frames whose lips are shut are parted
        shut = torch.from_numpy(default_geometry().lip_gap_mm(a.rig[0].numpy()) < 1.5)
        assert (b.contact[0] == OPEN).all()
        torch.testing.assert_close(a.rig[0][~shut], b.rig[0][~shut])
        return
    assert (b.contact == code).all()
    if code == NONE:
        torch.testing.assert_close(a.rig, b.rig)
    else:
        assert (default_geometry().lip_gap_mm(b.rig[0].numpy()) < 1.0).all()


def test_the_training_features_are_what_the_stream_hears(lips):
    """The head is fit on whole-clip features; live it classifies block by block."""
    from dataclasses import replace

    from app.checkpoints import ModelParts
    from app.model.lip_contact import sequence_rows

    config = tiny_config(contact_context=3, contact_hidden=8)
    encoder, denoiser, codec = _parts(config)
    head = _head(config, lips, (0.0, 0.0, 0.0))
    animator = Animator(config, encoder, denoiser, codec, head).eval()
    audio = np.random.default_rng(1).normal(0, 0.1, 12345).astype(np.float32)
    streamed = []
    state = animator.initial_state(1, torch.zeros(1))
    padded = np.zeros(-(-audio.size // 320) * 320, np.float32)
    padded[:audio.size] = audio
    for start in range(0, padded.size, 320):
        block = torch.from_numpy(padded[start:start + 320])[None]
        log_probs, tail = head.classify(*_features(animator, state, block))
        streamed.append(log_probs[0, 0])
        _, state = animator.step(state, block, Conditions.absent(1, 1, block),
                                 torch.zeros(1, 1, config.latent_size))
    parts = replace(ModelParts(config, encoder, denoiser, codec), contact=head)
    whole = head(sequence_rows(EncoderFeatures(parts)(audio), 3))
    torch.testing.assert_close(torch.stack(streamed), whole, atol=1e-4, rtol=1e-4)


def _features(animator, state, block):
    mel, _ = animator.streaming_mel.step(state.mel, block)
    features, _ = animator.encoder(mel, state.encoder)
    return features, state.contact_tail


def test_frames_are_classed_by_their_phones():
    timeline = Timeline((Phone(0.0, 0.1, "sil"), Phone(0.1, 0.16, "m"), Phone(0.16, 0.3, "a"),
                         Phone(0.3, 0.4, "sil")))
    classes = frame_classes(timeline, 22)
    assert classes[:5].tolist() == [SILENCE] * 5
    assert classes[5:8].tolist() == [BILABIAL] * 3
    assert classes[8:15].tolist() == [SPEECH] * 7
    assert classes[15:].tolist() == [SILENCE] * 7


def test_a_clip_played_faster_keeps_its_phones_on_its_sounds():
    # a tone is the "m" of the timeline: wherever a version plays it, its phone is there
    rate = 16000
    audio = np.zeros(rate, np.float32)
    t = np.arange(int(0.2 * rate)) / rate
    audio[int(0.4 * rate):int(0.6 * rate)] = 0.5 * np.sin(2 * np.pi * 300 * t)
    timeline = Timeline((Phone(0.0, 0.4, "sil"), Phone(0.4, 0.6, "m"), Phone(0.6, 1.0, "sil")),
                        duration_s=1.0)
    versions = heard_versions(audio, timeline, 3, (0.8, 1.25), np.random.default_rng(1))
    assert versions[0][0] is audio and versions[0][1] is timeline
    factors = []
    for heard, timed in versions[1:]:
        factor = 1.0 / timed.duration_s
        factors.append(factor)
        assert 0.8 <= factor <= 1.25
        assert heard.size == pytest.approx(audio.size / factor, abs=1)
        assert timed.phones[1].start_s == pytest.approx(0.4 / factor)
        tone = timed.phones[1]
        start, end = int(tone.start_s * rate), int(tone.end_s * rate)

        def rms(part):
            return float(np.sqrt(np.mean(np.square(part))))

        # noise, rooms and gain may be added; the tone stays inside its phone
        assert rms(heard[start + 200:end - 200]) > 3 * rms(heard[:start - 400])
        assert rms(heard[start + 200:end - 200]) > 3 * rms(heard[end + 4000:])
    assert max(factors) - min(factors) > 0.02  # drawn, not fixed


def test_the_frames_after_a_pbm_are_its_release():
    timeline = Timeline((Phone(0.0, 0.1, "sil"), Phone(0.1, 0.16, "m"), Phone(0.16, 0.3, "a"),
                         Phone(0.3, 0.36, "b"), Phone(0.36, 0.4, "sil"),
                         Phone(0.4, 0.5, "a")))
    classes = frame_classes(timeline, 26, release=2)
    assert classes[5:8].tolist() == [BILABIAL] * 3
    assert classes[8:10].tolist() == [RELEASE] * 2  # the two frames after the m
    assert classes[10:15].tolist() == [SPEECH] * 5
    assert classes[15:18].tolist() == [BILABIAL] * 3
    assert classes[18:20].tolist() == [SILENCE] * 2  # a pause ends the release
    assert classes[20:25].tolist() == [SPEECH] * 5
    assert (frame_classes(timeline, 26) != RELEASE).all()  # without: three classes


def test_the_fit_learns_what_tells_the_classes_apart(lips):
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 3, 3000)
    rows = rng.normal(0, 1, (3000, 4 * 6)).astype(np.float32)
    rows[:, 0] += 3.0 * (classes == BILABIAL)  # one input says p/b/m, another speech
    rows[:, 1] += 3.0 * (classes == SPEECH)
    head = fit_head(torch.from_numpy(rows), torch.from_numpy(classes), lips, steps=300)
    with torch.no_grad():
        guessed = head(torch.from_numpy(rows)).argmax(-1).numpy()
    assert (guessed == classes).mean() > 0.85


def test_a_fit_with_the_release_class_learns_four(lips):
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, 4000)
    rows = rng.normal(0, 1, (4000, 4 * 6)).astype(np.float32)
    for kind in (SPEECH, BILABIAL, RELEASE):
        rows[:, kind] += 3.0 * (classes == kind)
    head = fit_head(torch.from_numpy(rows), torch.from_numpy(classes), lips, steps=300,
                    release=True)
    with torch.no_grad():
        guessed = head.trained_log_probs(torch.from_numpy(rows)).argmax(-1).numpy()
    assert (guessed == classes).mean() > 0.8
    with pytest.raises(LivefaceError, match="lack a class"):
        fit_head(torch.from_numpy(rows), torch.from_numpy(np.minimum(classes, 2)), lips,
                 steps=1, release=True)


def test_the_rule_balances_closures_against_shut_vowels():
    sets = {"real_speech": {"bilabial_closed": 8, "bilabial_phones": 10, "vowels_closed": 2,
                            "vowels": 20},
            "unheard_speaker": {"bilabial_closed": 2, "bilabial_phones": 10,
                                "vowels_closed": 0, "vowels": 20},
            "heldout_voices": {"bilabial_closed": 0, "bilabial_phones": 50, "vowels_closed": 50,
                               "vowels": 50}}
    assert rule(sets) == pytest.approx((10 / 20 + 1 - 2 / 40) / 2)


@pytest.mark.parametrize("code, flag", [(CLOSE, wire.LIPS_CLOSED), (OPEN, wire.LIPS_PARTED),
                                        (NONE, 0)])
def test_the_contact_code_travels_with_the_face(code, flag):
    message = wire.FaceMessage(7, 1000, np.zeros(wire.LATENT_SIZE, np.float32), contact=code)
    data = wire.encode_face(message)
    assert data[2] & (wire.LIPS_CLOSED | wire.LIPS_PARTED) == flag
    assert wire.decode(data).contact == code


def test_a_face_that_both_closes_and_parts_the_lips_is_malformed():
    data = bytearray(wire.encode_face(wire.FaceMessage(
        7, 1000, np.zeros(wire.LATENT_SIZE, np.float32), contact=CLOSE)))
    data[2] |= wire.LIPS_PARTED
    with pytest.raises(wire.Malformed):
        wire.decode(bytes(data))


def test_a_peers_closed_lips_close_on_the_receivers_face():
    """The latent travels as the model made it; the receiver carries out the code."""
    from app.call.session import Call, CallRequest
    from app.checkpoints import STUDENT_FILE
    from app.live.clock import ManualClock
    from app.resources import asset_path

    codec = load_parts(asset_path("models", STUDENT_FILE)).codec
    call = Call(CallRequest(), None, None, None, codec, ManualClock(),
                wire.AvatarChoice("head", bytes(32)))
    pushed = []
    call.jitter.push = lambda frame, heard: pushed.append(frame)
    open_rig = np.zeros(RIG_SIZE, np.float32)
    open_rig[RIG_INDEX["jawOpen"]] = 0.6
    with torch.no_grad():
        latent = codec.encode(torch.from_numpy(open_rig)).numpy()
    for seq, code in enumerate((NONE, CLOSE)):
        call._on_message(wire.encode_face(wire.FaceMessage(seq, 0, latent, contact=code)))
    gaps = default_geometry().lip_gap_mm(np.stack([frame.rig for frame in pushed]))
    assert gaps[0] > 1.0 and gaps[1] < 1.0
