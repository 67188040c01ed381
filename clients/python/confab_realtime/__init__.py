"""Realtime (WebSocket) client for confab, hand-written over the generated REST SDK.

The frames are those of ``openapi/asyncapi.yaml`` (JSON text frames with a ``type``),
typed here as ``TypedDict``s. A :class:`Realtime` connection

* authenticates with an access token (``Authorization`` header) or a single-use ticket
  (``?ticket=``; pass ``ticket=`` an async function that fetches a fresh one from
  ``POST /api/v1/auth/ws-ticket``, so that reconnects get their own);
* ``join``\\ s a conversation with ``since`` (the server replays the missed messages,
  then answers ``joined``);
* ``send``\\ s with a ``client_id`` and awaits the ``ack`` (a resend with the same
  ``client_id`` is answered with the first ack and stores nothing);
* reconnects when the connection drops (not on 4001/4003: the credentials are bad) and
  rejoins every room with ``since`` = the last ``seq`` seen there, so nothing is missed.

    async with Realtime(base_url, token=access_token) as rt:
        await rt.join(conversation_id)
        ack = await rt.send(conversation_id, "hello")
        frame = await rt.next_frame("message")

Frames arrive as plain dicts (typed below as ``TypedDict``s); :func:`parse_frame` turns one
into its generated ``confab_client`` model (``ServerFrameMessageFrame``, ...), with
``datetime``\\ s and enums, for callers who prefer those.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypedDict, cast
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from confab_client import models as _m

__all__ = [
    "AckFrame", "ErrorFrame", "JoinedFrame", "MembershipFrame", "MessageDeletedFrame",
    "MessageFrame", "PresenceFrame", "ReadFrame", "Realtime", "RealtimeClosed",
    "RealtimeError", "ServerFrame", "TypingFrame", "UserRef", "SERVER_FRAME_MODELS", "parse_frame",
    "CLOSE_UNAUTHORIZED", "CLOSE_FORBIDDEN", "CLOSE_RATE_LIMITED", "CLOSE_TOO_SLOW",
]

# Close codes (openapi/asyncapi.yaml).
CLOSE_GOING_AWAY = 1001
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009
FATAL_CLOSE_CODES = frozenset({CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN})


# ---- server -> client frames ---------------------------------------------------------
class UserRef(TypedDict):
    id: str
    username: str


class JoinedFrame(TypedDict, total=False):
    type: Literal["joined"]
    conversation: str
    last_seq: int
    online: list[UserRef]
    truncated: bool
    last_rev: int
    changes_truncated: bool


class AckFrame(TypedDict, total=False):
    type: Literal["ack"]
    client_id: str
    id: str
    seq: int


class MessageFrame(TypedDict, total=False):
    type: Literal["message", "message_updated"]
    conversation: str
    id: str
    seq: int
    sender: UserRef
    body: str
    created_at: str
    edited_at: str
    deleted: bool
    rev: int


class MessageDeletedFrame(TypedDict):
    type: Literal["message_deleted"]
    conversation: str
    id: str
    seq: int
    rev: int


class PresenceFrame(TypedDict):
    type: Literal["presence"]
    conversation: str
    user: UserRef
    status: Literal["online", "offline"]


class TypingFrame(TypedDict):
    type: Literal["typing"]
    conversation: str
    user: UserRef


class ReadFrame(TypedDict):
    type: Literal["read"]
    conversation: str
    user: UserRef
    seq: int


class MembershipFrame(TypedDict, total=False):
    type: Literal["membership"]
    conversation: str
    status: Literal["added", "removed"]
    role: Literal["owner", "admin", "member"]


class ErrorFrame(TypedDict, total=False):
    type: Literal["error"]
    code: str
    message: str
    ref: str


ServerFrame = (
    JoinedFrame | AckFrame | MessageFrame | MessageDeletedFrame | PresenceFrame
    | TypingFrame | ReadFrame | MembershipFrame | ErrorFrame | dict[str, Any]
)


# The generated model of each server frame, by its `type` (the spec's ServerFrame mapping).
SERVER_FRAME_MODELS: dict[str, type[Any]] = {
    "joined": _m.ServerFrameJoinedFrame,
    "ack": _m.ServerFrameAckFrame,
    "message": _m.ServerFrameMessageFrame,
    "message_updated": _m.ServerFrameMessageUpdatedFrame,
    "message_deleted": _m.ServerFrameMessageDeletedFrame,
    "presence": _m.ServerFramePresenceFrame,
    "typing": _m.ServerFrameTypingFrame,
    "read": _m.ServerFrameReadEventFrame,
    "membership": _m.ServerFrameMembershipFrame,
    "error": _m.ServerFrameErrorFrame,
    "pong": _m.ServerFramePongFrame,
}


def parse_frame(frame: dict[str, Any]) -> Any:
    """The generated model of a server frame (e.g. ``ServerFrameMessageFrame``); raises
    ValueError for a frame type the spec does not list, KeyError/ValueError for a frame
    that does not fit its model."""
    model = SERVER_FRAME_MODELS.get(str(frame.get("type")))
    if model is None:
        raise ValueError(f"unknown frame type {frame.get('type')!r}")
    return model.from_dict(frame)


class RealtimeError(Exception):
    """The server answered a frame with an ``error`` frame."""

    def __init__(self, frame: ErrorFrame):
        super().__init__(f"{frame.get('code')}: {frame.get('message')}")
        self.frame = frame
        self.code = frame.get("code", "")


class RealtimeClosed(Exception):
    """The connection is closed for good (closed by us, or refused credentials)."""

    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


Credential = Callable[[], Awaitable[str]]


class Realtime:
    """One logical WebSocket session; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | Credential | None = None,
        ticket: Credential | None = None,
        reconnect: bool = True,
        max_backoff: float = 5.0,
        open_timeout: float = 10.0,
    ):
        if (token is None) == (ticket is None):
            raise ValueError("give exactly one of token= and ticket=")
        scheme, rest = base_url.rstrip("/").split("://", 1)
        self.url = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme) + "://" + rest + "/api/v1/ws"
        self._token, self._ticket = token, ticket
        self.reconnect, self.max_backoff, self.open_timeout = reconnect, max_backoff, open_timeout
        self.last_seq: dict[str, int] = {}  # conversation -> highest message seq seen
        self.last_rev: dict[str, int] = {}  # conversation -> highest change counter seen
        self.rooms: set[str] = set()  # joined conversations, rejoined after a reconnect
        self.connects = 0  # successful connections (1 + reconnects)
        self.close_code: int | None = None
        self._ws: ClientConnection | None = None
        self._queue: asyncio.Queue[ServerFrame | RealtimeClosed] = asyncio.Queue()
        self._acks: dict[str, asyncio.Future[AckFrame]] = {}
        self._joins: dict[str, asyncio.Future[JoinedFrame]] = {}
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------
    async def __aenter__(self) -> Realtime:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection (raises ``websockets.exceptions.InvalidStatus`` on 401/403)."""
        await self._open()
        self._reader = asyncio.create_task(self._run())

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _open(self) -> None:
        url, headers = self.url, {}
        if self._ticket is not None:
            url += "?ticket=" + quote(await self._ticket(), safe="")
        else:
            token = self._token if isinstance(self._token, str) else await cast(Credential, self._token)()
            headers["Authorization"] = f"Bearer {token}"
        self._ws = await connect(url, additional_headers=headers, open_timeout=self.open_timeout)
        self.connects += 1
        self._connected.set()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for raw in ws:
                    self._dispatch(json.loads(raw))
            except ConnectionClosed:
                pass
            except json.JSONDecodeError:
                pass
            self._connected.clear()
            self.close_code = ws.close_code
            if self._closing or not self.reconnect or ws.close_code in FATAL_CLOSE_CODES:
                break
            # Reconnect, then rejoin every room from the last seq seen there.
            while not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                try:
                    await self._open()
                except InvalidStatus as e:
                    if e.response.status_code in (401, 403):
                        self.close_code = CLOSE_UNAUTHORIZED
                        self._fail(RealtimeClosed(CLOSE_UNAUTHORIZED, f"reconnect refused: HTTP {e.response.status_code}"))
                        return
                    continue
                except (OSError, asyncio.TimeoutError):
                    continue
                backoff = 0.2
                for room in sorted(self.rooms):
                    rejoin: dict[str, Any] = {"type": "join", "conversation": room, "since": self.last_seq.get(room, 0)}
                    if room in self.last_rev:
                        rejoin["since_rev"] = self.last_rev[room]
                    await self._send_frame(rejoin)
                break
            else:
                break
        self._fail(RealtimeClosed(self.close_code, ws.close_reason or ""))

    def _fail(self, closed: RealtimeClosed) -> None:
        for fut in [*self._acks.values(), *self._joins.values()]:
            if not fut.done():
                fut.set_exception(closed)
        self._acks.clear()
        self._joins.clear()
        self._queue.put_nowait(closed)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        conv = frame.get("conversation")
        if kind in ("message", "message_updated", "message_deleted") and isinstance(frame.get("seq"), int) and conv:
            self.last_seq[conv] = max(self.last_seq.get(conv, 0), frame["seq"])
            if isinstance(frame.get("rev"), int):
                self.last_rev[conv] = max(self.last_rev.get(conv, 0), frame["rev"])
        if kind == "ack":
            fut = self._acks.pop(frame.get("client_id", ""), None)
            if fut is not None and not fut.done():
                fut.set_result(cast(AckFrame, frame))
        elif kind == "joined" and conv:
            self.last_seq[conv] = max(self.last_seq.get(conv, 0), 0)
            if isinstance(frame.get("last_rev"), int):
                self.last_rev[conv] = max(self.last_rev.get(conv, 0), frame["last_rev"])
            fut = self._joins.pop(conv, None)
            if fut is not None and not fut.done():
                fut.set_result(cast(JoinedFrame, frame))
        elif kind == "error":
            ref = frame.get("ref")
            fut2: asyncio.Future[Any] | None = self._acks.pop(ref, None) or self._joins.pop(ref, None)
            if fut2 is not None and not fut2.done():
                fut2.set_exception(RealtimeError(cast(ErrorFrame, frame)))
        self._queue.put_nowait(cast(ServerFrame, frame))

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        if self._ws is None:
            raise RealtimeClosed(None, "not connected")
        try:
            await self._ws.send(json.dumps(frame))
        except ConnectionClosed as e:
            raise RealtimeClosed(e.rcvd.code if e.rcvd else None, "connection closed") from None

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    # -- client -> server --------------------------------------------------------------
    async def join(
        self, conversation: str, since: int | None = None, timeout: float = 10.0, since_rev: int | None = None,
    ) -> JoinedFrame:
        """Join a room; the server replays messages with seq > ``since`` (default: the
        last seq this session saw there, else none), then the older messages changed
        after ``since_rev`` (default: the last rev seen there, else none) as they are
        now, then answers ``joined``."""
        if since is None:
            since = self.last_seq.get(conversation)
        if since_rev is None:
            since_rev = self.last_rev.get(conversation)
        fut: asyncio.Future[JoinedFrame] = asyncio.get_running_loop().create_future()
        self._joins[conversation] = fut
        frame: dict[str, Any] = {"type": "join", "conversation": conversation}
        if since is not None:
            frame["since"] = since
        if since_rev is not None:
            frame["since_rev"] = since_rev
        await self._send_frame(frame)
        joined = await asyncio.wait_for(fut, timeout)
        self.rooms.add(conversation)
        return joined

    async def leave(self, conversation: str) -> None:
        self.rooms.discard(conversation)
        await self._send_frame({"type": "leave", "conversation": conversation})

    async def send(self, conversation: str, body: str, client_id: str | None = None, timeout: float = 10.0) -> AckFrame:
        """Send a message and await its ``ack`` (RealtimeError if refused)."""
        client_id = client_id or str(uuid.uuid4())
        fut = self._acks.get(client_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._acks[client_id] = fut
        await self._send_frame({"type": "send", "conversation": conversation, "body": body, "client_id": client_id})
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    async def typing(self, conversation: str) -> None:
        await self._send_frame({"type": "typing", "conversation": conversation})

    async def mark_read(self, conversation: str, seq: int) -> None:
        await self._send_frame({"type": "read", "conversation": conversation, "seq": seq})

    async def reauth(self, token: str) -> None:
        """Hand the connection a fresh access token before the current one expires."""
        if not callable(self._token):
            self._token = token
        await self._send_frame({"type": "reauth", "token": token})

    async def ping(self) -> None:
        await self._send_frame({"type": "ping"})

    # -- server -> client --------------------------------------------------------------
    async def next_frame(
        self,
        *types: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float | None = 10.0,
    ) -> ServerFrame:
        """The next frame (of one of ``types``, matching ``where``), skipping others.
        Raises RealtimeClosed once the session has ended, TimeoutError on timeout."""

        async def find() -> ServerFrame:
            while True:
                item = await self._queue.get()
                if isinstance(item, RealtimeClosed):
                    self._queue.put_nowait(item)  # later calls see it too
                    raise item
                if (not types or item.get("type") in types) and (where is None or where(item)):
                    return item

        return await asyncio.wait_for(find(), timeout)

    async def frames(self) -> AsyncIterator[ServerFrame]:
        """Every frame until the session ends."""
        while True:
            try:
                yield await self.next_frame(timeout=None)
            except RealtimeClosed:
                return
