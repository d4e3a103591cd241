"""liveface: real-time, audio-driven 3D face animation for VR avatars."""

__version__ = "0.1.0"
