"""Training on a tiny hand-made data set: windows, every stage end to end, resume, errors."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from app.audio.contract import SAMPLES_PER_FRAME
from app.audio.io import write_wav
from app.avatar.rig import GAZE_SLICE, RIG_INDEX, RIG_NAMES, RIG_SIZE
from app.checkpoints import load_animator, load_checkpoint, load_parts, save_bundle
from app.errors import LivefaceError
from app.model.animator import animate_clip, generate_offline
from app.model.config import tiny_config
from app.model.denoiser import Conditions
from app.training import train_cli
from app.training.augment import AugmentConfig
from app.training.data import (
    Clip,
    WindowDataset,
    batch_slots,
    engine_repeats,
    load_batch,
    load_split,
)
from app.training.train import (
    DiffusionNet,
    Past,
    Run,
    Runtime,
    denoiser_losses,
    initialise_from,
    load_denoiser,
    open_run,
    own_past,
    stage_done,
    train,
    train_codec,
    train_denoiser,
    window_dataset,
)

torch.set_num_threads(1)
CPU = Runtime(0, 1, torch.device("cpu"))


def write_dataset(root, clips=6, seed=0):
    """Clips in the `liveface data build` layout: tone bursts whose loudness opens the jaw."""
    rng = np.random.default_rng(seed)
    (root / "clips").mkdir(parents=True)
    entries = []
    for i in range(clips):
        frames = int(rng.integers(40, 70))
        samples = frames * SAMPLES_PER_FRAME - int(rng.integers(0, 200))
        t = np.arange(samples) / 16_000
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t), 0.0, None)
        audio = (0.3 * envelope * np.sin(2 * np.pi * rng.uniform(120, 220) * t)).astype(np.float32)
        rig = np.zeros((frames, RIG_SIZE), np.float32)
        frame_env = envelope[: frames * SAMPLES_PER_FRAME: SAMPLES_PER_FRAME]
        rig[: len(frame_env), RIG_INDEX["jawOpen"]] = 0.6 * frame_env
        rig[:, GAZE_SLICE] = rng.uniform(-0.2, 0.2, 2)
        clip_id = f"en_{i:04d}"
        write_wav(root / "clips" / f"{clip_id}.wav", audio)
        np.save(root / "clips" / f"{clip_id}.rig.npy", rig)
        emotion = ("neutral", "happy", "angry")[i % 3]
        entries.append({"id": clip_id, "audio": f"clips/{clip_id}.wav",
                        "rig": f"clips/{clip_id}.rig.npy", "timeline": "", "meta": "",
                        "language": "en", "voice": "v", "engine": "test", "voice_licence": "",
                        "emotion": emotion, "intensity": 0.0 if emotion == "neutral" else 0.8,
                        "duration_s": samples / 16_000, "frames": frames,
                        "split": "test" if i == clips - 1 else "train",
                        "heldout": "heldout_voices" if i == clips - 1 else None,
                        "text": "", "style_seed": i})
    manifest = {"format": "liveface-dataset/1", "build": {}, "plan_hash": "", "clips": entries,
                "sample_rate_hz": 16_000, "frame_rate_hz": 50, "rig_names": list(RIG_NAMES)}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


def log_lines(run: Run, stage: str) -> list[dict]:
    lines = (run.dir / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["stage"] == stage]


def test_windows_are_aligned_and_ranks_disjoint(data_dir, tmp_path):
    run = open_run(tmp_path / "run", data_dir, "tiny")
    dataset = window_dataset(run)
    batch = load_batch(dataset, 3, step=0)
    frames, context = run.preset.window_frames, run.preset.context_frames
    assert batch["audio"].shape == (3, (context + frames) * SAMPLES_PER_FRAME)
    assert batch["rig"].shape == (3, frames, RIG_SIZE)
    assert torch.equal(batch["gaze"], batch["rig"][..., GAZE_SLICE])
    assert batch["emotion"].dtype == torch.long and batch["intensity"].shape == (3,)
    ranks = [batch_slots(len(dataset), 2, 5, rank, 2, 0) for rank in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1])
    assert torch.equal(load_batch(dataset, 3, 4)["audio"], load_batch(dataset, 3, 4)["audio"])
    assert all(c.split == "train" for c in load_split(data_dir))


def test_rare_engines_are_repeated_by_the_balance(data_dir):
    clips = load_split(data_dir)
    mixed = [replace(c, engine="espeak-ng" if i < len(clips) - 1 else "piper")
             for i, c in enumerate(clips)]
    common = len(clips) - 1
    assert engine_repeats(mixed, 0.0) == [1] * len(clips)
    assert engine_repeats(mixed, 1.0) == [1] * common + [common]
    assert engine_repeats(mixed, 0.5)[-1] == round(common ** 0.5)
    plain = WindowDataset(mixed, 24, 8, None, 0)
    balanced = WindowDataset(mixed, 24, 8, None, 0, engine_balance=1.0)
    last = len(plain.clips) - 1
    assert plain.slots.count(last) * common == balanced.slots.count(last)
    assert len(balanced.slots) - len(plain.slots) == (common - 1) * plain.slots.count(last)


def _two_events(signal: np.ndarray) -> np.ndarray | None:
    """Weighted centres (in frames) of the two groups of frames where `signal` is above a
    fifth of its peak, split at the widest gap; None unless there are two."""
    if signal.max() <= 0:
        return None
    active = np.flatnonzero(signal > 0.2 * signal.max())
    gaps = np.diff(active)
    if gaps.size == 0 or gaps.max() < 5 or active[0] == 0 or active[-1] == signal.size - 1:
        return None
    split = int(np.argmax(gaps)) + 1
    return np.array([np.average(part, weights=signal[part])
                     for part in (active[:split], active[split:])])


@pytest.mark.parametrize("speed", [0.85, 1.3])
def test_speed_perturbation_keeps_face_and_audio_together(speed):
    """Two tone bursts 40 frames apart, and the face moves on the same frames: in a window
    played `speed` times faster both sit 40 / speed frames apart, on the same frames."""
    frames, bursts = 200, (80, 120)
    audio = np.zeros(frames * SAMPLES_PER_FRAME, np.float32)
    rig = np.zeros((frames, RIG_SIZE), np.float32)
    t = np.arange(SAMPLES_PER_FRAME) / 16_000
    for frame in bursts:
        audio[frame * SAMPLES_PER_FRAME:(frame + 1) * SAMPLES_PER_FRAME] = np.sin(2e3 * np.pi * t)
        rig[frame, 0] = 1.0
    clip = Clip("bursts", audio, rig, 0, 1.0, "train", None, "en")
    quiet = AugmentConfig(noise_probability=0.0, reverb_probability=0.0, gain_db_range=(0, 0),
                          bandlimit_probability=0.0, resample_probability=0.0,
                          speed_probability=1.0, speed_range=(speed, speed))
    window, context = 72, 8
    dataset = WindowDataset([clip], window, context, quiet, seed=3)
    checked = 0
    for epoch in range(40):
        w = dataset.window(0, epoch)
        loud = w["audio"].reshape(-1, SAMPLES_PER_FRAME).square().sum(1).numpy()[context:]
        face = w["rig"][:, 0].numpy()
        heard, seen = _two_events(loud), _two_events(face)
        if heard is None or seen is None:
            continue  # this window holds fewer than both bursts
        assert seen[1] - seen[0] == pytest.approx(40 / speed, abs=0.6)
        assert heard[1] - heard[0] == pytest.approx(40 / speed, abs=1.0)
        assert np.abs(seen - heard).max() < 1.0
        checked += 1
    assert checked >= 5


def test_every_stage_end_to_end(data_dir, tmp_path):
    """codec -> teacher -> offline -> distill -> export -> load_animator -> animate a clip."""
    out = tmp_path / "models"
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(tmp_path / "run"),
                           "--preset", "tiny", "--steps", "40"]) == 0
    assert train_cli.main(["distill", "--run", str(tmp_path / "run"), "--steps", "6",
                           "--contact-weight", "0.25"]) == 0
    assert train_cli.main(["export", "--run", str(tmp_path / "run"), "--out", str(out)]) == 0
    run = open_run(tmp_path / "run")
    for stage, key in (("codec", "loss"), ("teacher", "diffusion"), ("offline", "diffusion"),
                       ("teacher", "lips")):
        lines = log_lines(run, stage)
        assert lines[-1][key] < lines[0][key], (stage, lines[0], lines[-1])
    assert len(log_lines(run, "distill")) >= 1
    assert {"contact", "opening"} <= set(log_lines(run, "distill")[-1])
    assert log_lines(run, "distill")[-1]["contact_weight"] == 0.25  # the flag, not the preset's
    assert run.preset.distill_contact_weight != 0.25

    animator, config = load_animator(out / "liveface-student.safetensors")
    assert config.past_conditioning and config.past_level == run.preset.model.past_level
    assert config.sampling_steps == 1 and config.latent_std != 1.0 and config.mel_mean != -4.0
    audio = load_split(data_dir, "test")[0].audio[None, :20 * SAMPLES_PER_FRAME]
    audio = torch.from_numpy(audio)
    frames = animate_clip(animator, audio, Conditions.absent(1, 20, audio),
                          torch.randn(1, 20, config.latent_size))
    assert frames.rig.shape == (1, 20, RIG_SIZE) and torch.isfinite(frames.rig).all()

    offline = load_parts(out / "liveface-offline.safetensors")
    assert not offline.config.causal
    from app.audio.features import LogMel
    c = offline.config
    latents = generate_offline(LogMel(c.mel_mean, c.mel_std, c.mel_log_floor), offline.encoder,
                               offline.denoiser, audio, Conditions.absent(1, 20, audio),
                               torch.randn(1, 20, c.latent_size), steps=2)
    assert torch.isfinite(latents).all()
    assert (out / "liveface-teacher.safetensors").stat().st_size < 50e6


def _trained_codec_run(data_dir, path):
    run = open_run(path, data_dir, "tiny")
    train_codec(run, CPU)
    return run


def test_resume_matches_an_uninterrupted_run(data_dir, tmp_path):
    whole = _trained_codec_run(data_dir, tmp_path / "whole")
    train_denoiser(whole, CPU, "teacher", steps=12)
    parts = _trained_codec_run(data_dir, tmp_path / "parts")
    train_denoiser(parts, CPU, "teacher", steps=12, stop_at=7)
    stopped, _ = load_checkpoint(parts.path("teacher"))
    assert stopped["step"] == 7 and not stopped["done"] and stopped["optim"]["state"]
    train_denoiser(parts, CPU, "teacher", resume=True)
    a, _ = load_checkpoint(whole.path("teacher"))
    b, _ = load_checkpoint(parts.path("teacher"))
    assert b["step"] == 12 and b["done"]
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.allclose(value, b[key][name], atol=1e-6), (key, name)
    assert torch.allclose(a["optim"]["state"][0]["exp_avg_sq"], b["optim"]["state"][0]["exp_avg_sq"])


def test_fine_tuning_starts_from_another_runs_weights(data_dir, tmp_path):
    source = _trained_codec_run(data_dir, tmp_path / "source")
    train_denoiser(source, CPU, "teacher", steps=4)
    with pytest.raises(LivefaceError, match="--stage teacher or offline"):
        train(source, CPU, "codec", init_from=source.path("teacher"))
    state, config = load_checkpoint(source.path("teacher"))
    model, ema = DiffusionNet(config, 8), DiffusionNet(config, 8)
    initialise_from(model, ema, source.path("teacher"), "teacher")
    for name, value in state["ema"].items():
        assert torch.equal(model.state_dict()[name], value)
        assert torch.equal(ema.state_dict()[name], value)
    with pytest.raises(LivefaceError, match="offline"):
        initialise_from(model, ema, source.path("teacher"), "offline")
    wider = DiffusionNet(replace(config, d_model=64), 8)
    with pytest.raises(LivefaceError, match="does not fit"):
        initialise_from(wider, copy.deepcopy(wider), source.path("teacher"), "teacher")
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    (tuned / "codec.safetensors").write_bytes(source.path("codec").read_bytes())
    args = ["train", "--data", str(data_dir), "--run", str(tuned), "--preset", "tiny",
            "--steps", "2", "--init-from", str(source.path("teacher"))]
    assert train_cli.main([*args, "--stage", "codec"]) == 2
    assert train_cli.main([*args, "--stage", "teacher"]) == 0
    assert load_checkpoint(tuned / "teacher.safetensors")[0]["done"]
    unfinished = _trained_codec_run(data_dir, tmp_path / "unfinished")
    train_denoiser(unfinished, CPU, "teacher", steps=4, stop_at=2)
    with pytest.raises(LivefaceError, match="not a finished"):
        initialise_from(model, ema, unfinished.path("teacher"), "teacher")


def test_a_run_starts_from_exported_bundles_and_joins_extra_data(data_dir, tmp_path):
    """--from-models makes finished stages of the bundles (their weights, unchanged), and
    --extra-data adds another data set's train clips to the windows."""
    source = tmp_path / "source"
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(source), "--preset",
                           "tiny", "--steps", "3"]) == 0
    assert train_cli.main(["distill", "--run", str(source), "--steps", "2"]) == 0
    models = tmp_path / "models"
    assert train_cli.main(["export", "--run", str(source), "--out", str(models)]) == 0
    base = tmp_path / "base"
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(base), "--preset",
                           "tiny", "--from-models", str(models)]) == 0
    for stage in ("codec", "teacher", "offline"):
        assert stage_done(open_run(base), stage)
    shipped = load_parts(models / "liveface-teacher.safetensors")
    seeded, _ = load_denoiser(open_run(base), "teacher", CPU.device)
    for name, value in shipped.denoiser.state_dict().items():
        assert torch.equal(seeded.denoiser.state_dict()[name], value), name
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    (tuned / "codec.safetensors").write_bytes((base / "codec.safetensors").read_bytes())
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(tuned), "--preset",
                           "tiny", "--extra-data", str(data_dir), "--stage", "teacher",
                           "--steps", "2", "--init-from", str(base / "teacher.safetensors")]) == 0
    run = open_run(tuned)
    assert run.extra_data == (data_dir.resolve(),)
    alone = window_dataset(open_run(base))
    assert len(window_dataset(run).clips) == 2 * len(alone.clips)
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(tmp_path / "none"),
                           "--preset", "tiny", "--from-models", str(tmp_path)]) == 2


