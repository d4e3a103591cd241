"""A real OSC server for tests: python-osc's own, on an ephemeral loopback port, recording
every message with its arrival time in the order the datagrams came (one thread handles
them all); and a free UDP port for a sender's replies."""

import socket
import threading
import time

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer


class Receiver:
    def __init__(self):
        self.arrivals: list[tuple[float, str, tuple]] = []  # (monotonic time, address, args)
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(
            lambda address, *args: self.arrivals.append((time.monotonic(), address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def messages(self) -> list[tuple[str, tuple]]:
        return [(address, args) for _, address, args in self.arrivals]

    def addressed(self, address: str) -> list[tuple]:
        return [args for a, args in self.messages if a == address]

    def values(self) -> dict[str, list]:
        """Each address's first arguments, in arrival order."""
        by_address: dict[str, list] = {}
        for address, args in self.messages:
            by_address.setdefault(address, []).append(args[0])
        return by_address

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        time.sleep(0.2)  # the last datagrams
        self.server.shutdown()
        self.server.server_close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
