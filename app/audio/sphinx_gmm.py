"""Phone scores from pocketsphinx's en-us acoustic model, causal, every 10 ms, numpy only.

The model
---------
pocketsphinx's wheel ships a US English acoustic model (`pocketsphinx/model/en-us/en-us/`,
"generic US english acoustic model trained with latest sphinxtrain" says its README),
CMUSphinx's acoustic model trained on recorded US English speech (the README does not name
the corpora). Its licence is the BSD-style 2-clause CMU
licence: the model's README carries "Copyright (c) 2015 Alpha Cephei Inc." and the wheel's
`licenses/LICENSE` "Copyright (c) 1999-2016 Carnegie Mellon University"; both permit
redistribution and use in source and binary form, with or without modification, if the
copyright notice, the two conditions and the disclaimer are kept, and both disclaim every
warranty.

It is a phonetically-tied mixture (PTM) model: each of the 42 context-independent (CI)
phones (39 ARPAbet phones, SIL, and the fillers +NSN+ noise and +SPN+ speech noise) owns a
codebook of 128 diagonal Gaussians per feature stream, and every senone (HMM state) of
that phone, in any triphone context, is a different set of mixture weights over the same
codebook. There are three streams, 13 numbers each: cepstra, their deltas and their
delta-deltas (`feat.params`: `-feat 1s_c_d_dd -svspec 0-12/13-25/26-38`).

What a phone's score is
-----------------------
A phone's score in a frame is the likelihood of the frame under its codebook, weighted by
the phone's own context-independent senones (its three HMM states, begin, middle and end):
for each state, the product over the three streams of the weighted sum over all 128
Gaussians (exact, not pocketsphinx's top-4 shortcut), then the mean over the three states
(as if each state were equally likely). That is the emission likelihood of "some part of
this phone" with the CI mixture weights as the codebook's representative weights. The
vector is then normalised per frame with a log-sum-exp over phones, so each frame is a
log-posterior over the 42 phones under a uniform phone prior (rows of exp() sum to 1).

The front end (what pocketsphinx does, and where this one differs)
------------------------------------------------------------------
The MFCC reproduces pocketsphinx's as `feat.params` configures it: int16-scale samples,
pre-emphasis 0.97, a 410-sample (25.625 ms) Hamming window every 160 samples, a 512-point
FFT, 25 mel triangles from 130 to 6800 Hz (edges rounded to FFT bins, unit area),
pocketsphinx's spectral noise subtraction (`-remove_noise yes`), log with a 1e-4 floor, an
orthonormal DCT-II to 13 cepstra and a sine lifter of 22. The cepstra equal the ones
pocketsphinx itself logs (`mfclogdir`) to float32 rounding, see tests/test_sphinx_gmm.py.

What is causal (and what therefore differs from pocketsphinx's batch use):
- frame k's window ends at sample 160 (k + 1) of the stream, i.e. it covers samples
  [160 k - 250, 160 k + 160) with zeros before the clip start; a 320-sample (20 ms) block
  completes exactly two frames;
- the noise subtraction follows pocketsphinx's recursive estimator (pocketsphinx's design: a
  smoothed power, slow lower envelopes for noise and signal floor, temporal masking, a
  gain clamped to 1/20..20 and smoothed over neighbouring filters), causal by design;
- cepstral mean normalisation (`-cmn batch` in feat.params, a whole-utterance mean) is
  replaced by a running mean over the past frames only: it starts at pocketsphinx's live
  initial value (`-cmninit 40,3,-1`) weighted as CMN_PRIOR_FRAMES frames, grows over the
  frames seen and then forgets exponentially with a window of CMN_WINDOW_FRAMES frames.
  Frame t is normalised by the mean of the frames before t; frames of digital silence
  (c0 < 0) are skipped, as pocketsphinx's live CMN skips them;
- pocketsphinx's deltas look 3 frames ahead (d[t] = c[t+2] - c[t-2],
  dd[t] = (c[t+3] - c[t-1]) - (c[t+1] - c[t-3])). Here score row t is pocketsphinx's own
  feature vector of frame t - 3, which the past already holds (row t needs audio up to
  sample 160 (t + 1), no later): a fixed delay of DELAY_FRAMES = 3 frames (30 ms), and
  no mixing of times, so the model sees exactly the
  (cepstra, delta, delta-delta) combinations it was trained on. At the stream start the
  first frame stands in for the frames before it, as pocketsphinx pads an utterance.
  (The alternative, scoring the newest cepstra with the newest past-only deltas
  c[t] - c[t-4] and (c[t] - c[t-4]) - (c[t-2] - c[t-6]), mixes three times in one
  vector; on the five LibriVox clips it told p/b/m frames from other speech less well:
  AUC 0.90 at its best label offset against 0.93 here.)

Costs
-----
Measured with OMP_NUM_THREADS=1 on `model name : Intel(R) Xeon(R) Processor` (from
`cat /proc/cpuinfo | grep 'model name' | head -1`; a 2-core VM, load average ~2.5 from
other work at the time), a 7 s LibriVox clip:
    streaming, 320-sample blocks:  0.25 ms per 10 ms frame (0.5 ms per block)
    whole clip at once:            0.19 ms per frame
most of it the 3 x 5376 Gaussians. Reading the model once takes 0.02-0.1 s.

Pure numpy: the only I/O is reading the model files once, lazily (cached). A missing
model raises `LivefaceError` saying how to reinstall pocketsphinx.
"""