def test_offline_windows_share_one_noise_level_and_causal_frames_do_not(data_dir, tmp_path):
    run = _trained_codec_run(data_dir, tmp_path / "run")
    batch = load_batch(window_dataset(run), 3, 0)
    x0 = torch.randn(3, run.preset.window_frames, 32)
    seen = {}

    def net(audio, z, t, cond, past):
        seen["t"], seen["past"] = t, past
        return torch.zeros_like(z)

    cond = Conditions.absent(3, x0.shape[1], x0)
    for causal in (False, True):
        denoiser_losses(net, batch, x0, cond, run.preset, replace(run.preset.model,
                        causal=causal), torch.Generator().manual_seed(0))
        t = seen["t"]
        assert t.shape == x0.shape[:2]
        assert (t == t[:, :1]).all() != causal
        assert (seen["past"] is None) != causal
    assert (seen["past"].level == seen["past"].level[:, :1]).all()  # one level per window


def test_own_past_puts_the_models_estimate_in_the_chosen_windows():
    windows, frames = 64, 5
    past = Past(torch.randn(windows, frames, 32), torch.rand(windows, frames))
    cond = Conditions.absent(windows, frames, past.latent)
    seen = {}

    def net(audio, z, t, cond, given):
        seen["z"], seen["t"], seen["given"] = z, t, given
        return -(given.latent + 5.0)  # at t = 1, x0 = -v: "the given past plus 5"

    config, generator = tiny_config(past_level=0.3, noise_scale=0.5), torch.Generator()
    assert own_past(net, None, past, cond, 0.0, config, generator) is past
    mixed = own_past(net, None, past, cond, 0.5, config, generator)
    assert seen["given"] is past and (seen["t"] == 1).all()
    assert 0.45 < float(seen["z"].std()) < 0.55  # streaming's temperature
    own = (mixed.level == 0.3).all(1)
    assert 10 < int(own.sum()) < 54  # about half the windows, whole windows at a time
    torch.testing.assert_close(mixed.latent[own], past.latent[own] + 5.0)
    assert torch.equal(mixed.latent[~own], past.latent[~own])
    assert torch.equal(mixed.level[~own], past.level[~own])


