"""confab_realtime hands back the generated frame models: `join` a JoinedFrame, `send` an
AckFrame, `next_frame` the model of whatever arrived (filtered by model class, type
string or a predicate on the typed frame), and an UnknownFrame for a frame it has no
model for, without stopping the reader."""

from __future__ import annotations

import json
from typing import Any

from confab_client.api.auth import create_ws_ticket
from confab_client.api.dms import open_dm
from confab_client.api.messages import edit_message, send_message
from confab_client.models import (
    AckFrame, Conversation, EditMessage, ErrorFrame, JoinedFrame, Message, MessageFrame, MessageUpdatedFrame, OpenDm,
    SendMessage, ServerFramePongFrame, UserRef, WsTicket,
)
from confab_realtime import SERVER_FRAME_MODELS, Realtime, RealtimeError, UnknownFrame, frame_type, parse_frame

CONV = "65f0c0ffee00000000000001"
MESSAGE: dict[str, Any] = {
    "type": "message", "conversation": CONV, "id": f"{CONV}-7", "seq": 7,
    "sender": {"id": "65f0c0ffee00000000000002", "username": "bob"}, "body": "hi",
    "created_at": "2025-01-02T03:04:05Z", "rev": 0,
}


# ---- the parser, on dicts ------------------------------------------------------------
def test_every_server_frame_type_of_the_spec_has_a_model() -> None:
    # The spec's ServerFrame union, as the generated SDK sees it: one ServerFrame<X>Type
    # enum per discriminator value.
    import confab_client.models as m
    spec_types = {e.value for name in m.__all__ if name.startswith("ServerFrame") and name.endswith("Type")
                  for e in getattr(m, name)}
    assert spec_types == set(SERVER_FRAME_MODELS)


def test_parse_frame_gives_the_generated_model() -> None:
    frame = parse_frame(MESSAGE)
    assert isinstance(frame, MessageFrame)
    assert frame.body == "hi" and frame.seq == 7 and frame.sender == UserRef.from_dict(MESSAGE["sender"])
    assert frame.created_at.year == 2025  # a datetime, not a string
    assert frame_type(frame) == "message" and frame["type"] == "message"
    assert json.loads(json.dumps(frame.to_dict()))["body"] == "hi"
    assert isinstance(parse_frame({**MESSAGE, "type": "message_updated"}), MessageUpdatedFrame)
    pong = parse_frame({"type": "pong"})
    assert isinstance(pong, ServerFramePongFrame) and frame_type(pong) == "pong"


def test_unknown_frame_type_is_handed_back_not_raised() -> None:
    raw = {"type": "sticker", "conversation": CONV, "emoji": "+1"}
    frame = parse_frame(raw)
    assert isinstance(frame, UnknownFrame)
    assert frame.type == "sticker" == frame_type(frame) and frame.data == raw and frame.error is None
    # Neither is a frame without a type, nor a known type that does not fit its model.
    assert isinstance(parse_frame({"no": "type"}), UnknownFrame)
    misfit = parse_frame({"type": "message", "conversation": CONV})
    assert isinstance(misfit, UnknownFrame) and misfit.type == "message" and misfit.error


async def test_reader_hands_back_unknown_frames_and_goes_on() -> None:
    rt = Realtime("http://127.0.0.1:9", token="unused")  # never connected: frames are fed to it
    rt._dispatch(parse_frame({"type": "sticker", "emoji": "+1"}))
    rt._dispatch(parse_frame(MESSAGE))
    unknown = await rt.next_frame(timeout=1)
    assert isinstance(unknown, UnknownFrame) and unknown.data["emoji"] == "+1"
    got = await rt.next_frame(MessageFrame, timeout=1)
    assert got.body == "hi" and rt.last_seq[CONV] == 7
    # A type string matches an unknown frame of that type too.
    rt._dispatch(parse_frame({"type": "sticker", "emoji": "tada"}))
    rt._dispatch(parse_frame({"type": "sticker", "emoji": "+1"}))
    reaction = await rt.next_frame("sticker", where=lambda f: isinstance(f, UnknownFrame) and f.data["emoji"] == "+1",
                                   timeout=1)
    assert isinstance(reaction, UnknownFrame) and reaction.data["emoji"] == "+1"


# ---- against the server --------------------------------------------------------------
async def test_join_send_and_next_frame_are_typed(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm.asyncio(client=alice.client, body=OpenDm(user_id=bob.user.id))
    assert isinstance(dm, Conversation)
    async with Realtime(base_url, token=alice.tokens.access_token) as a, \
            Realtime(base_url, token=bob.tokens.access_token) as b:
        joined = await b.join(dm.id, since=0)
        assert isinstance(joined, JoinedFrame) and joined.conversation == dm.id and joined.last_seq == 0
        await a.join(dm.id, since=0)

        ack = await a.send(dm.id, "typed hello", client_id="typed-1")
        assert isinstance(ack, AckFrame) and ack.client_id == "typed-1" and ack.seq == 1

        got = await b.next_frame(where=lambda f: isinstance(f, MessageFrame) and f.conversation == dm.id)
        assert isinstance(got, MessageFrame)
        assert got.body == "typed hello" and got.seq == 1 and got.id == ack.id
        assert got.sender.username == alice.user.username

        try:
            await a.join("ffffffffffffffffffffffff")
        except RealtimeError as e:
            assert isinstance(e.frame, ErrorFrame) and e.code == e.frame.code
        else:
            raise AssertionError("joining a conversation that does not exist succeeded")


async def test_reconnect_replays_edits_since_rev(base_url: str, new_user) -> None:
    # last_rev, tracked from the typed frames, goes into the rejoin as since_rev: an
    # edit made while the connection was down arrives as message_updated.
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm.asyncio(client=alice.client, body=OpenDm(user_id=bob.user.id))
    assert isinstance(dm, Conversation)

    async def ticket() -> str:
        t = await create_ws_ticket.asyncio(client=bob.client)
        assert isinstance(t, WsTicket)
        return t.ticket

    async with Realtime(base_url, ticket=ticket) as b:
        await b.join(dm.id, since=0)
        sent = await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="first"))
        assert isinstance(sent, Message)
        assert (await b.next_frame(MessageFrame)).body == "first"
        assert b.last_seq[dm.id] == 1 and dm.id in b.last_rev

        rev_before = b.last_rev[dm.id]
        sent_frames: list[dict] = []
        send_frame = b._send_frame

        async def recording(frame: dict) -> None:
            sent_frames.append(frame)
            await send_frame(frame)

        b._send_frame = recording  # type: ignore[method-assign]
        assert b._ws is not None
        b._ws.transport.abort()
        await edit_message.asyncio(sent.id, client=alice.client, body=EditMessage(body="first (edited)"))

        updated = await b.next_frame(MessageUpdatedFrame, where=lambda f: f.id == sent.id, timeout=15)
        assert updated.body == "first (edited)" and updated.rev > rev_before
        assert b.connects == 2 and b.last_rev[dm.id] == updated.rev
        assert {"type": "join", "conversation": dm.id, "since": 1, "since_rev": rev_before} in sent_frames
