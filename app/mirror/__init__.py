"""The desktop mirror: a glfw window that shows the live avatar facing the user, with an
orbit camera and a small overlay (level, latency, emotion, mute)."""