def test_existing_checkpoint_needs_resume(data_dir, tmp_path):
    run = _trained_codec_run(data_dir, tmp_path / "run")
    with pytest.raises(LivefaceError, match="--resume"):
        train_codec(run, CPU)
    with pytest.raises(LivefaceError, match="teacher"):
        from app.training.distill import distill
        distill(run, CPU)
    train(run, CPU, "all", steps=4, resume=True)  # the finished codec is skipped
    assert load_checkpoint(run.path("offline"))[0]["done"]


def test_user_errors(tmp_path, data_dir):
    with pytest.raises(LivefaceError, match="manifest"):
        load_split(tmp_path)
    with pytest.raises(LivefaceError, match="run.json"):
        open_run(tmp_path / "nothing")
    open_run(tmp_path / "r", data_dir, "tiny")
    with pytest.raises(LivefaceError, match="preset"):
        open_run(tmp_path / "r", data_dir, "cpu")
    run = open_run(tmp_path / "r2", data_dir, "tiny")
    run = replace(run, preset=replace(run.preset, window_frames=10_000))
    with pytest.raises(LivefaceError, match="window"):
        window_dataset(run)


def test_lip_vertex_loss_measures_what_the_metrics_measure():
    from app.data.teacher import default_geometry
    from app.model.codec import ExpressionCodec
    from app.training.lip_loss import LipVertexLoss

    geometry = default_geometry()
    torch.manual_seed(0)
    codec = ExpressionCodec(tiny_config())
    loss = LipVertexLoss(codec, geometry, latent_std=2.0)
    rig = torch.rand(2, 5, RIG_SIZE) * 0.5
    latent = torch.randn(2, 5, 32, requires_grad=True)
    value = loss(latent, rig)["lips"]
    decoded = codec.decode(latent.detach() * 2.0).rig.detach().reshape(-1, RIG_SIZE).numpy()
    lips = geometry.lip_vertices
    expected = np.square((geometry.skin_vertices(decoded, lips)
                          - geometry.skin_vertices(rig.reshape(-1, RIG_SIZE).numpy(), lips))
                         * 100.0).sum(-1).mean()
    assert value.item() == pytest.approx(expected, rel=1e-4)
    value.backward()
    assert latent.grad.abs().sum() > 0
    same = codec.decode(latent.detach() * 2.0).rig.detach()
    assert loss(latent.detach(), same)["lips"].item() < 1e-10


