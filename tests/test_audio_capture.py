"""Audio capture: the callback ring, paced sources, resampling, device selection, and (with
PulseAudio) the real microphone path through sounddevice."""

import threading
import time

import numpy as np
import pytest
from pulse import pulse, requires_pulse, speech_clip  # noqa: F401 - the fixture

from app.audio.capture import MicrophoneSource, StreamResampler
from app.audio.contract import SAMPLE_RATE_HZ
from app.audio.devices import InputDevice, find_input_device
from app.audio.ring import SampleRing
from app.audio.sources import AudioSource, FileSource, LevelMeter, SyntheticSource
from app.errors import LivefaceError
from app.live.clock import ManualClock, MonotonicClock


# -- the ring ---------------------------------------------------------------------------
def test_ring_wraps_around_and_keeps_order():
    ring = SampleRing(10)
    ring.write(np.arange(7, dtype=np.float32), time_s=1.0)
    out, t = ring.read(5)
    assert out.tolist() == [0, 1, 2, 3, 4] and t == 1.0
    ring.write(np.arange(7, 14, dtype=np.float32), time_s=2.0)  # crosses the end
    out, t = ring.read(100)
    assert out.tolist() == list(range(5, 14)) and t == 2.0
    assert ring.available == 0 and ring.read(4)[1] is None


def test_ring_tells_the_time_of_the_write_holding_the_last_sample():
    ring = SampleRing(100)
    for k in range(4):
        ring.write(np.full(10, k, np.float32), time_s=10.0 + k)
    assert ring.read(15)[1] == 11.0  # sample 14 came with the second write
    assert ring.read(5)[1] == 11.0
    assert ring.read(1)[1] == 12.0


def test_ring_counts_overruns_and_drops_what_does_not_fit():
    ring = SampleRing(8)
    assert ring.write(np.ones(6, np.float32), 0.0) == 6
    assert ring.write(np.full(6, 2.0, np.float32), 0.1) == 2
    assert ring.write(np.ones(1, np.float32), 0.2) == 0
    assert ring.overruns == 2 and ring.overrun_samples == 5
    out, _ = ring.read(100)
    assert out.tolist() == [1] * 6 + [2, 2]


def test_ring_hands_samples_between_two_threads_in_order():
    ring, total, chunk = SampleRing(512), 200_000, 97
    received = []

    def produce():
        sent = 0
        while sent < total:
            count = min(chunk, total - sent)
            kept = ring.write(np.arange(sent, sent + count, dtype=np.float32), time_s=sent)
            sent += kept
            if kept < count:
                time.sleep(0)  # full: let the consumer run (a real callback would drop)

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 60
    while sum(map(len, received)) < total and time.monotonic() < deadline:
        out, _ = ring.read(300)
        if out.size:
            received.append(out)
        else:
            time.sleep(0)
    producer.join()
    got = np.concatenate(received)
    assert np.array_equal(got, np.arange(total, dtype=np.float32))


# -- paced sources ------------------------------------------------------------------------
def test_file_source_releases_exactly_the_samples_due_on_the_clock():
    clock = ManualClock(100.0)
    audio = np.arange(SAMPLE_RATE_HZ, dtype=np.float32) / SAMPLE_RATE_HZ
    source = FileSource.from_samples(audio, clock)
    assert isinstance(source, AudioSource)
    source.start()
    assert source.read(10_000)[0].size == 0
    clock.advance_s(0.010)
    out, t = source.read(10_000)
    assert out.size == 160 and t == pytest.approx(100.010)
    np.testing.assert_array_equal(out, audio[:160])
    clock.advance_s(0.025)
    out, t = source.read(300)  # 400 due, 300 asked: the rest waits
    assert out.size == 300 and t == pytest.approx(100.0 + 460 / SAMPLE_RATE_HZ)
    out, _ = source.read(10_000)
    assert out.size == 100
    np.testing.assert_array_equal(out, audio[460:560])


def test_file_source_at_twenty_times_real_time_and_its_end():
    clock = ManualClock()
    source = FileSource.from_samples(np.ones(8000, np.float32), clock, speed=20.0)
    source.start()
    clock.advance_s(0.01)
    assert source.read(100_000)[0].size == 3200
    clock.advance_s(0.1)
    out, _ = source.read(100_000)
    assert out.size == 32_000 and out[:4800].min() == 1.0 and out[4800:].max() == 0.0
    assert source.status.finished


def test_file_source_plays_a_wav_file(tmp_path):
    import wave

    path = tmp_path / "tone.wav"
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(tone.tobytes())
    clock = ManualClock()
    source = FileSource(path, clock)
    source.start()
    clock.advance_s(0.5)
    out, _ = source.read(100_000)
    assert out.size == 8000 and source.status.level_dbfs == pytest.approx(-9.0, abs=0.5)


def test_synthetic_source_alternates_speech_and_silence():
    clock = ManualClock()
    source = SyntheticSource(clock, pattern_s=(1.0, 1.0))
    source.start()
    clock.advance_s(2.0)
    out, _ = source.read(10 * SAMPLE_RATE_HZ)
    speech, silence = out[:SAMPLE_RATE_HZ], out[SAMPLE_RATE_HZ:]
    assert np.sqrt(np.mean(speech ** 2)) > 0.05 and np.abs(silence).max() == 0.0
    assert np.abs(out).max() < 1.0
    # the signal depends on the sample index only: any stretch regenerates the same
    np.testing.assert_array_equal(source.samples(5000, 100), out[5000:5100])


