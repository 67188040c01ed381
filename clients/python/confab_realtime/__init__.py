"""Realtime (WebSocket) client for confab, hand-written over the generated REST SDK.

The frames are those of ``openapi/asyncapi.yaml`` (JSON text frames with a ``type``). A
:class:`Realtime` connection

* authenticates with an access token (``Authorization`` header) or a single-use ticket
  (``?ticket=``; pass ``ticket=`` an async function that fetches a fresh one from
  ``POST /api/v1/auth/ws-ticket``, so that reconnects get their own);
* ``join``\\ s a conversation with ``since`` (the server replays the missed messages,
  then answers ``joined``);
* ``send``\\ s with a ``client_id`` and awaits the ``ack`` (a resend with the same
  ``client_id`` is answered with the first ack and stores nothing);
* reconnects when the connection drops (not on 4001/4003: the credentials are bad) and
  rejoins every room with ``since`` = the last ``seq`` and ``since_rev`` = the last ``rev``
  seen there, so nothing is missed.

    from confab_client.models import MessageFrame

    async with Realtime(base_url, token=access_token) as rt:
        joined = await rt.join(conversation_id)           # a JoinedFrame
        ack = await rt.send(conversation_id, "hello")     # an AckFrame
        msg = await rt.next_frame(MessageFrame, where=lambda f: f.conversation == conversation_id)
        print(msg.sender.username, msg.body, msg.created_at)

Typed frames
------------
Every server frame is handed back as its generated ``confab_client.models`` model (attrs
classes, with ``datetime``\\ s and enums): ``join`` returns a ``JoinedFrame``, ``send`` an
``AckFrame``, :class:`RealtimeError` carries the ``ErrorFrame``, and ``next_frame`` /
``frames`` yield any of them. :data:`SERVER_FRAME_MODELS` maps each ``type`` to its model;
it is the only place that does, so a frame type added to the spec needs one line there
(``"reaction": _m.ReactionFrame``). A frame the table has no model for (a ``type`` newer
than this SDK), or one that does not fit its model, is handed back as an
:class:`UnknownFrame` holding the frame's dict (and, for the latter, the parse error); the
reader logs nothing and goes on. :func:`parse_frame` does the same for any dict.

A model keeps the frame's ``type`` among its additional properties (``frame["type"]``,
and ``frame.to_dict()`` is the frame as sent), except the pong model, which declares it
(``type_``); :func:`frame_type` gives the ``type`` of any frame, ``UnknownFrame``\\ s
included.

Waiting for frames
------------------
``next_frame(*types, where=None, timeout=10.0)`` returns the next frame that is one of
``types`` and satisfies ``where``, skipping (and dropping) the others. ``types`` are model
classes (``MessageFrame``; a type checker then knows the result's type, and ``where``'s
argument's) or ``type`` strings as on the wire (``"message"``, which also matches an
``UnknownFrame`` of that type); none means any frame. ``where`` is a predicate on the typed
frame:

    await rt.next_frame(MessageFrame, MessageUpdatedFrame, where=lambda f: f.conversation == cid)
    await rt.next_frame(where=lambda f: isinstance(f, MessageFrame) and f.conversation == cid)
    await rt.next_frame("presence", timeout=None)

``frames()`` yields every frame until the session ends.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast, overload
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from confab_client import models as _m

__all__ = [
    "Realtime", "RealtimeClosed", "RealtimeError", "ServerFrame", "UnknownFrame",
    "SERVER_FRAME_MODELS", "frame_type", "parse_frame",
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
# The generated model of each server frame, by its `type` (the spec's ServerFrame
# discriminator mapping). The one place that maps types to models: a new frame type
# needs one line here.
SERVER_FRAME_MODELS: dict[str, type[Any]] = {
    "joined": _m.JoinedFrame,
    "ack": _m.AckFrame,
    "message": _m.MessageFrame,
    "message_updated": _m.MessageUpdatedFrame,
    "message_deleted": _m.MessageDeletedFrame,
    "presence": _m.PresenceFrame,
    "typing": _m.TypingFrame,
    "read": _m.ReadEventFrame,
    "membership": _m.MembershipFrame,
    "error": _m.ErrorFrame,
    "pong": _m.ServerFramePongFrame,  # the spec has no separate model for an empty frame
    "reaction": _m.ReactionFrame,
}


@dataclass(frozen=True)
class UnknownFrame:
    """A server frame without a model here: its ``type`` is not in
    :data:`SERVER_FRAME_MODELS` (``error`` is None), or it did not fit its model
    (``error`` says why). ``data`` is the frame as received."""

    data: dict[str, Any]
    error: str | None = None

    @property
    def type(self) -> str | None:
        kind = self.data.get("type")
        return kind if isinstance(kind, str) else None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


# Any server frame: one of the models of SERVER_FRAME_MODELS, or an UnknownFrame. Narrow it
# with isinstance (or ask next_frame for model classes, which types its result).
ServerFrame: TypeAlias = object

F = TypeVar("F")


def parse_frame(frame: Mapping[str, Any]) -> ServerFrame:
    """The generated model of a server frame (e.g. ``MessageFrame``), or an
    :class:`UnknownFrame` for a ``type`` without a model or a frame that does not fit its
    model; never raises."""
    kind = frame.get("type")
    model = SERVER_FRAME_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        return UnknownFrame(dict(frame))
    try:
        return model.from_dict(frame)
    except Exception as e:  # whatever the generated from_dict raises on a misfit
        return UnknownFrame(dict(frame), error=f"{type(e).__name__}: {e}")


def frame_type(frame: ServerFrame) -> str | None:
    """The ``type`` of a frame that :func:`parse_frame` made (None if it has none)."""
    if isinstance(frame, UnknownFrame):
        return frame.type
    for kind, model in SERVER_FRAME_MODELS.items():
        if type(frame) is model:
            return kind
    return None


class RealtimeError(Exception):
    """The server answered a frame with an ``error`` frame (``frame``, an ``ErrorFrame``)."""

    def __init__(self, frame: _m.ErrorFrame):
        super().__init__(f"{frame.code}: {frame.message}")
        self.frame = frame
        self.code = frame.code


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
        self._acks: dict[str, asyncio.Future[_m.AckFrame]] = {}
        self._joins: dict[str, asyncio.Future[_m.JoinedFrame]] = {}
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
                    data = json.loads(raw)
                    if isinstance(data, dict):  # every frame is a JSON object
                        self._dispatch(parse_frame(data))
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
        waiting: list[asyncio.Future[Any]] = [*self._acks.values(), *self._joins.values()]
        for fut in waiting:
            if not fut.done():
                fut.set_exception(closed)
        self._acks.clear()
        self._joins.clear()
        self._queue.put_nowait(closed)

    def _dispatch(self, frame: ServerFrame) -> None:
        # Track what a rejoin after a reconnect asks the server for (since / since_rev).
        if isinstance(frame, (_m.MessageFrame, _m.MessageUpdatedFrame, _m.MessageDeletedFrame)) and frame.conversation:
            conv = frame.conversation
            self.last_seq[conv] = max(self.last_seq.get(conv, 0), frame.seq)
            self.last_rev[conv] = max(self.last_rev.get(conv, 0), frame.rev)
        if isinstance(frame, _m.ReactionFrame) and frame.conversation:
            conv = frame.conversation
            self.last_rev[conv] = max(self.last_rev.get(conv, 0), frame.rev)
        if isinstance(frame, _m.AckFrame):
            fut = self._acks.pop(frame.client_id, None) if isinstance(frame.client_id, str) else None
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif isinstance(frame, _m.JoinedFrame) and frame.conversation:
            conv = frame.conversation
            self.last_seq[conv] = max(self.last_seq.get(conv, 0), 0)
            self.last_rev[conv] = max(self.last_rev.get(conv, 0), frame.last_rev)
            joined = self._joins.pop(conv, None)
            if joined is not None and not joined.done():
                joined.set_result(frame)
        elif isinstance(frame, _m.ErrorFrame) and isinstance(frame.ref, str):
            ref = frame.ref
            waiting: asyncio.Future[Any] | None = self._acks.pop(ref, None) or self._joins.pop(ref, None)
            if waiting is not None and not waiting.done():
                waiting.set_exception(RealtimeError(frame))
        self._queue.put_nowait(frame)

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
    ) -> _m.JoinedFrame:
        """Join a room; the server replays messages with seq > ``since`` (default: the
        last seq this session saw there, else none), then the older messages changed
        after ``since_rev`` (default: the last rev seen there, else none) as they are
        now, then answers ``joined`` (returned). RealtimeError if refused."""
        if since is None:
            since = self.last_seq.get(conversation)
        if since_rev is None:
            since_rev = self.last_rev.get(conversation)
        fut: asyncio.Future[_m.JoinedFrame] = asyncio.get_running_loop().create_future()
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

    async def send(
        self, conversation: str, body: str, client_id: str | None = None, timeout: float = 10.0,
        reply_to: str | None = None,
    ) -> _m.AckFrame:
        """Send a message and await its ``ack`` (RealtimeError if refused). ``reply_to``: the id
        of the message (of this conversation) it answers."""
        client_id = client_id or str(uuid.uuid4())
        fut = self._acks.get(client_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._acks[client_id] = fut
        frame: dict[str, Any] = {"type": "send", "conversation": conversation, "body": body, "client_id": client_id}
        if reply_to is not None:
            frame["reply_to"] = reply_to
        await self._send_frame(frame)
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    async def typing(self, conversation: str) -> None:
        await self._send_frame({"type": "typing", "conversation": conversation})

    async def mark_read(self, conversation: str, seq: int) -> None:
        await self._send_frame({"type": "read", "conversation": conversation, "seq": seq})

    async def react(self, conversation: str, message: str, emoji: str, on: bool = True) -> None:
        """Add (``on``) or remove your ``emoji`` reaction (an emoji or ``:shortcode:``) to a
        message. The room (you included, if joined) gets a ``reaction`` frame when it
        changed something; a refusal comes back as an ``error`` frame whose ``ref`` is the
        message id."""
        await self._send_frame(
            {"type": "react", "conversation": conversation, "message": message, "emoji": emoji, "on": on}
        )

    async def reauth(self, token: str) -> None:
        """Hand the connection a fresh access token before the current one expires."""
        if not callable(self._token):
            self._token = token
        await self._send_frame({"type": "reauth", "token": token})

    async def ping(self) -> None:
        await self._send_frame({"type": "ping"})

    # -- server -> client --------------------------------------------------------------
    @overload
    async def next_frame(
        self, type_: type[F], /, *types: type[F], where: Callable[[F], bool] | None = None,
        timeout: float | None = 10.0,
    ) -> F: ...

    @overload
    async def next_frame(
        self, *types: str, where: Callable[[ServerFrame], bool] | None = None, timeout: float | None = 10.0,
    ) -> ServerFrame: ...

    async def next_frame(
        self,
        *types: type[Any] | str,
        where: Callable[[Any], bool] | None = None,
        timeout: float | None = 10.0,
    ) -> Any:
        """The next frame that is one of ``types`` (model classes, or ``type`` strings as
        on the wire; none: any frame) and satisfies ``where`` (a predicate on the typed
        frame), skipping others; see the module docstring. Raises RealtimeClosed once the
        session has ended, TimeoutError on timeout."""

        def wanted(frame: ServerFrame) -> bool:
            if not types:
                return True
            kind = frame_type(frame)
            return any(t == kind if isinstance(t, str) else isinstance(frame, t) for t in types)

        async def find() -> ServerFrame:
            while True:
                item = await self._queue.get()
                if isinstance(item, RealtimeClosed):
                    self._queue.put_nowait(item)  # later calls see it too
                    raise item
                if wanted(item) and (where is None or where(item)):
                    return item

        return await asyncio.wait_for(find(), timeout)

    async def frames(self) -> AsyncIterator[ServerFrame]:
        """Every frame (a model, or an UnknownFrame) until the session ends."""
        while True:
            try:
                yield await self.next_frame(timeout=None)
            except RealtimeClosed:
                return