def test_contact_term_charges_parted_lips_only_where_the_reference_touches():
    from app.avatar.rig import ARKIT_NAMES
    from app.data.teacher import default_geometry
    from app.model.codec import ExpressionCodec
    from app.training.lip_loss import LipVertexLoss

    geometry = default_geometry()
    loss = LipVertexLoss(ExpressionCodec(tiny_config()), geometry, latent_std=1.0)
    jaw = ARKIT_NAMES.index("jawOpen")
    closed, open_ = torch.zeros(RIG_SIZE), torch.zeros(RIG_SIZE)
    open_[jaw] = 0.6
    gaps_mm = geometry.lip_gap_mm(torch.stack([closed, open_]).numpy())
    assert gaps_mm[0] < 1.0 and gaps_mm[1] > 3.0
    # the gap in torch is the metrics' gap
    assert loss.lip_gap(torch.stack([closed, open_])).numpy() * 10 == pytest.approx(gaps_mm,
                                                                                   abs=1e-3)
    ref = torch.stack([closed, open_, closed])[None]  # touching, open, touching
    pred = torch.stack([open_, closed, closed])[None].requires_grad_(True)
    value = loss.contact(pred, ref)
    # only the first frame counts: parted where the reference touches; the second frame
    # (closed where the reference is open) is the lip-vertex loss's business
    excess_cm = (gaps_mm[1] - max(gaps_mm[0], 0.0)) / 10
    assert value.item() == pytest.approx(excess_cm ** 2 / 2, rel=1e-4)
    value.backward()
    assert pred.grad[0, 0, jaw] > 0 and pred.grad[0, 1:].abs().sum() == 0
    assert loss.contact(torch.stack([open_] * 3)[None], torch.stack([open_] * 3)[None]) == 0


