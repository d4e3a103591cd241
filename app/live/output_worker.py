"""The output worker: model frames handed over by the model's thread (a bounded queue, an
append each), sent to other programs on a thread of their own, so building and sending
OSC never delays the next frame.

When the senders fall behind, the oldest waiting frames are dropped (and counted): a
stream to another program wants the newest face, not a backlog.
"""

import threading
from collections import deque
from collections.abc import Callable, Sequence

from app.live.mailbox import LiveFrame
from app.live.worker import Worker

QUEUE_FRAMES = 8  # 160 ms of frames at most wait to be sent
WAIT_S = 0.05  # how long an idle worker waits for a frame before checking for stop


class OutputWorker(Worker):
    name = "liveface-outputs"

    def __init__(self, senders: Sequence[Callable[[LiveFrame], None]]):
        super().__init__()
        self.senders = senders
        self._queue: deque[LiveFrame] = deque(maxlen=QUEUE_FRAMES)
        self._lock = threading.Lock()  # held for a queue operation and a count, no longer
        self._ready = threading.Event()
        self.sent = 0  # frames given to every sender
        self.dropped = 0  # frames pushed out of a full queue before they were sent

    def offer(self, frame: LiveFrame) -> None:
        """The model thread's side: never waits for a send."""
        with self._lock:
            if len(self._queue) == QUEUE_FRAMES:
                self.dropped += 1  # the oldest makes room
            self._queue.append(frame)
        self._ready.set()

    def step(self) -> None:
        if self._ready.wait(WAIT_S):
            self._ready.clear()
            self._send_waiting()

    def shutdown(self) -> None:
        self._send_waiting()  # frames offered right before the stop still go out

    def _send_waiting(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                frame = self._queue.popleft()
            for send in self.senders:
                send(frame)
            self.sent += 1


class ReplyWorker(Worker):
    """Waits on a thread of its own for what a receiving program says back (VRChat naming
    its avatar's parameters, app/outputs/vrchat.py): `listener.serve_once()` in a loop."""

    name = "liveface-replies"

    def __init__(self, listener):
        super().__init__()
        self.listener = listener

    def step(self) -> None:
        self.listener.serve_once()  # returns after one message or a short wait
