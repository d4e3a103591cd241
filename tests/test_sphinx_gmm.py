"""The causal pocketsphinx GMM front end (app.audio.sphinx_gmm) against pocketsphinx itself
and against real speech.

- MFCC: pocketsphinx logs the cepstra it computes (`mfclogdir`); ours must equal them.
- Model files: pocketsphinx logs its senone scores (`senlogdir`); scoring its own features
  with the Gaussians and weights read here, the way it scores them, must give the same.
- Real speech (Debian's pocketsphinx-testdata): on frames the aligner puts inside p, b or
  m, the P, B and M scores must stand out from other speech and from vowels.
"""

import glob
import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import pytest

from app.errors import LivefaceError

needs_pocketsphinx = pytest.mark.skipif(
    importlib.util.find_spec("pocketsphinx") is None,
    reason="pip install pocketsphinx (the model ships in its wheel; CI installs it)",
)
TESTDATA_DIR = Path("/usr/share/pocketsphinx/test/data")
needs_testdata = pytest.mark.skipif(
    not TESTDATA_DIR.is_dir(), reason="apt-get install pocketsphinx-testdata (CI installs it)"
)
SHORT_CLIP = TESTDATA_DIR / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"
BILABIALS = ("p", "b", "m")
SCORE_COLUMNS = ("P", "B", "M")
ALIGNER_FRAME_S = 0.01


def _voice_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A gliding harmonic tone with noise bursts and a pause: audio with structure, no files."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0_hz = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0_hz) / 16000
    tone = sum(np.sin(k * phase) / k for k in range(1, 20))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    audio = 0.1 * tone * envelope + 0.02 * rng.standard_normal(len(t)) * (envelope < 0.2)
    audio[int(0.4 * len(t)): int(0.5 * len(t))] *= 0.01  # a near-silent pause
    return audio.astype(np.float32)


def _pocketsphinx_logs(pcm: np.ndarray, **config) -> tuple[bytes, bytes]:
    """Decode int16 `pcm` with pocketsphinx; the cepstra (.mfc) and senone scores (.sen)
    files it logs."""
    from pocketsphinx import Decoder

    with tempfile.TemporaryDirectory() as mfc_dir, tempfile.TemporaryDirectory() as sen_dir:
        decoder = Decoder(samprate=16000, mfclogdir=mfc_dir, senlogdir=sen_dir,
                          loglevel="FATAL", **config)
        decoder.start_utt()
        decoder.process_raw(pcm.astype("<i2").tobytes(), full_utt=True)
        decoder.end_utt()
        return tuple(Path(glob.glob(f"{folder}/*")[0]).read_bytes()
                     for folder in (mfc_dir, sen_dir))


def _mfc_frames(data: bytes) -> np.ndarray:
    """.mfc: an int32 count, then big-endian float32 cepstra."""
    return np.frombuffer(data, ">f4", offset=4).reshape(-1, 13).astype(np.float64)


def _sen_frames(data: bytes) -> np.ndarray:
    """.sen written with every senone active: a Sphinx-3 header and byte-order word, then
    per frame an int16 count and the int16 scores (-log, relative to the frame's best)."""
    offset = data.index(b"endhdr\n") + len(b"endhdr\n") + 4
    frames = []
    while offset < len(data):
        count = int(np.frombuffer(data, "<i2", 1, offset)[0])
        frames.append(np.frombuffer(data, "<i2", count, offset + 2))
        offset += 2 + 2 * count
    return np.array(frames, np.float64)


# ---------------------------------------------------------------- model and front end


@needs_pocketsphinx
def test_the_model_has_one_codebook_per_arpabet_phone():
    from app.audio.sphinx_gmm import load_model, model_dir, phone_names, read_ci_senones

    names = phone_names()
    assert len(names) == 42 and len(set(names)) == 42
    assert {"AA", "AE", "B", "M", "P", "SIL", "ZH"} <= set(names)
    _, ci_senones = read_ci_senones(model_dir() / "mdef")
    assert np.array_equal(ci_senones, np.arange(126).reshape(42, 3))  # sphinxtrain's order
    model = load_model()
    assert model.weights.shape == (3, 42, 128, 3)  # streams, phones, Gaussians, states
    assert np.allclose(model.weights.sum(axis=2), 1.0)
    assert model.settings.n_filters == 25 and model.settings.remove_noise


@needs_pocketsphinx
def test_mel_filters_span_feat_params_range_with_unit_area():
    from app.audio.sphinx_gmm import (
        FFT_SIZE,
        load_model,
        mel_filter_edges_hz,
        mel_filterbank,
    )

    settings = load_model().settings  # feat.params: -lowerf 130 -upperf 6800 -nfilt 25
    bin_hz = 16000 / FFT_SIZE
    edges_hz = mel_filter_edges_hz(settings)
    assert len(edges_hz) == 27
    assert edges_hz[0] == 125.0 and edges_hz[-1] == 6812.5  # 130 and 6800 Hz on FFT bins
    assert np.all(np.diff(edges_hz) > 0)
    assert np.allclose(mel_filterbank(settings).sum(axis=0) * bin_hz, 1.0)


