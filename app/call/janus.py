"""Janus' HTTP API, as much of it as a room needs: a session, plugin handles on it,
messages to the VideoRoom plugin and the events that answer them.

    janus = JanusSession("http://10.0.0.5:8088/janus")
    await janus.open()
    handle = await janus.attach()
    event = await janus.message(handle, {"request": "join", ...})   # waits for the answer
    ...
    await janus.close()

Janus answers a message with an "ack" and sends the plugin's answer later as an event,
which the client fetches by long polling `GET /janus/<session>`; events that answer no
message (a participant came, another left) go to `on_event(handle, data)`. Requests run on
a small thread pool with the standard library's HTTP client, so no other HTTP library is
needed. A keepalive every KEEPALIVE_S keeps the session on the server; `close` destroys
it.
"""

import asyncio
import http.client
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from app.errors import LivefaceError

VIDEOROOM = "janus.plugin.videoroom"
REQUEST_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 20.0
LONG_POLL_S = 30.0  # Janus holds a long poll this long when it has nothing to say
KEEPALIVE_S = 25.0  # within Janus' default session timeout (60 s), with room to spare
MAX_EVENTS = 10  # events one long poll may return at once


class JanusSession:
    def __init__(self, url: str, on_event: Callable[[int, dict], None] | None = None):
        self.url = url.rstrip("/")
        self.on_event = on_event or (lambda handle, data: None)
        self.session_id: int | None = None
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="liveface-janus")
        self._waiting: dict[str, asyncio.Future] = {}  # transaction -> its answer
        self._poll: asyncio.Task | None = None
        self._keepalive: asyncio.Task | None = None
        self.lost: asyncio.Future | None = None  # set to the error when the server is gone

    async def open(self) -> None:
        answer = await self._post("", {"janus": "create"})
        self.session_id = answer["data"]["id"]
        self.lost = asyncio.get_running_loop().create_future()
        self._poll = asyncio.create_task(self._poll_events())
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def attach(self) -> int:
        """A new handle on the VideoRoom plugin (a publisher, or one subscription)."""
        answer = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": VIDEOROOM})
        return answer["data"]["id"]

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """Send `body` to the plugin and return its answer: the plugin's data, with the
        session description it sent (if any) under "jsep"."""
        transaction = secrets.token_hex(8)
        future = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        request = {"janus": "message", "body": body, **({"jsep": jsep} if jsep else {})}
        try:
            answer = await self._post(f"/{self.session_id}/{handle}", request, transaction)
            if answer.get("janus") == "success":  # a synchronous request: answered at once
                event = answer
            else:
                event = await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        except TimeoutError:
            raise LivefaceError(f"the room server did not answer '{body.get('request')}' "
                                f"within {ANSWER_TIMEOUT_S:g} s.") from None
        finally:
            self._waiting.pop(transaction, None)
        return _plugin_answer(event, body.get("request"))

    async def detach(self, handle: int) -> None:
        await self._post(f"/{self.session_id}/{handle}", {"janus": "detach"})

    async def close(self) -> None:
        for task in (self._poll, self._keepalive):
            if task is not None:
                task.cancel()
        if self.session_id is not None:
            try:
                await self._post(f"/{self.session_id}", {"janus": "destroy"})
            except LivefaceError:
                pass  # the server is gone already: nothing to tidy there
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the wire ------------------------------------------------------------------------------
    async def _post(self, path: str, request: dict, transaction: str | None = None) -> dict:
        request = {**request, "transaction": transaction or secrets.token_hex(8)}
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(self._pool, self._http, self.url + path, request)
        if answer.get("janus") == "error":
            error = answer.get("error", {})
            raise LivefaceError(f"the room server refused '{request['janus']}': "
                                f"{error.get('reason', 'no reason given')} "
                                f"(Janus error {error.get('code')}).")
        return answer

    def _http(self, url: str, request: dict | None, timeout_s: float = REQUEST_TIMEOUT_S):
        data = None if request is None else json.dumps(request).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data, headers),
                                        timeout=timeout_s) as reply:
                return json.loads(reply.read())
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            raise LivefaceError(f"cannot reach the room server at {self.url} ({_reason(err)}); "
                                "check the URL `liveface room serve` printed and that it "
                                "still runs.") from None

    async def _poll_events(self) -> None:
        loop = asyncio.get_running_loop()
        url = f"{self.url}/{self.session_id}?maxev={MAX_EVENTS}"
        while True:
            try:
                events = await loop.run_in_executor(self._pool, self._http, url, None,
                                                    LONG_POLL_S + REQUEST_TIMEOUT_S)
            except LivefaceError as err:
                if not self.lost.done():
                    self.lost.set_result(err)
                return
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    async def _keep_alive(self) -> None:
        """Janus ends a session it has heard nothing on for its session_timeout."""
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                await self._post(f"/{self.session_id}", {"janus": "keepalive"})
            except LivefaceError as err:
                if not self.lost.done():
                    self.lost.set_result(err)
                return

    def _dispatch(self, event: dict) -> None:
        if event.get("janus") == "timeout":  # the server dropped this session
            if not self.lost.done():
                self.lost.set_result(LivefaceError("the room server ended this session."))
            return
        if event.get("janus") != "event":
            return  # keepalives, media and webrtcup notices: nothing a room needs
        future = self._waiting.get(event.get("transaction", ""))
        if future is not None and not future.done():
            future.set_result(event)
        else:
            self.on_event(event.get("sender"), event.get("plugindata", {}).get("data", {}))


def _plugin_answer(event: dict, request: str | None) -> dict:
    data = dict(event.get("plugindata", {}).get("data", {}))
    if "error" in data:
        raise LivefaceError(_room_error(data, request))
    if "jsep" in event:
        data["jsep"] = event["jsep"]
    return data


def _room_error(data: dict, request: str | None) -> str:
    code = data.get("error_code")
    if code == 426:  # JANUS_VIDEOROOM_ERROR_NO_SUCH_ROOM
        return "the room server has no such room; check --room-name."
    if code == 433:  # JANUS_VIDEOROOM_ERROR_UNAUTHORIZED
        return ("the room server refused the token; give the one `liveface room serve` "
                "printed with --token.")
    return f"the room server refused '{request}': {data['error']} (VideoRoom error {code})."


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None) or err
    return getattr(reason, "strerror", None) or str(reason)