def test_level_meter_reads_dbfs_and_holds_clipping():
    meter = LevelMeter()
    meter.update(np.full(320, 0.1, np.float32), time_s=0.0)
    assert meter.level_dbfs == pytest.approx(-20.0, abs=0.01) and not meter.clipping(0.0)
    meter.update(np.ones(320, np.float32), time_s=1.0)
    assert meter.clipping(1.2) and not meter.clipping(2.0)
    assert meter.clipped_samples == 320


# -- resampling -------------------------------------------------------------------------------
@pytest.mark.parametrize("rate_hz", [44_100, 48_000])
def test_streaming_resampler_keeps_a_tones_frequency(rate_hz):
    tone = np.sin(2 * np.pi * 1000.0 * np.arange(rate_hz) / rate_hz).astype(np.float32)
    resampler = StreamResampler(rate_hz)
    block = rate_hz // 100  # the 10 ms callback blocks
    out = np.concatenate([resampler.process(tone[i:i + block])
                          for i in range(0, len(tone), block)])
    assert resampler.delay_s < 0.03  # what soxr holds back is its filter delay, no more
    assert len(out) == pytest.approx(SAMPLE_RATE_HZ - resampler.delay_s * SAMPLE_RATE_HZ, abs=2)
    steady = out[2000:14000]
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE_HZ / len(steady)
    assert peak_hz == pytest.approx(1000.0, abs=2.0)
    assert np.sqrt(np.mean(steady ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.02)


# -- devices -------------------------------------------------------------------------------------
def test_an_unknown_device_name_lists_the_devices(monkeypatch):
    devices = [InputDevice(0, "USB Headset Mic", "ALSA", 1, 48_000),
               InputDevice(3, "pulse", "ALSA", 32, 44_100)]
    monkeypatch.setattr("app.audio.devices.list_input_devices", lambda: devices)
    assert find_input_device("headset").index == 0
    assert find_input_device("pulse").index == 3
    assert find_input_device(3).name == "pulse"
    with pytest.raises(LivefaceError, match=r"'webcam' matches no input device.*USB Headset"):
        find_input_device("webcam")
    monkeypatch.setattr("app.audio.devices.list_input_devices", lambda: [])
    with pytest.raises(LivefaceError, match="no audio input device"):
        find_input_device(None)


# -- the real microphone path, through a PulseAudio virtual microphone -----------------------
def best_correlation(written: np.ndarray, captured: np.ndarray) -> tuple[float, int]:
    """The highest normalised correlation of `captured` within `written`, and its lag."""
    size = len(written) + len(captured)
    spectrum = np.fft.rfft(written, size) * np.conj(np.fft.rfft(captured, size))
    lag = int(np.argmax(np.fft.irfft(spectrum, size)[:len(written)]))
    part = written[lag:lag + len(captured)]
    n = min(len(part), len(captured))
    a, b = part[:n], captured[:n]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)), lag


@requires_pulse
@pytest.mark.pulse
def test_microphone_captures_the_virtual_microphone(pulse, speech_clip):
    clock = MonotonicClock()
    source = MicrophoneSource(clock, "pulse")
    source.start()
    try:
        pulse.writer.play(speech_clip)
        captured, deadline = [], time.monotonic() + len(speech_clip) / SAMPLE_RATE_HZ + 3.0
        while time.monotonic() < deadline:
            out, _ = source.read(4000)
            captured.append(out)
            time.sleep(0.02)
        print(f"device latency {source.device_latency_ms:.1f} ms at "
              f"{source.device.default_rate_hz} Hz")
    finally:
        source.stop()
    captured = np.concatenate(captured)
    written = pulse.writer.written()
    assert source.status.device_ok and source.status.overruns == 0
    assert len(captured) > 0.8 * len(written)
    # Find the speech inside everything captured: capture starts before the speech does,
    # so the clip's offset in the capture is never negative.
    correlation, _ = best_correlation(captured, speech_clip)
    print(f"correlation of captured with written audio: {correlation:.3f}")
    assert correlation > 0.9


@requires_pulse
@pytest.mark.pulse
def test_microphone_reports_a_lost_device_and_recovers(pulse):
    clock = MonotonicClock()
    source = MicrophoneSource(clock, "pulse")
    source.start()
    try:
        pulse.writer.play(np.full(SAMPLE_RATE_HZ * 30, 0.2, np.float32))

        def read_until(condition, timeout_s):
            got, deadline = 0, time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                got += source.read(4000)[0].size
                if condition(got):
                    return time.monotonic()
                time.sleep(0.02)
            return None

        assert read_until(lambda got: got > 3200, 3.0)
        pulse.unload_mic()
        assert read_until(lambda _: not source.status.device_ok, 3.0), "the loss went unseen"
        back_s = pulse.load_mic()
        recovered_s = read_until(lambda got: source.status.device_ok and got > 0, 5.0)
        assert recovered_s is not None, "capture did not resume"
        print(f"capture resumed {recovered_s - back_s:.2f} s after the device came back")
        assert recovered_s - back_s < 2.0
        assert read_until(lambda got: got > 3200, 3.0)
    finally:
        source.stop()


def test_with_no_input_device_at_all_the_microphone_waits_for_one():
    """No sound card: asked for the default microphone, the source starts lost (the app
    keeps running) instead of failing; a named device still fails clearly."""
    from app.audio.devices import NoInputDevice, list_input_devices

    if list_input_devices():
        pytest.skip("this machine has an audio input device")
    clock = MonotonicClock()
    waiting = MicrophoneSource(clock, None, wait_for_device=True)
    waiting.start()
    try:
        assert not waiting.status.device_ok
        samples, capture_s = waiting.read(320)
        assert samples.size == 0 and capture_s is None
    finally:
        waiting.stop()
    with pytest.raises(NoInputDevice):
        MicrophoneSource(clock, None).start()