import functools
import importlib.util
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.audio.contract import SAMPLE_RATE_HZ
from app.errors import LivefaceError

MODEL_SUBDIR = Path("model") / "en-us" / "en-us"
MODEL_FILES = ("feat.params", "mdef", "means", "variances", "sendump")

# pocketsphinx's front-end constants that feat.params does not override (its defaults)
HOP_SAMPLES = 160  # 10 ms: 100 frames per second
WINDOW_SAMPLES = 410  # 0.025625 s at 16 kHz
FFT_SIZE = 512
PRE_EMPHASIS = 0.97
N_CEPSTRA = 13
LOG_FLOOR = 1e-4  # added to each mel energy before the log
INT16_SCALE = 32768.0  # pocketsphinx works on int16 sample values
HISTORY_SAMPLES = WINDOW_SAMPLES - HOP_SAMPLES  # 250 samples of history per frame
BLOCK_SAMPLES = 2 * HOP_SAMPLES  # one 20 ms animation frame

# causal cepstral mean normalisation
CMN_INITIAL_MEAN = (40.0, 3.0, -1.0)  # pocketsphinx's -cmninit default; other cepstra 0
CMN_PRIOR_FRAMES = 100.0  # the initial mean counts as 1 s of frames
CMN_WINDOW_FRAMES = 500.0  # then an exponential mean over ~5 s (pocketsphinx's CMN_WIN)

# pocketsphinx's deltas, d = c[t+2] - c[t-2], dd = d[t+1] - d[t-1], made causal by delay
DELTA_SPAN_FRAMES = 2
DELAY_FRAMES = DELTA_SPAN_FRAMES + 1  # score row t describes frame t - 3
HISTORY_FRAMES = 2 * DELAY_FRAMES  # 6 past frames kept

# pocketsphinx's spectral noise subtraction (its settings)
NOISE_POWER_SMOOTHING = 0.7
NOISE_RISE = 0.995  # the lower envelope follows a rising signal slowly...
NOISE_FALL = 0.5  # ...and a falling one fast
MASK_DECAY = 0.85  # temporal masking: a filter's peak decays by this per frame...
MASK_FLOOR = 0.2  # ...and a signal well below it is lowered to this share of the peak
MAX_GAIN = 20.0
GAIN_SMOOTH_BINS = 4