@needs_pocketsphinx
def test_cepstra_equal_pocketsphinx_own():
    from app.audio.sphinx_gmm import HISTORY_SAMPLES, sphinx_cepstra

    pcm = np.round(_voice_like(2.0) * 32768).astype(np.int16)
    ours = sphinx_cepstra(pcm / 32768.0)
    # our frame k ends at sample 160 (k + 1): pocketsphinx's frame k once 250 zeros lead
    mfc, _ = _pocketsphinx_logs(np.concatenate([np.zeros(HISTORY_SAMPLES, np.int16), pcm]))
    theirs = _mfc_frames(mfc)
    assert len(ours) == len(pcm) // 160
    assert np.abs(ours - theirs[: len(ours)]).max() < 1e-3  # float32 rounding in theirs


@needs_pocketsphinx
@needs_testdata
def test_senone_scores_equal_pocketsphinx_own():
    """The model files are read right: pocketsphinx's own features, scored with the
    Gaussians and CI mixture weights read here the way pocketsphinx scores them (per stream,
    Gaussians in 0.1-nat steps and at most 96 steps below the best), give its scores."""
    from app.audio.io import read_audio
    from app.audio.sphinx_gmm import SENDUMP_NATS_PER_STEP, load_model

    pcm = np.round(read_audio(SHORT_CLIP) * 32768).astype(np.int16)
    mfc, sen = _pocketsphinx_logs(pcm, compallsen=True, topn=128, fwdflat=False,
                                  bestpath=False, pl_window=0)  # one pass: one row a frame
    cepstra, senones = _mfc_frames(mfc), _sen_frames(sen)
    features = _centred_deltas(cepstra - cepstra.mean(axis=0))  # its batch CMN and deltas
    model, step = load_model(), SENDUMP_NATS_PER_STEP
    ours = np.zeros((len(features), 42, 3))
    for stream in range(3):
        x = features[:, stream]
        gauss = (np.concatenate([x * x, x], axis=1) @ model.quadratic[stream]
                 + model.constant[stream]) / step
        below_best = np.minimum(gauss.max(axis=1, keepdims=True) // 1 - gauss // 1, 96)
        densities = np.exp(-below_best * step).reshape(len(x), 42, 128)
        ours += np.log(np.einsum("tpk,pks->tps", densities, model.weights[stream]))
    ours = ours.reshape(len(features), -1)
    theirs = -senones[:, :126] * step  # CI senones come first: phone by phone, state by state
    ours, theirs = (s - s.max(axis=1, keepdims=True) for s in (ours, theirs))
    assert np.median(np.abs(ours - theirs)) < 0.7  # nats; 0.46 measured (8-bit log-adds)
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99


def _centred_deltas(cepstra: np.ndarray) -> np.ndarray:
    """pocketsphinx's 1s_c_d_dd over a whole utterance, its ends padded by repetition."""
    padded = np.concatenate([np.repeat(cepstra[:1], 3, 0), cepstra, np.repeat(cepstra[-1:], 3, 0)])

    def at(offset: int) -> np.ndarray:  # c[t + offset] for every t
        return padded[3 + offset: 3 + offset + len(cepstra)]

    return np.stack([at(0), at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))], axis=1)


def test_a_missing_model_says_what_to_do(tmp_path):
    from app.audio.sphinx_gmm import check_model_dir

    with pytest.raises(LivefaceError, match="reinstall"):
        check_model_dir(tmp_path)


# ---------------------------------------------------------------- causality and streaming


@needs_pocketsphinx
def test_streaming_equals_the_whole_clip():
    from app.audio.sphinx_gmm import (
        BLOCK_SAMPLES,
        SphinxPhoneScorer,
        sphinx_phone_scores,
    )

    audio = _voice_like(1.6, seed=1)
    whole = sphinx_phone_scores(audio)
    scorer = SphinxPhoneScorer()
    for sizes in ([BLOCK_SAMPLES], [160, 480, 960, 320, 1600]):
        state, rows, start = scorer.initial_state(), [], 0
        for index in range(10_000):
            size = sizes[index % len(sizes)]
            if start + size > len(audio):
                break
            scores, state = scorer.step(state, audio[start: start + size])
            assert len(scores) == size // 160  # a 320-sample block: exactly two frames
            rows.append(scores)
            start += size
        streamed = np.concatenate(rows)
        assert np.abs(streamed - whole[: len(streamed)]).max() < 1e-5


