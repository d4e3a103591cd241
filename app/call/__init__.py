"""Telepresence: liveface clients in a call over WebRTC (aiortc): two directly, more
through a room server.

invite.py      the invite (address, port, one-time secret) and the MACs that prove it
signalling.py  the one exchange over a socket the host opens only while waiting
ice.py         limiting ICE candidates to the --bind address; no STUN or TURN
wire.py        the face message on the data channel (versioned, binary)
sender.py      microphone (or file) -> voice blocks and face messages, on one clock
voice.py       the voice as an Opus track out; the remote voice's playout clock in
speaker.py     the remote voice on the output device, at the playout clock's moment
jitter.py      remote faces against that clock: jitter buffer and concealment
peer.py        one remote participant in: faces, voice, clock, figures (one per peer)
avatars.py     which avatar draws the peer (their choice, by content hash)
figures.py     the call's statistics
session.py     the call itself: peer connection, tasks, hand-overs between threads
picture.py     the headless call's screenshot: the peer beside you
janus.py       the room server's HTTP API (Janus): session, handles, messages, events
room.py        a room of three or more: publish once, subscribe to each other participant
room_server.py `liveface room serve`: a one-room Janus configuration on one address
cli.py         `liveface call`, `liveface room`
"""