def test_opening_term_charges_shut_lips_only_where_the_reference_is_apart():
    from app.avatar.rig import ARKIT_NAMES
    from app.data.teacher import default_geometry
    from app.model.codec import ExpressionCodec
    from app.training.lip_loss import APART_GAP_CM, LipVertexLoss

    geometry = default_geometry()
    loss = LipVertexLoss(ExpressionCodec(tiny_config()), geometry, latent_std=1.0)
    jaw = ARKIT_NAMES.index("jawOpen")
    closed, ajar, open_ = torch.zeros(RIG_SIZE), torch.zeros(RIG_SIZE), torch.zeros(RIG_SIZE)
    ajar[jaw], open_[jaw] = 0.1, 0.6
    gaps_cm = loss.lip_gap(torch.stack([closed, ajar, open_]))
    assert gaps_cm[0] < APART_GAP_CM / 2 and gaps_cm[2] > gaps_cm[1] > APART_GAP_CM
    ref = torch.stack([open_, closed, open_])[None]  # apart, touching, apart
    pred = torch.stack([closed, open_, open_])[None].requires_grad_(True)
    value = loss.opening(pred, ref)
    # only the first frame is short of the 2 mm asked of it: shut where the reference is
    # apart; the second (parted where it touches) is the contact term's business
    shortfall = APART_GAP_CM - gaps_cm[0].item()
    assert value.item() == pytest.approx(shortfall ** 2 / 2, rel=1e-4)
    value.backward()
    assert pred.grad[0, 0, jaw] < 0 and pred.grad[0, 1:].abs().sum() == 0
    # lips 2 mm apart or more cost nothing, however far from the reference's gap
    assert loss.opening(torch.stack([ajar] * 3)[None], ref).item() == 0


