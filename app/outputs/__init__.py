"""Streams to other programs (OSC, the VMC protocol, track files), and control by OSC."""
