"""ModernGL rendering of the avatar: cameras and views, the GPU renderer, offscreen
images, MP4 output and benchmarks. GLSL sources live in the top-level `shaders/` folder."""
