"""Telepresence: two liveface clients in a call over WebRTC (aiortc).

invite.py      the invite (address, port, one-time secret) and the MACs that prove it
signalling.py  the one exchange over a socket the host opens only while waiting
ice.py         limiting ICE candidates to the --bind address
wire.py        the face message on the data channel (versioned, binary)
sender.py      microphone (or file) -> voice blocks and face messages, on one clock
voice.py       the voice as an Opus track out; the remote voice's playout clock in
jitter.py      remote faces against that clock: jitter buffer and concealment
session.py     the call itself: peer connection, tasks, statistics
"""