def test_band_masks_hide_up_to_the_asked_bands_and_reach_every_bin():
    from app.training.distill import band_masks

    masks = band_masks(500, 2, 10, torch.Generator().manual_seed(0))
    assert masks.shape == (500, 80) and masks.dtype == torch.bool
    assert int(masks.sum(1).max()) <= 20 and masks.sum(1).float().mean() > 5
    assert masks.any(0).all()  # no bin is spared throughout
    assert not band_masks(8, 0, 10, torch.Generator()).any()
    again = band_masks(500, 2, 10, torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)
    # each row is at most two runs of hidden bins
    starts = (masks[:, 1:] & ~masks[:, :-1]).sum(1) + masks[:, 0]
    assert int(starts.max()) <= 2


def test_a_band_mask_hides_those_bins_of_the_log_mel_from_the_encoder():
    config = tiny_config()
    net = DiffusionNet(config, context_frames=2).eval()
    audio = torch.randn(2, 6 * SAMPLES_PER_FRAME) * 0.1
    mask = torch.zeros(2, 80, dtype=torch.bool)
    with torch.no_grad():
        plain = net.features(audio, 4)
        assert torch.equal(net.features(audio, 4, mask), plain)
        mask[0, 10:20] = True
        hidden = net.features(audio, 4, mask)
        assert not torch.allclose(hidden[0], plain[0]) and torch.equal(hidden[1], plain[1])
        # the encoder sees bins 10-19 as the data's mean (0 after standardisation)
        mel = net.log_mel(audio)
        mel[0, :, 10:20] = 0.0
        torch.testing.assert_close(hidden, net.encoder(mel)[0][:, 2:])


