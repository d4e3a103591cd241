"""Audio in: capture, file and synthetic sources, resampling, features."""
