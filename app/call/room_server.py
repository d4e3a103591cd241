"""`liveface room serve`: a Janus server holding one VideoRoom, configured here.

    liveface room serve --bind 10.0.0.5 [--port 8088] [--room-name talk] [--token T]

The configuration is written to a folder of its own (--config-dir, else a temporary one)
and Janus runs in the foreground until Ctrl+C. Everything is limited to the --bind
address: the HTTP API listens there only and every ICE candidate Janus gathers is on it
(`ice_enforce_list`), so nothing is reachable on any other interface. Janus leaves
loopback interfaces out of that list (and libnice never gathers on them), so the address
must be an interface's own: 127.0.0.1 cannot work, whatever the configuration says.

The room is private to who holds the token: Janus' VideoRoom `pin`, asked of everyone
who joins; without --token a random one is made and printed.
"""

import ipaddress
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.errors import LivefaceError

JANUS_BINARY = "janus"
DEFAULT_PORT = 8088
DEFAULT_ROOM = "liveface"
RTP_PORTS = "20000-40000"
STOP_WAIT_S = 10.0
MAX_PARTICIPANTS = 12  # publishers per room; each subscribes to every other one
# Janus' own module folders as Debian installs them; `janus` falls back to them too
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
ONLY_PLUGIN = "libjanus_videoroom.so"
ONLY_TRANSPORT = "libjanus_http.so"


@dataclass(frozen=True)
class RoomServer:
    bind: str
    port: int = DEFAULT_PORT
    room: str = DEFAULT_ROOM
    token: str = ""

    @property
    def url(self) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}/janus"


def check_room_bind(address: str) -> None:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise LivefaceError(f"--bind takes an IP address, got '{address}'.") from None
    if parsed.is_unspecified:
        raise LivefaceError("--bind takes one address, not the wildcard.")
    if parsed.is_loopback:
        raise LivefaceError(
            "Janus gathers no ICE candidates on loopback, so a room cannot be held on "
            f"{address}: give this machine's address on the network the participants share "
            "(for a room inside one machine, a veth pair in a network namespace; see the "
            "README).")


def check_room_name(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise LivefaceError(f"a room name is 1 to 64 letters, digits, '-', '_' or '.', "
                            f"got '{name}'.")


def janus_binary() -> str:
    found = shutil.which(JANUS_BINARY)
    if found is None:
        raise LivefaceError("the room server is Janus, and no `janus` program is installed: "
                            "install the `janus` package (on Debian: apt-get install "
                            "janus).")
    return found


def write_janus_config(folder: Path, server: RoomServer) -> Path:
    """Janus' configuration for this one room in `folder`; returns the main file."""
    folder.mkdir(parents=True, exist_ok=True)
    plugins = JANUS_LIB / "plugins"
    transports = JANUS_LIB / "transports"
    files = {
        "janus.jcfg": _janus_jcfg(folder, server, plugins, transports),
        "janus.plugin.videoroom.jcfg": _videoroom_jcfg(server),
        "janus.transport.http.jcfg": _http_jcfg(server),
    }
    for name, text in files.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)  # the room's token is in there
    return folder / "janus.jcfg"


def _others(folder: Path, keep: str) -> str:
    """Every module in `folder` but `keep`, for Janus' `disable` lists."""
    names = sorted(p.name for p in folder.glob("*.so")) if folder.is_dir() else []
    return ",".join(name for name in names if name != keep)


def _janus_jcfg(folder: Path, server: RoomServer, plugins: Path, transports: Path) -> str:
    return f"""general: {{
	configs_folder = "{folder}"
	plugins_folder = "{plugins}"
	transports_folder = "{transports}"
	events_folder = "{JANUS_LIB / 'events'}"
	loggers_folder = "{JANUS_LIB / 'loggers'}"
	debug_level = 4
	interface = "{server.bind}"
	session_timeout = 60
	hide_dependencies = true
}}
certificates: {{
}}
media: {{
	ipv6 = {'true' if ':' in server.bind else 'false'}
	rtp_port_range = "{RTP_PORTS}"
}}
nat: {{
	ice_enforce_list = "{server.bind}"
	ignore_mdns = true
}}
plugins: {{
	disable = "{_others(plugins, ONLY_PLUGIN)}"
}}
transports: {{
	disable = "{_others(transports, ONLY_TRANSPORT)}"
}}
loggers: {{
	disable = "{_others(JANUS_LIB / 'loggers', '')}"
}}
events: {{
	broadcast = false
}}
"""


def _videoroom_jcfg(server: RoomServer) -> str:
    # rooms are named, not numbered; one room, no video, Opus voice and data channels
    return f"""general: {{
	string_ids = true
	admin_key = "{secrets.token_hex(16)}"
}}
room-{server.room}: {{
	description = "liveface room {server.room}"
	pin = "{server.token}"
	is_private = true
	publishers = {MAX_PARTICIPANTS}
	audiocodec = "opus"
	notify_joining = true
}}
"""


def _http_jcfg(server: RoomServer) -> str:
    return f"""general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {server.port}
	ip = "{server.bind}"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
"""


def serve_room(server: RoomServer, config_dir: Path | None) -> int:
    """Run Janus for the room in the foreground until it ends or Ctrl+C; its exit status."""
    binary = janus_binary()
    with tempfile.TemporaryDirectory(prefix="liveface-room-") as scratch:
        folder = config_dir or Path(scratch)
        main = write_janus_config(folder, server)
        print(f"room: {server.url} name {server.room} token {server.token}", flush=True)
        print(f"join: liveface call --room {server.url} --room-name {server.room} "
              f"--token {server.token} --bind <your address>", file=sys.stderr, flush=True)
        janus = subprocess.Popen([binary, "-C", str(main), "-F", str(folder),
                                  "--disable-colors"])
        # a `kill` of this command stops Janus too, as Ctrl+C does
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            return janus.wait()
        except KeyboardInterrupt:
            janus.send_signal(signal.SIGINT)
            try:
                return janus.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                janus.kill()
                return janus.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def new_token() -> str:
    return secrets.token_urlsafe(12)
