import av
import numpy as np
import pytest

from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.io import read_audio, write_wav
from app.errors import LivefaceError


def _write_stereo_flac(path, rate_hz, seconds=1.0):
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 440 * t)
    interleaved = np.stack([left, right], axis=1).astype(np.float32).reshape(1, -1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate_hz, layout="stereo")
        frame = av.AudioFrame.from_ndarray(interleaved, format="flt", layout="stereo")
        frame.sample_rate = rate_hz
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_wav_round_trip_is_exact_to_16_bits(tmp_path):
    audio = (0.3 * np.sin(np.linspace(0, 200, SAMPLE_RATE_HZ))).astype(np.float32)
    write_wav(tmp_path / "a.wav", audio)
    np.testing.assert_allclose(read_audio(tmp_path / "a.wav"), audio, atol=1 / 32767)


def test_stereo_44k_is_mixed_to_mono_and_resampled(tmp_path):
    _write_stereo_flac(tmp_path / "s.flac", 44_100)
    audio = read_audio(tmp_path / "s.flac")
    assert audio.dtype == np.float32
    assert abs(audio.size - SAMPLE_RATE_HZ) <= 2
    # the mean of 0.5 and 0.25 amplitude sines: RMS 0.375 / sqrt(2)
    assert np.sqrt(np.mean(audio[1000:-1000] ** 2)) == pytest.approx(0.375 / np.sqrt(2), rel=0.02)


def test_raw_files_are_16_bit_16k(tmp_path):
    pcm = (np.arange(320) - 160).astype("<i2")
    (tmp_path / "a.raw").write_bytes(pcm.tobytes())
    np.testing.assert_allclose(read_audio(tmp_path / "a.raw"), pcm / 32768.0)


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"), (b"", r"is empty \(0 bytes\)"), (b"RIFF\x00\x01junkjunk", "cannot decode"),
])
def test_bad_files_are_user_errors(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LivefaceError, match=message):
        read_audio(path)
