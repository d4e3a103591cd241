"""Threads of the live path: a worker is startup / one-iteration step / shutdown.

`Worker` runs `step` in a loop on its own thread until stopped. An exception in any of
the three is stored and re-raised to whoever asks (`raise_if_failed`), never swallowed;
the loop ends with it.
"""

import threading


class Worker:
    name = "worker"

    def __init__(self):
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    def startup(self) -> None:
        """Runs once on the worker's thread before the first step."""

    def step(self) -> None:
        """One iteration; must return within a few milliseconds (or a frame's work)."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Runs once on the worker's thread after the last step, even after an error."""

    def start(self) -> None:
        """Start the thread and wait for `startup`; its error is raised here."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} was already started")
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._started.wait()
        self.raise_if_failed()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the loop to end and wait for `shutdown`; raises the worker's error if any."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not stop within {timeout_s} s")
        self.raise_if_failed()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self.startup()
            self._started.set()
            while not self._stopping.is_set():
                self.step()
        except BaseException as err:  # noqa: BLE001 - stored and re-raised to the owner
            self.error = err
        finally:
            self._started.set()
            try:
                self.shutdown()
            except BaseException as err:  # noqa: BLE001
                if self.error is None:
                    self.error = err
