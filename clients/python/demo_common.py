"""Shared code of the confab demo clients (client_1.py and client_2.py).

`Api` wraps the REST calls (httpx): register-or-login, user lookup, DMs and groups.
`chat()` runs one WebSocket session (websockets' asyncio client): it joins the room,
prints every incoming frame on one line (``[lobby] bob: hi``, ``[dm] alice: psst``,
``* bob is online``) and sends what the user types, or the lines of ``--script``.

Exit codes of the clients: 0 done, 1 an ``--expect`` text never arrived, 2 an error
(server unreachable, REST error, WebSocket refused or closed, timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import uuid
from typing import Any, Awaitable, Callable
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_PASSWORD = "demo passphrase orbit 4471"
PEER_WAIT_SECS = 15.0  # --script: how long to wait for the peer to come online
SCRIPT_PAUSE_SECS = 0.3  # --script: pause before each line
SCRIPT_DEADLINE_SECS = 60.0  # --script: give up after this (plus --linger)
MAX_RATE_LIMIT_WAIT_SECS = 10.0  # wait out a 429 only if it is this short


class ApiError(Exception):
    """A REST call answered with an error envelope."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code


class SessionError(Exception):
    """The WebSocket session failed (closed by the server, join refused, ...)."""


def log(text: str) -> None:
    """Progress and problems, on stderr."""
    print(text, file=sys.stderr, flush=True)


def show(text: str) -> None:
    """The conversation, on stdout."""
    print(text, flush=True)