def test_a_lookahead_window_hears_the_audio_after_its_frames():
    """With look-ahead L a window's audio runs L frames past its last frame (the clip's own
    audio, then silence after the clip ends); the face frames are where they were."""
    frames = 60
    audio = np.arange(frames * SAMPLES_PER_FRAME, dtype=np.float32) / 1e5 + 0.01
    rig = np.tile(np.arange(frames, dtype=np.float32)[:, None], (1, RIG_SIZE))
    clip = Clip("ramp", audio, rig, 0, 0.0, "train", None, "en")
    plain = WindowDataset([clip], 24, 8, None, seed=0)
    ahead = WindowDataset([clip], 24, 8, None, seed=0, lookahead_frames=3)
    for epoch in range(12):
        a, b = plain.window(0, epoch), ahead.window(0, epoch)
        assert torch.equal(a["rig"], b["rig"])
        assert b["audio"].numel() == a["audio"].numel() + 3 * SAMPLES_PER_FRAME
        assert torch.equal(b["audio"][:a["audio"].numel()], a["audio"])
        last = int(a["rig"][-1, 0])  # the window's last frame
        tail = b["audio"][a["audio"].numel():]
        expected = torch.from_numpy(np.pad(audio, (0, 3 * SAMPLES_PER_FRAME))[
            (last + 1) * SAMPLES_PER_FRAME:(last + 4) * SAMPLES_PER_FRAME])
        assert torch.equal(tail, expected)


def test_a_lookahead_net_hears_each_frame_that_many_frames_later():
    config = tiny_config()
    torch.manual_seed(0)
    plain = DiffusionNet(config, context_frames=4).eval()
    ahead = DiffusionNet(replace(config, lookahead_frames=2), context_frames=4).eval()
    ahead.load_state_dict(plain.state_dict())
    audio = torch.randn(2, (4 + 10 + 2) * SAMPLES_PER_FRAME) * 0.1
    with torch.no_grad():
        heard = plain.encoder(plain.log_mel(audio))[0]
        torch.testing.assert_close(plain.features(audio, 10), heard[:, 4:14])
        torch.testing.assert_close(ahead.features(audio, 10), heard[:, 6:16])
        with pytest.raises(ValueError, match="look-ahead"):
            ahead.features(audio[:, :-SAMPLES_PER_FRAME], 10)


def test_a_lookahead_student_is_distilled_from_a_student_bundle(data_dir, tmp_path):
    """`distill --lookahead-ms 40 --init-from BUNDLE` starts from that student's weights,
    writes a student that waits two frames, and it animates a clip frame for frame."""
    run_dir, out = tmp_path / "run", tmp_path / "models"
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(run_dir),
                           "--preset", "tiny", "--steps", "4"]) == 0
    assert train_cli.main(["distill", "--run", str(run_dir), "--steps", "2"]) == 0
    assert train_cli.main(["export", "--run", str(run_dir), "--out", str(out)]) == 0
    first = load_parts(out / "liveface-student.safetensors")
    with torch.no_grad():  # a student unlike its teacher, to tell where the fine-tune starts
        for weight in first.denoiser.parameters():
            weight.add_(0.5)
    save_bundle(out / "moved.safetensors", first.encoder, first.denoiser, first.codec,
                first.config)
    ahead_dir = tmp_path / "ahead"
    ahead_dir.mkdir()
    for stage in ("codec", "teacher"):
        (ahead_dir / f"{stage}.safetensors").write_bytes(
            (run_dir / f"{stage}.safetensors").read_bytes())
    (ahead_dir / "run.json").write_bytes((run_dir / "run.json").read_bytes())
    assert train_cli.main(["distill", "--run", str(ahead_dir), "--steps", "1",
                           "--lookahead-ms", "40", "--init-from",
                           str(out / "moved.safetensors")]) == 0
    state, config = load_checkpoint(ahead_dir / "distill.safetensors")
    assert config.lookahead_frames == 2 and state["lookahead_frames"] == 2
    # one step from the bundle's weights (the teacher's are 0.5 away)
    moved = [float((state["student"][f"denoiser.{name}"] - weight.detach()).abs().max())
             for name, weight in first.denoiser.named_parameters()]
    assert max(moved) < 0.05
    assert train_cli.main(["export", "--run", str(ahead_dir), "--out", str(tmp_path / "m2")]) == 0
    animator, loaded = load_animator(tmp_path / "m2" / "liveface-student.safetensors")
    assert loaded.lookahead_frames == 2
    audio = torch.from_numpy(load_split(data_dir, "test")[0].audio[None, :20 * SAMPLES_PER_FRAME])
    frames = animate_clip(animator, audio, Conditions.absent(1, 20, audio),
                          torch.randn(1, 20, loaded.latent_size))
    assert frames.rig.shape == (1, 20, RIG_SIZE) and torch.isfinite(frames.rig).all()
    with pytest.raises(SystemExit):
        train_cli.main(["distill", "--run", str(ahead_dir), "--lookahead-ms", "30"])