# the model
SENDUMP_NATS_PER_STEP = 1024 * np.log(1.0001)  # -log weights in log base 1.0001, >> 10 bits
SENDUMP_MAX_TITLE_BYTES = 1000  # how pocketsphinx tells the file's byte order
VARIANCE_FLOOR = 1e-4  # pocketsphinx's -varfloor default
S3_BYTE_ORDER_MAGIC = 0x11223344


# ----------------------------------------------------------------------- model files


def model_dir() -> Path:
    """The en-us model folder inside the installed pocketsphinx wheel, checked."""
    spec = importlib.util.find_spec("pocketsphinx")
    if spec is None or not spec.submodule_search_locations:
        raise LivefaceError(
            "pocketsphinx is not installed; run 'pip install pocketsphinx' (or "
            "'pip install liveface[train]') for its en-us acoustic model."
        )
    return check_model_dir(Path(list(spec.submodule_search_locations)[0]) / MODEL_SUBDIR)


def check_model_dir(folder: Path) -> Path:
    """`folder` if it holds every model file this module reads, else a clear error."""
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise LivefaceError(
            f"pocketsphinx's en-us model in {folder} lacks {', '.join(missing)}; reinstall it "
            "with 'pip install --force-reinstall pocketsphinx'."
        )
    return folder


def read_feat_params(path: Path) -> dict[str, str]:
    """'-name value' lines, e.g. {'lowerf': '130', 'nfilt': '25', ...}."""
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {name.lstrip("-"): value.strip() for name, value in pairs}


def _s3_payload(path: Path) -> tuple[bytes, int, str]:
    """A Sphinx-3 binary file's bytes, where its data starts, and its byte order."""
    data = path.read_bytes()
    end = data.find(b"endhdr\n")
    if end < 0:
        raise LivefaceError(f"{path} is not a Sphinx-3 model file; reinstall pocketsphinx.")
    start = end + len(b"endhdr\n")
    for order in "<>":
        if struct.unpack_from(order + "I", data, start)[0] == S3_BYTE_ORDER_MAGIC:
            return data, start + 4, order
    raise LivefaceError(f"{path} has no byte-order mark; reinstall pocketsphinx.")


def read_gaussian_params(path: Path) -> np.ndarray:
    """`means` or `variances`: (codebooks, streams, densities, 13) float64."""
    data, offset, order = _s3_payload(path)
    n_codebook, n_stream, n_density = struct.unpack_from(order + "3i", data, offset)
    offset += 12
    stream_lengths = struct.unpack_from(order + f"{n_stream}i", data, offset)
    offset += 4 * n_stream + 4  # the lengths, then the total count of floats
    if len(set(stream_lengths)) != 1:
        raise LivefaceError(f"{path}: streams of unequal length {stream_lengths}; "
                            "reinstall pocketsphinx to restore its en-us model.")
    count = n_codebook * n_stream * n_density * stream_lengths[0]
    values = np.frombuffer(data, order + "f4", count, offset).astype(np.float64)
    return values.reshape(n_codebook, n_stream, n_density, stream_lengths[0])


def read_sendump(path: Path) -> np.ndarray:
    """Mixture weights as -log(weight) in nats, (streams, densities, senones) float64.

    The file: length-prefixed header strings up to a zero length, then int32 rows
    (densities) and columns (senones), then uint8 -log weights stream by stream.
    """
    data = path.read_bytes()
    if not 0 < struct.unpack_from("<i", data)[0] < SENDUMP_MAX_TITLE_BYTES:
        raise LivefaceError(f"{path} is not a little-endian sendump; reinstall pocketsphinx.")
    offset, header = 0, {}
    while (length := struct.unpack_from("<i", data, offset)[0]) != 0:
        text = data[offset + 4: offset + 4 + length].rstrip(b"\0").decode("ascii", "replace")
        key, _, value = text.partition(" ")
        header[key] = value
        offset += 4 + length
    n_density, n_senone = struct.unpack_from("<2i", data, offset + 4)
    n_stream = int(header.get("feature_count", "1"))
    if header.get("cluster_count", "0") != "0":
        raise LivefaceError(f"{path}: clustered (4-bit) mixture weights are unsupported.")
    steps = np.frombuffer(data, np.uint8, n_stream * n_density * n_senone, offset + 12)
    return steps.reshape(n_stream, n_density, n_senone) * SENDUMP_NATS_PER_STEP