class Api:
    """REST client for /api/v1; `register_or_login` makes it send a bearer token."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url + "/api/v1", timeout=10.0)
        self.token: str | None = None
        self.refresh_token: str | None = None
        self.expires_in = 900.0  # seconds the access token lives
        self.me: dict[str, Any] = {}

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        for _ in range(3):
            resp = await self.http.request(method, path, json=body, params=params, headers=headers)
            wait = _retry_after(resp) if resp.status_code == 429 else None
            if wait is None or wait > MAX_RATE_LIMIT_WAIT_SECS:
                break
            log(f"rate limited on {method} {path}; retrying in {wait:.0f} s")
            await asyncio.sleep(wait)
        if resp.is_success:
            return resp.json() if resp.content else None
        error = _json_or_none(resp)
        error = error.get("error") if isinstance(error, dict) else None
        if not isinstance(error, dict):
            error = {}
        raise ApiError(
            resp.status_code,
            error.get("code", "http_error"),
            error.get("message", resp.reason_phrase or "request failed"),
        )

    async def register_or_login(self, username: str, password: str) -> dict[str, Any]:
        """Register `username` (or log in if it is taken); returns my User."""
        credentials = {"username": username, "password": password}
        try:
            await self.call("POST", "/auth/register", credentials)
            log(f"registered {username}")
        except ApiError as e:
            if e.code != "username_taken":
                raise
            log(f"{username} already exists; logging in")
        self.use_tokens(await self.call("POST", "/auth/login", credentials))
        self.me = await self.call("GET", "/users/me")
        return self.me

    def use_tokens(self, tokens: dict[str, Any]) -> None:
        self.token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.expires_in = float(tokens.get("expires_in", self.expires_in))

    async def refresh(self) -> str:
        """Trade the refresh token for a new pair; returns the new access token."""
        self.use_tokens(await self.call("POST", "/auth/refresh", {"refresh_token": self.refresh_token}))
        return self.token

    async def find_user(self, username: str) -> dict[str, Any] | None:
        """The user named exactly `username`, or None (the search is by prefix)."""
        page = await self.call("GET", "/users", params={"q": username, "limit": 1})
        for user in page.get("items", []):
            if user.get("username") == username.lower():
                return user
        return None

    async def open_dm(self, user_id: str) -> dict[str, Any]:
        """The direct conversation with `user_id` (created on first use)."""
        return await self.call("POST", "/dms", {"user_id": user_id})

    async def list_groups(self, discover: bool) -> list[dict[str, Any]]:
        """Public groups (discover) or my groups, all pages."""
        params: dict[str, Any] = {"limit": 100}
        if discover:
            params["discover"] = "true"
        items: list[dict[str, Any]] = []
        for _ in range(100):  # pages; a bound in case a cursor never ends
            page = await self.call("GET", "/groups", params=params)
            items.extend(page.get("items", []))
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        return items

    async def find_public_group(self, name: str) -> dict[str, Any] | None:
        """The public group called `name`; the oldest one if several share the name."""
        matches = [g for g in await self.list_groups(discover=True) if g.get("name") == name]
        if not matches:  # in case discovery leaves out groups I already belong to
            mine = await self.list_groups(discover=False)
            matches = [g for g in mine if g.get("name") == name and g.get("visibility") == "public"]
        return min(matches, key=lambda g: (g.get("created_at", ""), g["id"]), default=None)

    async def join_group_by_name(self, name: str, create: bool = False, wait: float = 0.0) -> dict[str, Any]:
        """Join the public group `name`, creating it if `create`, or waiting up to
        `wait` seconds for somebody else to create it. Returns the Group."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        announced = False
        while True:
            group = await self.find_public_group(name)
            if group is None and create:
                try:
                    group = await self.call("POST", "/groups", {"name": name, "visibility": "public"})
                    log(f"created public group {name!r}")
                except ApiError as e:
                    if e.status != 409:
                        raise
                    group = await self.find_public_group(name)  # somebody just created it
            if group is not None:
                joined = await self.call("POST", f"/groups/{quote(group['id'], safe='')}/join")
                log(f"member of group {name!r} ({joined.get('member_count', '?')} members)")
                return joined
            if loop.time() >= deadline:
                waited = f" after {wait:.0f} s" if wait else ""
                raise SessionError(f"there is no public group named {name!r}{waited}")
            if not announced:
                log(f"waiting up to {wait:.0f} s for group {name!r} to be created")
                announced = True
            await asyncio.sleep(0.5)

    def ws_url(self) -> str:
        scheme, rest = self.base_url.split("://", 1)
        return {"http": "ws", "https": "wss"}[scheme.lower()] + "://" + rest + "/api/v1/ws"

    def connect_ws(self):
        """`async with api.connect_ws() as ws:` -- the WebSocket, authenticated by header."""
        return connect(self.ws_url(), additional_headers={"Authorization": f"Bearer {self.token}"}, open_timeout=10)


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _retry_after(resp: httpx.Response) -> float:
    body = _json_or_none(resp)
    details = body.get("error", {}).get("details") if isinstance(body, dict) else None
    if isinstance(details, dict) and isinstance(details.get("retry_after_secs"), (int, float)):
        return float(details["retry_after_secs"])
    try:
        return float(resp.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


async def send_frame(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


def describe(frame: dict[str, Any], labels: dict[str, str]) -> str | None:
    """One readable line for a server frame, or None for frames not worth showing."""
    kind = frame.get("type")
    label = labels.get(frame.get("conversation"), "dm")  # group messages need a join; DMs don't

    def name(user: Any) -> str:
        return user.get("username", "?") if isinstance(user, dict) else "?"

    if kind == "message":
        return f"[{label}] {name(frame.get('sender'))}: {frame.get('body', '')}"
    if kind == "message_updated":
        return f"[{label}] {name(frame.get('sender'))} (edited): {frame.get('body', '')}"
    if kind == "message_deleted":
        return f"[{label}] (message #{frame.get('seq')} deleted)"
    if kind == "read":
        return f"* {name(frame.get('user'))} read {label} up to #{frame.get('seq')}"
    if kind == "membership":
        where = labels.get(frame.get("conversation"), f"group {frame.get('conversation')}")
        return f"* you were {frame.get('status')} ({where})"
    if kind == "presence":
        return f"* {name(frame.get('user'))} is {frame.get('status')}"
    if kind == "joined":
        online = ", ".join(name(u) for u in frame.get("online", [])) or "nobody"
        more = " (history truncated)" if frame.get("truncated") else ""
        return f"* joined {label}; online: {online}{more}"
    if kind == "typing":
        return f"* {name(frame.get('user') or frame.get('sender'))} is typing in {label}"
    if kind == "error":
        return f"! error {frame.get('code')}: {frame.get('message')}"
    if kind in ("ack", "pong"):
        return None
    return f"* {kind}: {json.dumps(frame, ensure_ascii=False)}"


class Chat:
    """One WebSocket session in a room, with a peer to DM."""

    def __init__(self, api: Api, ws: ClientConnection, group: dict[str, Any], peer: str):
        self.api, self.ws, self.peer = api, ws, peer.lower()
        self.room_id, self.room = group["id"], group["name"]
        self.labels = {self.room_id: self.room}
        self.dm_id: str | None = None
        self.heard: list[str] = []  # bodies of messages from other users
        self.joined = asyncio.Event()
        self.peer_online = asyncio.Event()
        self.join_error: str | None = None
        self.closed_reason = "connection closed"
        self.receiver = asyncio.create_task(self.receive_loop())

    async def receive_loop(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    show(f"? {raw!r}")
                    continue
                if isinstance(frame, dict):
                    self.note(frame)
                    text = describe(frame, self.labels)
                    if text:
                        show(text)
        except ConnectionClosed as e:
            self.closed_reason = f"connection closed ({e})"

    def note(self, frame: dict[str, Any]) -> None:
        """Remember what the session logic needs: joins, the peer's presence, messages heard."""
        kind = frame.get("type")
        if kind == "joined" and frame.get("conversation") == self.room_id:
            if any(u.get("username") == self.peer for u in frame.get("online", []) if isinstance(u, dict)):
                self.peer_online.set()
            self.joined.set()
        elif kind == "error" and not self.joined.is_set() and frame.get("ref") in (None, self.room_id):
            self.join_error = f"{frame.get('code')}: {frame.get('message')}"
            self.joined.set()
        elif kind == "presence" and frame.get("status") == "online":
            if (frame.get("user") or {}).get("username") == self.peer:
                self.peer_online.set()
        elif kind == "message":
            if (frame.get("sender") or {}).get("username") != self.api.me.get("username"):
                self.heard.append(str(frame.get("body", "")))

    async def wait(self, event: asyncio.Event | None, timeout: float) -> bool:
        """Wait for `event` (or just `timeout` if None); SessionError if the connection ends."""
        waiter = asyncio.ensure_future(event.wait() if event else asyncio.sleep(timeout))
        done, _ = await asyncio.wait({waiter, self.receiver}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if event is not None and event.is_set():
            return True
        if self.receiver in done:
            raise SessionError(self.closed_reason)
        return event is None

    async def keep_token_fresh(self) -> None:
        """Refresh the access token before it expires and hand it to the connection."""
        while True:
            await asyncio.sleep(max(self.api.expires_in - 60, self.api.expires_in / 2))
            try:
                await send_frame(self.ws, {"type": "reauth", "token": await self.api.refresh()})
            except (ApiError, httpx.HTTPError, ConnectionClosed) as e:
                log(f"could not refresh the access token: {e}")
                return

    async def say(self, conversation: str, body: str) -> None:
        frame = {"type": "send", "conversation": conversation, "body": body, "client_id": str(uuid.uuid4())}
        try:
            await send_frame(self.ws, frame)
        except ConnectionClosed as e:
            raise SessionError(f"connection closed ({e})") from None

    async def dm(self, body: str) -> None:
        if self.dm_id is None:
            peer = await self.api.find_user(self.peer)
            if peer is None:
                show(f"! there is no user named {self.peer}")
                return
            self.dm_id = (await self.api.open_dm(peer["id"]))["id"]
            self.labels[self.dm_id] = "dm"
        await self.say(self.dm_id, body)

    async def handle_line(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        line = line.rstrip("\r\n")
        command = line.strip()
        if not command:
            return True
        if command == "/quit":
            return False
        try:
            if command == "/dm" or command.startswith("/dm "):
                text = command[3:].strip()
                if text:
                    await self.dm(text)
                else:
                    show("! usage: /dm TEXT")
            elif command.startswith("/"):
                show(f"! commands: /dm TEXT (to {self.peer}), /quit; anything else goes to {self.room}")
            else:
                await self.say(self.room_id, line)
        except ApiError as e:
            show(f"! {e}")
        return True

    async def run_script(self, lines: list[str], linger: float, expects: list[str]) -> int:
        if not await self.wait(self.peer_online, PEER_WAIT_SECS):
            log(f"{self.peer} did not come online within {PEER_WAIT_SECS:.0f} s; sending anyway")
        for line in lines:
            await asyncio.sleep(SCRIPT_PAUSE_SECS)
            if not await self.handle_line(line):
                break
        try:
            await self.wait(None, linger)
        except SessionError as e:
            log(str(e))
        missing = [text for text in expects if not any(text in body for body in self.heard)]
        for text in missing:
            log(f"expected but never received: {text!r}")
        if expects and not missing:
            log(f"received all {len(expects)} expected texts")
        return 1 if missing else 0

    async def run_interactive(self) -> int:
        show(f"* talking in {self.room}; /dm TEXT messages {self.peer}; /quit (or Ctrl-D) leaves")
        lines = stdin_lines()
        while True:
            getter = asyncio.ensure_future(lines.get())
            done, _ = await asyncio.wait({getter, self.receiver}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                log(self.closed_reason)
                return 2
            line = getter.result()
            if line is None or not await self.handle_line(line):
                return 0


def stdin_lines() -> asyncio.Queue:
    """Lines of stdin, read by a daemon thread (never blocks exit); None at EOF."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)
        except RuntimeError:  # the loop is gone: we are exiting
            pass

    threading.Thread(target=pump, daemon=True).start()
    return queue


async def chat(api: Api, group: dict[str, Any], args: argparse.Namespace) -> int:
    """Connect, join the room, then run --script or read stdin. Returns the exit code."""
    async with api.connect_ws() as ws:
        session = Chat(api, ws, group, args.peer)
        refresher = asyncio.create_task(session.keep_token_fresh())
        try:
            await send_frame(ws, {"type": "join", "conversation": session.room_id})
            if not await session.wait(session.joined, 10):
                raise SessionError(f"no answer to joining {session.room}")
            if session.join_error:
                raise SessionError(f"could not join {session.room}: {session.join_error}")
            if args.script is not None:
                return await session.run_script(args.script.split("|"), args.linger, args.expect)
            return await session.run_interactive()
        finally:
            for task in (refresher, session.receiver):
                task.cancel()
            await asyncio.gather(refresher, session.receiver, return_exceptions=True)


def make_parser(doc: str | None, username: str, peer: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL, help="server base URL (default %(default)s)")
    parser.add_argument("--username", default=username, help="default %(default)s; registered if new")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="default %(default)r")
    parser.add_argument("--room", default="lobby", help="public group to chat in (default %(default)s)")
    parser.add_argument("--peer", default=peer, help="username that /dm writes to (default %(default)s)")
    parser.add_argument(
        "--script", metavar="LINES",
        help='send these "|"-separated lines instead of reading stdin, e.g. "hi|/dm psst"')
    parser.add_argument(
        "--linger", type=float, default=3.0, metavar="SECS",
        help="--script: seconds to keep listening after the last line (default %(default)s)")
    parser.add_argument(
        "--expect", action="append", default=[], metavar="TEXT",
        help="--script: exit 1 unless a message from someone else contains TEXT (repeatable)")
    return parser


def run(session: Callable[[argparse.Namespace], Awaitable[int]], parser: argparse.ArgumentParser) -> None:
    """Parse the arguments, run `session(args)` and exit with its code (2 on errors)."""
    args = parser.parse_args()
    if not args.url.lower().startswith(("http://", "https://")):
        parser.error("--url must start with http:// or https://")
    if args.expect and args.script is None:
        parser.error("--expect needs --script")
    try:
        coro = session(args)
        if args.script is not None:
            coro = asyncio.wait_for(coro, SCRIPT_DEADLINE_SECS + args.linger)
        code = asyncio.run(coro)
    except KeyboardInterrupt:
        code = 130
    except (ApiError, SessionError) as e:
        log(f"error: {e}")
        code = 2
    except InvalidStatus as e:
        body = e.response.body.decode("utf-8", "replace")[:300] if e.response.body else ""
        log(f"error: WebSocket upgrade refused: HTTP {e.response.status_code} {body}".rstrip())
        code = 2
    except httpx.HTTPError as e:
        log(f"error: cannot talk to {args.url}: {e!r}")
        code = 2
    except (TimeoutError, asyncio.TimeoutError):  # before OSError, which TimeoutError is
        log("error: timed out")
        code = 2
    except (OSError, WebSocketException) as e:
        log(f"error: WebSocket to {args.url}: {e!r}")
        code = 2
    sys.exit(code)