def test_a_lookahead_teacher_teaches_a_student_that_waits_as_long(data_dir, tmp_path,
                                                                   capsys):
    """`train --stage teacher --lookahead-ms 40` fine-tunes a teacher that hears two frames
    ahead; its student waits as long by default and may not wait less."""
    run_dir = tmp_path / "run"
    assert train_cli.main(["train", "--data", str(data_dir), "--run", str(run_dir),
                           "--preset", "tiny", "--steps", "4"]) == 0

    def fresh(name):
        path = tmp_path / name
        path.mkdir()
        for part in ("codec.safetensors", "run.json"):
            (path / part).write_bytes((run_dir / part).read_bytes())
        return path

    ahead = fresh("ahead")
    assert train_cli.main(["train", "--run", str(ahead), "--stage", "teacher", "--steps", "2",
                           "--init-from", str(run_dir / "teacher.safetensors"),
                           "--lookahead-ms", "40"]) == 0
    state, config = load_checkpoint(ahead / "teacher.safetensors")
    assert config.lookahead_frames == 2 and state["lookahead_frames"] == 2 and state["done"]
    # the offline baseline hears the whole clip: a look-ahead means nothing to it
    assert train_cli.main(["train", "--run", str(ahead), "--stage", "offline", "--steps", "2",
                           "--lookahead-ms", "40"]) == 2
    assert not (ahead / "offline.safetensors").exists()
    assert "--stage teacher" in capsys.readouterr().err
    assert train_cli.main(["distill", "--run", str(ahead), "--steps", "1"]) == 0
    state, config = load_checkpoint(ahead / "distill.safetensors")
    assert config.lookahead_frames == 2 and state["lookahead_frames"] == 2
    # a student that heard less than its teacher could not match its frames
    less = fresh("less")
    (less / "teacher.safetensors").write_bytes((ahead / "teacher.safetensors").read_bytes())
    assert train_cli.main(["distill", "--run", str(less), "--steps", "1",
                           "--lookahead-ms", "0"]) == 2
    assert "cannot hear less" in capsys.readouterr().err
    assert not (less / "distill.safetensors").exists()
    assert train_cli.main(["export", "--run", str(ahead), "--out", str(tmp_path / "m")]) == 0
    animator, loaded = load_animator(tmp_path / "m" / "liveface-teacher.safetensors")
    assert loaded.lookahead_frames == 2 and loaded.sampling_steps > 1
    audio = torch.from_numpy(load_split(data_dir, "test")[0].audio[None, :12 * SAMPLES_PER_FRAME])
    frames = animate_clip(animator, audio, Conditions.absent(1, 12, audio),
                          torch.randn(1, 12, loaded.latent_size))
    assert frames.rig.shape == (1, 12, RIG_SIZE) and torch.isfinite(frames.rig).all()
