"""The control worker: waits for OSC control messages (app/outputs/osc_control.py) on a
thread of its own and applies them to the pipeline as they come."""

from app.live.worker import Worker


class ControlWorker(Worker):
    name = "liveface-control"

    def __init__(self, control):
        super().__init__()
        self.control = control

    def step(self) -> None:
        self.control.serve_once()  # returns after one message or a short wait

    def shutdown(self) -> None:
        self.control.close()
