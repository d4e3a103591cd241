"""The audio and frame-rate contract, named once (DESIGN.md)."""

SAMPLE_RATE_HZ = 16_000  # internal audio: mono float32
FRAME_RATE_HZ = 50  # animation frames per second
SAMPLES_PER_FRAME = SAMPLE_RATE_HZ // FRAME_RATE_HZ  # 320 samples = 20 ms
MEL_BINS = 80
MEL_WINDOW_SAMPLES = 400  # 25 ms
MEL_HOP_SAMPLES = 160  # 10 ms
