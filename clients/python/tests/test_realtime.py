"""The realtime module (confab_realtime) against the real server: tickets, join with
since, send with client_id and ack, fan-out, read markers, presence, reconnect and
catch-up, logout-all closing the socket."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from confab_client.api.auth import create_ws_ticket, logout_all
from confab_client.api.dms import list_dms, open_dm
from confab_client.api.messages import delete_message, edit_message, get_presence, list_messages, mark_read, send_message
from confab_client.models import (
    AckFrame, Conversation, EditMessage, ErrorFrame, JoinedFrame, MessageDeletedFrame, MessageFrame,
    MessageUpdatedFrame, OpenDm, Presence, PresenceFrame, PresenceStatus, ReadEventFrame, ReadMarker, SendMessage,
    WsTicket,
)
from confab_realtime import CLOSE_UNAUTHORIZED, Realtime, RealtimeClosed, RealtimeError


def ticket_for(account):
    async def fetch() -> str:
        t = await create_ws_ticket.asyncio(client=account.client)
        assert isinstance(t, WsTicket)
        return t.ticket
    return fetch


async def open_dm_between(a, b) -> Conversation:
    dm = await open_dm.asyncio(client=a.client, body=OpenDm(user_id=b.user.id))
    assert isinstance(dm, Conversation)
    return dm


async def test_dm_over_websocket(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm_between(alice, bob)
    # Opening it again is the same conversation.
    assert (await open_dm.asyncio(client=bob.client, body=OpenDm(user_id=alice.user.id))).id == dm.id

    async with Realtime(base_url, ticket=ticket_for(alice)) as a, Realtime(base_url, token=bob.tokens.access_token) as b:
        joined_a = await a.join(dm.id, since=0)
        assert isinstance(joined_a, JoinedFrame)
        assert joined_a.conversation == dm.id and joined_a.last_seq == 0
        await b.join(dm.id, since=0)

        ack = await a.send(dm.id, "hello over the socket", client_id="cid-1")
        assert isinstance(ack, AckFrame)
        assert ack.client_id == "cid-1" and ack.seq == 1
        # In a DM, a participant is present to the other once they have written
        # there: alice's first message announces her to bob (bob, silent, is not
        # shown to alice).
        presence = await b.next_frame(PresenceFrame, where=lambda f: f.user.id == alice.user.id)
        assert isinstance(presence, PresenceFrame) and presence.status == PresenceStatus.ONLINE  # with its enum
        online = await get_presence.asyncio(dm.id, client=alice.client)
        assert isinstance(online, Presence) and {u.id for u in online.online} == {alice.user.id}
        got = await b.next_frame("message")  # a type string works as well as the model class
        assert isinstance(got, MessageFrame)
        assert got.body == "hello over the socket" and got.seq == 1 and got.sender.id == alice.user.id and got.created_at
        # The same client_id again: the first ack, nothing stored.
        assert (await a.send(dm.id, "hello over the socket", client_id="cid-1")).id == ack.id

        # REST sends reach the socket too.
        rest = await send_message.asyncio(dm.id, client=bob.client, body=SendMessage(body="hi from REST"))
        echoed = await a.next_frame(where=lambda f: isinstance(f, MessageFrame) and f.id == rest.id)
        assert isinstance(echoed, MessageFrame) and echoed.seq == rest.seq == 2

        # Alice has not read bob's message yet; marking it read over REST tells bob.
        dms = await list_dms.asyncio(client=alice.client)
        assert [c.unread for c in dms.items if c.id == dm.id] == [1]
        assert (await mark_read.asyncio_detailed(dm.id, client=alice.client, body=ReadMarker(seq=2))).status_code == 204
        read = await b.next_frame(ReadEventFrame, where=lambda f: f.user.id == alice.user.id)
        assert read.seq == 2
        dms = await list_dms.asyncio(client=alice.client)
        assert [c.unread for c in dms.items if c.id == dm.id] == [0]

        # A refused send gets its error frame as an exception.
        with pytest.raises(RealtimeError) as refused:
            await a.send(dm.id, "x" * 5000)
        assert refused.value.code == "validation_failed"
        assert isinstance(refused.value.frame, ErrorFrame) and refused.value.frame.code == "validation_failed"

        history = await list_messages.asyncio(dm.id, client=alice.client)
        assert [m.body for m in history.items] == ["hello over the socket", "hi from REST"]

        # An edit and a delete over REST reach the socket as message_updated / message_deleted.
        await edit_message.asyncio(rest.id, client=bob.client, body=EditMessage(body="hi from REST (edited)"))
        updated = await a.next_frame(MessageUpdatedFrame, where=lambda f: f.id == rest.id)
        assert isinstance(updated, MessageUpdatedFrame)
        assert updated.body == "hi from REST (edited)" and updated.edited_at and updated.seq == 2
        assert (await delete_message.asyncio_detailed(rest.id, client=bob.client)).status_code == 204
        deleted = await a.next_frame(MessageDeletedFrame, where=lambda f: f.id == rest.id)
        assert isinstance(deleted, MessageDeletedFrame) and deleted.seq == 2


async def test_join_since_replays_missed_messages(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm_between(alice, bob)
    for i in range(3):
        await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body=f"old {i}"))
    async with Realtime(base_url, token=bob.tokens.access_token) as b:
        joined = await b.join(dm.id, since=1)
        assert joined.last_seq == 3
        # Everything after seq 1 was replayed before `joined`: it is queued already.
        first = await b.next_frame(MessageFrame, timeout=1)
        second = await b.next_frame(MessageFrame, timeout=1)
        assert [first.seq, second.seq] == [2, 3]
        assert b.last_seq[dm.id] == 3


async def test_reconnect_catches_up(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm_between(alice, bob)
    async with Realtime(base_url, ticket=ticket_for(bob)) as b:
        await b.join(dm.id, since=0)
        await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="before"))
        assert (await b.next_frame(MessageFrame)).body == "before"

        # Drop the connection under the client; while it is down, alice writes on.
        assert b._ws is not None
        b._ws.transport.abort()
        await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="while away 1"))
        await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="while away 2"))

        # It reconnects with a fresh ticket, rejoins with since=1 and gets both, once each.
        bodies = [(await b.next_frame(MessageFrame, timeout=15)).body for _ in range(2)]
        assert bodies == ["while away 1", "while away 2"]
        assert b.connects == 2
        assert b.last_seq[dm.id] == 3
        ack = await b.send(dm.id, "back again")
        assert ack.seq == 4


async def test_logout_all_closes_the_socket(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm_between(alice, bob)
    async with Realtime(base_url, token=alice.tokens.access_token) as a:
        await a.join(dm.id)
        assert (await logout_all.asyncio_detailed(client=alice.client)).status_code == 204
        with pytest.raises(RealtimeClosed) as closed:
            await a.next_frame(MessageFrame, timeout=10)
        assert closed.value.code == CLOSE_UNAUTHORIZED
        assert a.connects == 1  # 4001 is final: no reconnect with the revoked token
    # The revoked token no longer opens a socket.
    with pytest.raises(InvalidStatus) as refused:
        async with Realtime(base_url, token=alice.tokens.access_token):
            pass
    assert refused.value.response.status_code == 401
