"""Shared code of the confab demo clients (client_1.py and client_2.py), on the SDK.

`Api` makes the REST calls through the generated ``confab_client`` (register-or-login,
user lookup, DMs and groups), waiting out short rate limits. `chat()` runs one WebSocket
session through ``confab_realtime.Realtime`` (which reconnects and catches up on its own):
it joins the room, prints every incoming frame on one line (``[lobby] bob: hi``,
``[dm] alice: psst``, ``* bob is online``) and sends what the user types, or the lines
of ``--script``, each awaiting its ``ack``.

Exit codes of the clients: 0 done, 1 an ``--expect`` text never arrived, 2 an error
(server unreachable, REST error, WebSocket refused or closed, timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
from typing import Any, Awaitable, Callable, cast

import httpx
from websockets.exceptions import InvalidStatus, WebSocketException

from confab_client import AuthenticatedClient, Client
from confab_client.api.auth import login, refresh, register
from confab_client.api.dms import open_dm
from confab_client.api.groups import create_group, join_group, list_groups
from confab_client.api.users import get_me, search_users
from confab_client.models import (
    AckFrame, Conversation, ErrorBody, ErrorFrame, Group, GroupCreate, GroupPage, JoinedFrame, LoginRequest,
    MembershipFrame, MessageDeletedFrame, MessageFrame, MessageUpdatedFrame, OpenDm, PresenceFrame, PresenceStatus,
    ReadEventFrame, RefreshRequest, RegisterRequest, ServerFramePongFrame, TokenPair, TypingFrame, User, UserPage,
    Visibility,
)
from confab_client.types import UNSET, Response
from confab_realtime import Realtime, RealtimeClosed, RealtimeError, ServerFrame, UnknownFrame, frame_type

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
    """The REST side: the generated client, anonymous until `register_or_login`."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.anon = Client(base_url=self.base_url, timeout=httpx.Timeout(10.0))
        self.client: AuthenticatedClient | None = None
        self.retired: list[AuthenticatedClient] = []  # replaced after a refresh; closed at exit
        self.tokens: TokenPair | None = None
        self.me: User | None = None

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for c in (self.anon, self.client, *self.retired):
            if c is not None:
                await c.get_async_httpx_client().aclose()

    @property
    def authed(self) -> AuthenticatedClient:
        if self.client is None:
            raise RuntimeError("not logged in")
        return self.client

    @property
    def token(self) -> str:
        """The current access token (Realtime asks for it again on every reconnect)."""
        assert self.tokens is not None
        return self.tokens.access_token

    async def call(self, what: str, request: Callable[[], Awaitable[Response[Any]]]) -> Any:
        """Run one generated ``asyncio_detailed`` call: wait out a short 429 (``details.
        retry_after_secs``), raise ApiError on an error status, return the parsed body."""
        for _ in range(3):
            resp = await request()
            wait = _retry_after(resp) if resp.status_code == 429 else None
            if wait is None or wait > MAX_RATE_LIMIT_WAIT_SECS:
                break
            log(f"rate limited on {what}; retrying in {wait:.0f} s")
            await asyncio.sleep(wait)
        if 200 <= resp.status_code < 300:
            return resp.parsed
        if isinstance(resp.parsed, ErrorBody):
            raise ApiError(resp.status_code, resp.parsed.error.code, resp.parsed.error.message)
        raise ApiError(resp.status_code, "http_error", resp.content[:200].decode("utf-8", "replace") or "request failed")

    def use_tokens(self, tokens: TokenPair) -> None:
        self.tokens = tokens
        if self.client is not None:  # a call may still be using it
            self.retired.append(self.client)
        self.client = AuthenticatedClient(base_url=self.base_url, token=tokens.access_token, timeout=httpx.Timeout(10.0))

    async def register_or_login(self, username: str, password: str) -> User:
        """Register `username` (or log in if it is taken); returns my User."""
        try:
            await self.call("register", lambda: register.asyncio_detailed(
                client=self.anon, body=RegisterRequest(username=username, password=password)))
            log(f"registered {username}")
        except ApiError as e:
            if e.code != "username_taken":
                raise
            log(f"{username} already exists; logging in")
        self.use_tokens(await self.call("login", lambda: login.asyncio_detailed(
            client=self.anon, body=LoginRequest(username=username, password=password))))
        self.me = await self.call("getMe", lambda: get_me.asyncio_detailed(client=self.authed))
        return self.me

    async def refresh(self) -> str:
        """Trade the refresh token for a new pair; returns the new access token."""
        assert self.tokens is not None
        body = RefreshRequest(refresh_token=self.tokens.refresh_token)
        self.use_tokens(await self.call("refresh", lambda: refresh.asyncio_detailed(client=self.anon, body=body)))
        return self.token

    async def find_user(self, username: str) -> User | None:
        """The user named exactly `username`, or None (the search is by prefix)."""
        page: UserPage = await self.call("searchUsers", lambda: search_users.asyncio_detailed(
            client=self.authed, q=username, limit=1))
        return next((u for u in page.items if u.username == username.lower()), None)

    async def open_dm(self, user_id: str) -> Conversation:
        """The direct conversation with `user_id` (created on first use)."""
        return await self.call("openDm", lambda: open_dm.asyncio_detailed(client=self.authed, body=OpenDm(user_id=user_id)))

    async def list_groups(self, discover: bool) -> list[Group]:
        """Public groups (discover) or my groups, all pages."""
        items: list[Group] = []
        cursor: Any = UNSET
        for _ in range(100):  # pages; a bound in case a cursor never ends
            page: GroupPage = await self.call("listGroups", lambda: list_groups.asyncio_detailed(
                client=self.authed, discover=discover or UNSET, limit=100, cursor=cursor))
            items.extend(page.items)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        return items

    async def find_public_group(self, name: str) -> Group | None:
        """The public group called `name`; the oldest one if several share the name."""
        matches = [g for g in await self.list_groups(discover=True) if g.name == name]
        if not matches:  # in case discovery leaves out groups I already belong to
            mine = await self.list_groups(discover=False)
            matches = [g for g in mine if g.name == name and g.visibility == Visibility.PUBLIC]
        return min(matches, key=lambda g: (g.created_at, g.id), default=None)

    async def join_group_by_name(self, name: str, create: bool = False, wait: float = 0.0) -> Group:
        """Join the public group `name`, creating it if `create`, or waiting up to
        `wait` seconds for somebody else to create it. Returns the Group."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        announced = False
        while True:
            group = await self.find_public_group(name)
            if group is None and create:
                try:
                    group = await self.call("createGroup", lambda: create_group.asyncio_detailed(
                        client=self.authed, body=GroupCreate(name=name, visibility=Visibility.PUBLIC)))
                    log(f"created public group {name!r}")
                except ApiError as e:
                    if e.status != 409:
                        raise
                    group = await self.find_public_group(name)  # somebody just created it
            if group is not None:
                gid = group.id
                joined: Group = await self.call("joinGroup", lambda: join_group.asyncio_detailed(gid, client=self.authed))
                log(f"member of group {name!r} ({joined.member_count} members)")
                return joined
            if loop.time() >= deadline:
                waited = f" after {wait:.0f} s" if wait else ""
                raise SessionError(f"there is no public group named {name!r}{waited}")
            if not announced:
                log(f"waiting up to {wait:.0f} s for group {name!r} to be created")
                announced = True
            await asyncio.sleep(0.5)

    def realtime(self) -> Realtime:
        """`async with api.realtime() as rt:` -- the WebSocket session, authenticated by
        header with the current access token (also on reconnects)."""

        async def current_token() -> str:
            return self.token

        return Realtime(self.base_url, token=current_token)


def _retry_after(resp: Response[Any]) -> float:
    parsed = resp.parsed
    if isinstance(parsed, ErrorBody) and parsed.error.details and isinstance(parsed.error.details.retry_after_secs, int):
        return float(parsed.error.details.retry_after_secs)
    try:
        return float(resp.headers.get("retry-after", "1"))
    except ValueError:
        return 1.0


def describe(frame: ServerFrame, labels: dict[str, str]) -> str | None:
    """One readable line for a server frame, or None for frames not worth showing."""

    def room(conversation: str) -> str:
        return labels.get(conversation, "dm")  # group messages need a join; DMs don't

    if isinstance(frame, MessageFrame):
        return f"[{room(frame.conversation)}] {frame.sender.username}: {frame.body}"
    if isinstance(frame, MessageUpdatedFrame):
        return f"[{room(frame.conversation)}] {frame.sender.username} (edited): {frame.body}"
    if isinstance(frame, MessageDeletedFrame):
        return f"[{room(frame.conversation)}] (message #{frame.seq} deleted)"
    if isinstance(frame, ReadEventFrame):
        return f"* {frame.user.username} read {room(frame.conversation)} up to #{frame.seq}"
    if isinstance(frame, MembershipFrame):
        where = labels.get(frame.conversation, f"group {frame.conversation}")
        return f"* you were {frame.status} ({where})"
    if isinstance(frame, PresenceFrame):
        return f"* {frame.user.username} is {frame.status}"
    if isinstance(frame, JoinedFrame):
        online = ", ".join(u.username for u in frame.online) or "nobody"
        more = " (history truncated)" if frame.truncated else ""
        return f"* joined {room(frame.conversation)}; online: {online}{more}"
    if isinstance(frame, TypingFrame):
        return f"* {frame.user.username} is typing in {room(frame.conversation)}"
    if isinstance(frame, ErrorFrame):
        return f"! error {frame.code}: {frame.message}"
    if isinstance(frame, (AckFrame, ServerFramePongFrame)):
        return None
    data = frame.data if isinstance(frame, UnknownFrame) else cast(Any, frame).to_dict()
    return f"* {frame_type(frame)}: {json.dumps(data, ensure_ascii=False)}"


class Chat:
    """One WebSocket session in a room, with a peer to DM."""

    def __init__(self, api: Api, rt: Realtime, group: Group, peer: str):
        self.api, self.rt, self.peer = api, rt, peer.lower()
        self.room_id, self.room = group.id, group.name
        self.labels = {self.room_id: self.room}
        self.dm_id: str | None = None
        self.heard: list[str] = []  # bodies of messages from other users
        self.peer_online = asyncio.Event()
        self.closed_reason = "connection closed"
        self.receiver = asyncio.create_task(self.receive_loop())

    async def receive_loop(self) -> None:
        async for frame in self.rt.frames():  # ends when the session is over for good
            self.note(frame)
            text = describe(frame, self.labels)
            if text:
                show(text)
        self.closed_reason = f"connection closed ({self.rt.close_code})"

    def note(self, frame: ServerFrame) -> None:
        """Remember what the session logic needs: the peer's presence, messages heard."""
        if isinstance(frame, JoinedFrame) and frame.conversation == self.room_id:
            if any(u.username == self.peer for u in frame.online):
                self.peer_online.set()
        elif isinstance(frame, PresenceFrame) and frame.status == PresenceStatus.ONLINE:
            if frame.user.username == self.peer:
                self.peer_online.set()
        elif isinstance(frame, MessageFrame):
            me = self.api.me.username if self.api.me else None
            if frame.sender.username != me:
                self.heard.append(frame.body)

    async def join(self) -> None:
        try:
            await self.rt.join(self.room_id, timeout=10)
        except RealtimeError as e:
            raise SessionError(f"could not join {self.room}: {e}") from None
        except (TimeoutError, asyncio.TimeoutError):
            raise SessionError(f"no answer to joining {self.room}") from None

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
            expires_in = float(self.api.tokens.expires_in) if self.api.tokens else 900.0
            await asyncio.sleep(max(expires_in - 60, expires_in / 2))
            try:
                await self.rt.reauth(await self.api.refresh())
            except (ApiError, httpx.HTTPError, RealtimeClosed) as e:
                log(f"could not refresh the access token: {e}")
                return

    async def say(self, conversation: str, body: str) -> None:
        """Send over the socket and wait for the ack (a refusal is shown, not fatal)."""
        try:
            await self.rt.send(conversation, body)
        except RealtimeError as e:
            show(f"! not sent: {e}")
        except RealtimeClosed as e:
            raise SessionError(str(e)) from None

    async def dm(self, body: str) -> None:
        if self.dm_id is None:
            peer = await self.api.find_user(self.peer)
            if peer is None:
                show(f"! there is no user named {self.peer}")
                return
            self.dm_id = (await self.api.open_dm(peer.id)).id
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


async def chat(api: Api, group: Group, args: argparse.Namespace) -> int:
    """Connect, join the room, then run --script or read stdin. Returns the exit code."""
    async with api.realtime() as rt:
        session = Chat(api, rt, group, args.peer)
        refresher = asyncio.create_task(session.keep_token_fresh())
        try:
            await session.join()
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
    except (ApiError, SessionError, RealtimeClosed, RealtimeError) as e:
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
