"""The live path: audio source → model worker (50 fps, its own thread) → frame mailbox →
the render loop, which samples the newest frames at the display rate and never waits."""