@needs_pocketsphinx
def test_scores_are_causal_log_posteriors():
    from app.audio.sphinx_gmm import phone_names, sphinx_phone_scores

    audio = _voice_like(1.0, seed=2)
    scores = sphinx_phone_scores(audio)
    assert scores.shape == (100, len(phone_names())) and scores.dtype == np.float32
    assert np.allclose(np.log(np.exp(scores.astype(np.float64)).sum(axis=1)), 0.0, atol=1e-4)
    changed = audio.copy()
    changed[8000:] = np.random.default_rng(3).standard_normal(8000) * 0.3  # from 0.5 s on
    after = sphinx_phone_scores(changed)
    assert np.array_equal(after[:50], scores[:50])  # rows whose windows end by 0.5 s
    assert not np.allclose(after[50:], scores[50:])
    for odd in (np.zeros(3200), np.full(3200, np.nan)):
        assert np.all(np.isfinite(sphinx_phone_scores(odd)))


@needs_pocketsphinx
def test_mean_normalisation_adapts_to_the_level_from_the_past_only():
    from app.audio.sphinx_gmm import SphinxPhoneScorer, _normalise_mean, sphinx_cepstra

    state = SphinxPhoneScorer().initial_state()
    audio = _voice_like(6.0, seed=4)
    loud, quiet = (sphinx_cepstra(audio * gain) for gain in (1.0, 0.1))
    normalised = [_normalise_mean(c, state.cmn_mean, state.cmn_weight)[0] for c in (loud, quiet)]
    gap = np.abs(normalised[0][:, 0] - normalised[1][:, 0])  # c0 differs by the level
    assert gap[-50:].mean() < 0.3 * gap[:10].mean()
    first, _, _ = _normalise_mean(loud[:1], state.cmn_mean, state.cmn_weight)
    assert np.allclose(first[0], loud[0] - state.cmn_mean)  # frame 0: the initial mean only


# ---------------------------------------------------------------- real speech


def _row_times_s(n_rows: int) -> np.ndarray:
    """Aligner time each score row describes. Row t is frame t - DELAY_FRAMES, whose window
    starts 250 samples before the aligner's frame of the same index; the aligner stamps
    frame j as [j, j + 1) * 10 ms."""
    from app.audio.sphinx_gmm import DELAY_FRAMES, HISTORY_SAMPLES, HOP_SAMPLES

    aligner_frame = np.arange(n_rows) - DELAY_FRAMES - HISTORY_SAMPLES / HOP_SAMPLES
    return (aligner_frame + 0.5) * ALIGNER_FRAME_S


def _auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(a positive frame scores above a negative one), ties half."""
    ranks = np.concatenate([positives, negatives]).argsort().argsort() + 1.0
    wins = ranks[: len(positives)].sum() - len(positives) * (len(positives) + 1) / 2
    return float(wins / (len(positives) * len(negatives)))


@needs_pocketsphinx
@needs_testdata
def test_bilabial_scores_stand_out_on_librivox_speech():
    from app.audio.io import read_audio
    from app.audio.sphinx_gmm import phone_names, sphinx_phone_scores
    from app.data.align import align
    from app.data.phones import VOWELS
    from app.data.realspeech import real_speech_clips
    from app.data.timeline import SILENCE

    columns = [phone_names().index(name) for name in SCORE_COLUMNS]
    bilabial, other, vowel = [], [], []
    clips = [c for c in real_speech_clips() if c.id.startswith("librivox-")]
    assert len(clips) == 5
    for clip in clips:
        audio = read_audio(clip.audio_path)
        timeline = align(audio, clip.text)
        scores = sphinx_phone_scores(audio)
        lips = np.logaddexp.reduce(scores[:, columns], axis=1)  # log P(P or B or M)
        heard = [timeline.phone_at(t) for t in _row_times_s(len(scores))]
        labels = np.array([p.phone if p else SILENCE for p in heard])
        is_bilabial = np.isin(labels, BILABIALS)
        bilabial.append(lips[is_bilabial])
        other.append(lips[~is_bilabial & (labels != SILENCE)])
        vowel.append(lips[np.isin(labels, VOWELS)])
    bilabial, other, vowel = map(np.concatenate, (bilabial, other, vowel))
    auc = _auc(bilabial, other)
    print(f"p/b/m vs other speech frames: AUC {auc:.3f} ({len(bilabial)} vs {len(other)}), "
          f"vs vowels {_auc(bilabial, vowel):.3f}; mean log P(P|B|M) {bilabial.mean():.2f} "
          f"in p/b/m, {vowel.mean():.2f} in vowels")
    assert len(bilabial) > 150
    assert auc > 0.9  # 0.924 measured; chance is 0.5
    assert bilabial.mean() > vowel.mean() + 3.0  # nats; 7.7 measured