def read_ci_senones(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """The binary `mdef`: CI phone names and each CI phone's senone ids (phones, states)."""
    data = path.read_bytes()
    if data[:4] != b"BMDF":  # little-endian binary mdef
        raise LivefaceError(f"{path} is not a little-endian binary model definition; "
                            "reinstall pocketsphinx.")
    header_bytes = struct.unpack_from("<i", data, 8)[0]
    offset = 12 + header_bytes
    counts = struct.unpack_from("<10i", data, offset)
    n_ci, n_phone, n_state, n_sseq, n_tree = (counts[i] for i in (0, 1, 2, 6, 8))
    names_start = offset + 40
    names = data[names_start:].split(b"\0", n_ci)[:n_ci]
    names_bytes = sum(len(name) + 1 for name in names)
    tree_start = names_start + (names_bytes + 3) // 4 * 4  # padded to 4 bytes
    phones_start = tree_start + 8 * n_tree  # tree nodes: int16, int16, int32
    ci_entries = np.frombuffer(data, "<i4", 3 * n_ci, phones_start).reshape(n_ci, 3)
    sseq_start = phones_start + 12 * n_phone + 4  # phone entries, then the sseq size
    sseq = np.frombuffer(data, "<i2", n_sseq * n_state, sseq_start).reshape(n_sseq, n_state)
    return tuple(name.decode("ascii") for name in names), sseq[ci_entries[:, 0]].astype(int)


@dataclass(frozen=True)
class FrontEndSettings:
    lower_hz: float
    upper_hz: float
    n_filters: int
    lifter: int
    remove_noise: bool


@dataclass(frozen=True)
class SphinxModel:
    """What scoring needs, precomputed: log N(x) = [x*x, x] @ quadratic[s] + constant[s]."""

    phone_names: tuple[str, ...]
    settings: FrontEndSettings
    quadratic: np.ndarray  # (streams, 2 * 13, phones * densities)
    constant: np.ndarray  # (streams, phones * densities)
    weights: np.ndarray  # (streams, phones, densities, states) CI mixture weights, sum 1


def front_end_settings(params: dict[str, str]) -> FrontEndSettings:
    expected = {"transform": "dct", "feat": "1s_c_d_dd", "svspec": "0-12/13-25/26-38",
                "model": "ptm", "varnorm": "no", "agc": "none"}
    for name, value in expected.items():
        if params.get(name, value) != value:
            raise LivefaceError(
                f"feat.params sets -{name} {params[name]}; only {value} is supported: "
                "reinstall pocketsphinx to restore its en-us model."
            )
    return FrontEndSettings(
        float(params["lowerf"]), float(params["upperf"]), int(params["nfilt"]),
        int(params.get("lifter", "0")), params.get("remove_noise", "no") == "yes",
    )


@functools.cache
def load_model() -> SphinxModel:
    """Read and precompute pocketsphinx's en-us model once per process."""
    folder = model_dir()
    settings = front_end_settings(read_feat_params(folder / "feat.params"))
    names, ci_senones = read_ci_senones(folder / "mdef")
    means = read_gaussian_params(folder / "means")  # (phones, streams, densities, 13)
    variances = np.maximum(read_gaussian_params(folder / "variances"), VARIANCE_FLOOR)
    if means.shape[0] != len(names):
        raise LivefaceError(f"{folder}: {means.shape[0]} codebooks for {len(names)} CI phones; "
                            "only a phonetically-tied (PTM) model is supported.")
    quadratic, constant = _gaussian_terms(means, variances)
    weights = _ci_weights(read_sendump(folder / "sendump"), ci_senones)
    return SphinxModel(names, settings, quadratic, constant, weights)


def _gaussian_terms(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log N(x; mu, var) = sum(-x^2 / 2var + x mu / var) - sum(mu^2 / 2var + log(2 pi var) / 2)."""
    n_phone, n_stream, n_density, dim = means.shape
    to_stream_major = (1, 3, 0, 2)  # (streams, dims, phones, densities)
    square_term = (-0.5 / variances).transpose(to_stream_major)
    linear_term = (means / variances).transpose(to_stream_major)
    quadratic = np.concatenate([square_term, linear_term], axis=1)
    quadratic = quadratic.reshape(n_stream, 2 * dim, n_phone * n_density)
    constant = -0.5 * np.sum(means**2 / variances + np.log(2 * np.pi * variances), axis=-1)
    return quadratic, constant.transpose(1, 0, 2).reshape(n_stream, n_phone * n_density)


def _ci_weights(neg_log_weights: np.ndarray, ci_senones: np.ndarray) -> np.ndarray:
    """(streams, phones, densities, states) weights of each CI phone's own senones.

    The 8-bit quantisation loses a few per cent of each mixture's mass, so every senone's
    weights are renormalised to sum to 1 per stream.
    """
    weights = np.exp(-neg_log_weights[:, :, ci_senones])  # (streams, densities, phones, states)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.transpose(0, 2, 1, 3).copy()


# ------------------------------------------------------------------------- front end


def hz_to_mel(freq_hz):
    return 2595.0 * np.log10(1.0 + np.asarray(freq_hz, np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filter_edges_hz(settings: FrontEndSettings) -> np.ndarray:
    """(n_filters + 2,) filter corners, evenly spaced in mel and rounded to FFT bins."""
    mels = np.linspace(hz_to_mel(settings.lower_hz), hz_to_mel(settings.upper_hz),
                       settings.n_filters + 2)
    bin_hz = SAMPLE_RATE_HZ / FFT_SIZE
    return np.floor(mel_to_hz(mels) / bin_hz + 0.5) * bin_hz


def mel_filterbank(settings: FrontEndSettings) -> np.ndarray:
    """(FFT_SIZE // 2 + 1, n_filters) triangles of unit area, as pocketsphinx builds them."""
    edges_hz = mel_filter_edges_hz(settings)
    low, centre, high = edges_hz[:-2], edges_hz[1:-1], edges_hz[2:]
    fft_hz = np.arange(FFT_SIZE // 2 + 1)[:, None] * (SAMPLE_RATE_HZ / FFT_SIZE)
    rising = (fft_hz - low) / (centre - low)
    falling = (high - fft_hz) / (high - centre)
    triangles = np.clip(np.minimum(rising, falling), 0.0, None)
    triangles[-1] = 0.0  # pocketsphinx stops every filter before the Nyquist bin
    return triangles * (2.0 / (high - low))


@functools.cache
def _dct_matrix(n_filters: int, lifter: int) -> np.ndarray:
    """(n_filters, 13) orthonormal DCT-II followed by the sine lifter."""
    cepstrum = np.arange(N_CEPSTRA)
    filter_centres = np.arange(n_filters)[:, None] + 0.5
    cosines = np.cos(np.pi / n_filters * cepstrum[None, :] * filter_centres)
    scale = np.where(cepstrum == 0, np.sqrt(1.0 / n_filters), np.sqrt(2.0 / n_filters))
    lift = 1.0 + lifter / 2.0 * np.sin(np.pi * cepstrum / lifter) if lifter else 1.0
    return cosines * scale * lift


@functools.cache
def _analysis_tables(settings: FrontEndSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.hamming(WINDOW_SAMPLES), mel_filterbank(settings), _dct_matrix(
        settings.n_filters, settings.lifter)


def _frames(history: np.ndarray, samples: np.ndarray, last_sample: float):
    """Pre-emphasise `samples` and cut the windows that end in them, (frames, 410).

    Returns the frames, the new 250-sample history (pre-emphasised) and the last raw sample.
    """
    previous = np.concatenate([[last_sample], samples[:-1]])
    emphasised = np.concatenate([history, samples - PRE_EMPHASIS * previous])
    n_frames = len(samples) // HOP_SAMPLES
    starts = np.arange(n_frames)[:, None] * HOP_SAMPLES
    frames = emphasised[starts + np.arange(WINDOW_SAMPLES)]
    last = samples[-1] if len(samples) else last_sample
    return frames, emphasised[len(emphasised) - HISTORY_SAMPLES:], float(last)


def _mel_energies(frames: np.ndarray, settings: FrontEndSettings) -> np.ndarray:
    window, filterbank, _ = _analysis_tables(settings)
    spectrum = np.fft.rfft(frames * window, n=FFT_SIZE)
    power = spectrum.real**2 + spectrum.imag**2
    return power @ filterbank


def _cepstra(mel: np.ndarray, settings: FrontEndSettings) -> np.ndarray:
    return np.log(mel + LOG_FLOOR) @ _analysis_tables(settings)[2]


@dataclass(frozen=True)
class NoiseState:
    """pocketsphinx's noise tracker per mel filter: smoothed power, noise and signal floors,
    and the decaying peak used for temporal masking."""

    power: np.ndarray
    noise: np.ndarray
    floor: np.ndarray
    peak: np.ndarray


def _initial_noise(mel: np.ndarray) -> NoiseState:
    return NoiseState(mel.copy(), mel / MAX_GAIN, mel / MAX_GAIN, np.zeros_like(mel))


def _lower_envelope(envelope: np.ndarray, signal: np.ndarray) -> np.ndarray:
    rate = np.where(signal >= envelope, NOISE_RISE, NOISE_FALL)
    return rate * envelope + (1.0 - rate) * signal


def _smooth_gain(gain: np.ndarray) -> np.ndarray:
    """Each filter's gain averaged with up to GAIN_SMOOTH_BINS neighbours on either side."""
    padded_sum = np.concatenate([[0.0], np.cumsum(gain)])
    index = np.arange(len(gain))
    low = np.maximum(index - GAIN_SMOOTH_BINS, 0)
    high = np.minimum(index + GAIN_SMOOTH_BINS, len(gain) - 1) + 1
    return (padded_sum[high] - padded_sum[low]) / (high - low)


def _denoise_frame(mel: np.ndarray, state: NoiseState | None) -> tuple[np.ndarray, NoiseState]:
    """One frame of pocketsphinx's spectral noise subtraction (causal, recursive)."""
    if state is None:
        state = _initial_noise(mel)
    power = NOISE_POWER_SMOOTHING * state.power + (1 - NOISE_POWER_SMOOTHING) * mel
    noise = _lower_envelope(state.noise, power)
    signal = np.maximum(power - noise, 1.0)
    floor = _lower_envelope(state.floor, signal)
    peak = state.peak * MASK_DECAY
    masked = np.where(signal < MASK_DECAY * peak, peak * MASK_FLOOR, signal)
    peak = np.maximum(peak, signal)
    masked = np.maximum(masked, floor)
    gain = np.divide(masked, power, out=np.full_like(power, MAX_GAIN), where=power > 0)
    gain = np.clip(gain, 1.0 / MAX_GAIN, MAX_GAIN)
    return mel * _smooth_gain(gain), NoiseState(power, noise, floor, peak)


def _denoise(mel: np.ndarray, state: NoiseState | None):
    out = np.empty_like(mel)
    for index, frame in enumerate(mel):
        out[index], state = _denoise_frame(frame, state)
    return out, state


def _normalise_mean(cepstra: np.ndarray, mean: np.ndarray, weight: float):
    """Causal CMN: each frame minus the running mean of the frames before it."""
    out = np.empty_like(cepstra)
    for index, frame in enumerate(cepstra):
        out[index] = frame - mean
        if frame[0] >= 0.0:  # skip digital silence, as pocketsphinx's live CMN does
            weight = min(weight + 1.0, CMN_WINDOW_FRAMES)
            mean = mean + (frame - mean) / weight
    return out, mean, weight


def _stack_deltas(cepstra: np.ndarray, recent: np.ndarray | None):
    """(frames, 3, 13) pocketsphinx's (c, d, dd) of each frame DELAY_FRAMES back.

    `recent` is the last HISTORY_FRAMES normalised cepstra (None at the stream start, where
    the first frame stands in for the frames before it). Returns the features and the new
    `recent`.
    """
    if recent is None:
        recent = np.repeat(cepstra[:1], HISTORY_FRAMES, axis=0)
    series = np.concatenate([recent, cepstra])
    n_frames = len(cepstra)

    def shifted(offset: int) -> np.ndarray:  # c[centre + offset] for every centre
        start = DELAY_FRAMES + offset
        return series[start: start + n_frames]

    delta = shifted(DELTA_SPAN_FRAMES) - shifted(-DELTA_SPAN_FRAMES)
    later = shifted(DELTA_SPAN_FRAMES + 1) - shifted(1 - DELTA_SPAN_FRAMES)
    earlier = shifted(DELTA_SPAN_FRAMES - 1) - shifted(-1 - DELTA_SPAN_FRAMES)
    features = np.stack([shifted(0), delta, later - earlier], axis=1)
    return features, series[len(series) - HISTORY_FRAMES:]


# ------------------------------------------------------------------------- scoring


def ci_senone_log_likelihoods(features: np.ndarray, model: SphinxModel) -> np.ndarray:
    """(frames, phones, states) log p(frame | CI senone), exact over all 128 Gaussians.

    `features` is (frames, streams, 13). Per stream: every Gaussian of every codebook
    at once, then the weighted sum over each codebook's Gaussians; streams multiply.
    """
    n_frames, n_stream, _ = features.shape
    n_phone, n_density, n_state = model.weights.shape[1:]
    total = np.zeros((n_frames, n_phone, n_state))
    for stream in range(n_stream):
        x = features[:, stream]
        gauss = np.concatenate([x * x, x], axis=1) @ model.quadratic[stream]
        gauss = (gauss + model.constant[stream]).reshape(n_frames, n_phone, n_density)
        peak = gauss.max(axis=2, keepdims=True)
        mixture = np.exp(gauss - peak).transpose(1, 0, 2) @ model.weights[stream]  # (p, t, s)
        total += np.log(mixture.transpose(1, 0, 2)) + peak
    return total


def phone_log_likelihoods(features: np.ndarray, model: SphinxModel) -> np.ndarray:
    """(frames, phones) log p(frame | phone): the mean over the phone's CI states."""
    senones = ci_senone_log_likelihoods(features, model)
    return _log_sum_exp(senones, axis=2) - np.log(senones.shape[2])


def _log_sum_exp(values: np.ndarray, axis: int) -> np.ndarray:
    peak = values.max(axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.exp(values - peak).sum(axis=axis))


def log_posteriors(log_likelihoods: np.ndarray) -> np.ndarray:
    """Per-frame normalisation: log p(phone | frame) under a uniform phone prior."""
    return log_likelihoods - _log_sum_exp(log_likelihoods, axis=1)[:, None]


# ------------------------------------------------------------------------- streaming


@dataclass(frozen=True)
class SphinxState:
    """Everything a stream carries from one block to the next."""

    history: np.ndarray  # the last 250 pre-emphasised samples (int16 scale)
    last_sample: float  # the last raw sample, for pre-emphasis
    noise: NoiseState | None  # None before the first frame
    cmn_mean: np.ndarray  # (13,) running cepstral mean
    cmn_weight: float  # how many frames the running mean stands for
    recent: np.ndarray | None  # (6, 13) last normalised cepstra, for the deltas


class SphinxPhoneScorer:
    """Block-by-block phone log-posteriors: `step(state, block) -> (scores, state)`.

    `block` is float audio in [-1, 1] at 16 kHz, any multiple of 160 samples; a 320-sample
    block gives exactly two frames. `scores` is (frames, len(phone_names)) float32, one row
    per 10 ms frame ending in the block, describing the frame DELAY_FRAMES earlier.
    """

    def __init__(self, model: SphinxModel | None = None):
        self.model = model or load_model()
        self.phone_names = self.model.phone_names

    def initial_state(self) -> SphinxState:
        mean = np.zeros(N_CEPSTRA)
        mean[: len(CMN_INITIAL_MEAN)] = CMN_INITIAL_MEAN
        return SphinxState(np.zeros(HISTORY_SAMPLES), 0.0, None, mean, CMN_PRIOR_FRAMES, None)

    def cepstra(self, state: SphinxState, block: np.ndarray):
        """(frames, 13) MFCC before mean normalisation (pocketsphinx's cepstra), and the state."""
        if len(block) % HOP_SAMPLES:
            raise ValueError(f"a block must be a multiple of {HOP_SAMPLES} samples")
        samples = _int16_scale(block)
        frames, history, last = _frames(state.history, samples, state.last_sample)
        mel = _mel_energies(frames, self.model.settings)
        noise = state.noise
        if self.model.settings.remove_noise:
            mel, noise = _denoise(mel, noise)
        ceps = _cepstra(mel, self.model.settings)
        return ceps, SphinxState(history, last, noise, state.cmn_mean, state.cmn_weight,
                                 state.recent)

    def step(self, state: SphinxState, block: np.ndarray) -> tuple[np.ndarray, SphinxState]:
        ceps, state = self.cepstra(state, block)
        if len(ceps) == 0:
            return np.zeros((0, len(self.phone_names)), np.float32), state
        normalised, mean, weight = _normalise_mean(ceps, state.cmn_mean, state.cmn_weight)
        features, recent = _stack_deltas(normalised, state.recent)
        scores = log_posteriors(phone_log_likelihoods(features, self.model))
        state = SphinxState(state.history, state.last_sample, state.noise, mean, weight, recent)
        return scores.astype(np.float32), state


def _int16_scale(block: np.ndarray) -> np.ndarray:
    """Float audio to pocketsphinx's int16 sample scale; NaN/inf become silence, clipped."""
    block = np.nan_to_num(np.asarray(block, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(block, -1.0, 1.0) * INT16_SCALE


def _whole_hops(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    return audio[: len(audio) // HOP_SAMPLES * HOP_SAMPLES]


def sphinx_phone_scores(audio: np.ndarray) -> np.ndarray:
    """A whole clip's (len(audio) // 160, phones) log-posteriors, equal to streaming it.

    A trailing part of a 10 ms hop is dropped.
    """
    scorer = SphinxPhoneScorer()
    return scorer.step(scorer.initial_state(), _whole_hops(audio))[0]


def sphinx_cepstra(audio: np.ndarray) -> np.ndarray:
    """A whole clip's (len(audio) // 160, 13) MFCC before mean normalisation."""
    scorer = SphinxPhoneScorer()
    return scorer.cepstra(scorer.initial_state(), _whole_hops(audio))[0]


def phone_names() -> tuple[str, ...]:
    """The score columns' phones in order: +NSN+, +SPN+, AA, AE, ..., B, ..., SIL, ..., ZH."""
    return load_model().phone_names
