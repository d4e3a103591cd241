"""Streams of the animation to other programs."""
