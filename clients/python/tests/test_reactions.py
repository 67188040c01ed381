"""Reactions and replies through both halves of the Python SDK (issue 23): REST toggles
with `me` on the message, the reactor list, and the `reaction` delta a socket hears as
a typed ReactionFrame; a 21st distinct emoji is a typed 422; a reply shows what it
answers, over REST and in the socket's MessageFrame, and is listed under it."""

from __future__ import annotations

from confab_client.api.dms import open_dm
from confab_client.api.messages import (
    add_reaction, list_messages, list_reactors, list_replies, remove_reaction, send_message,
)
from confab_client.models import (
    Conversation, ErrorBody, History, MessageFrame, OpenDm, ReactionFrame, ReactorPage, SendMessage,
)
from confab_realtime import Realtime


async def test_reactions_over_rest_and_the_socket(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm.asyncio(client=alice.client, body=OpenDm(user_id=bob.user.id))
    assert isinstance(dm, Conversation)
    sent = await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="react to this"))
    assert sent is not None and sent.reactions == []

    async with Realtime(base_url, token=bob.tokens.access_token) as b, \
            Realtime(base_url, token=alice.tokens.access_token) as a:
        await b.join(dm.id, since=1)
        # Over REST: 204, idempotent; the shortcode is the same emoji.
        for _ in range(2):
            done = await add_reaction.asyncio_detailed(sent.id, "👍", client=alice.client)
            assert done.status_code == 204
        delta = await b.next_frame(ReactionFrame, where=lambda f: f.message == sent.id)
        assert (delta.emoji, delta.on, delta.count, delta.user.username) == ("👍", True, 1, alice.user.username)
        assert b.last_rev[dm.id] == delta.rev == 1

        # Over the socket, by shortcode: alice's repeat changes nothing (no frame), bob's
        # is the next reaction anyone hears.
        await a.react(dm.id, sent.id, ":+1:")
        await b.react(dm.id, sent.id, ":+1:")
        delta = await b.next_frame(ReactionFrame)
        assert (delta.user.id, delta.count, delta.on, delta.rev) == (bob.user.id, 2, True, 2)

    page = await list_messages.asyncio(dm.id, client=bob.client)
    assert isinstance(page, History)
    [reaction] = page.items[0].reactions
    assert (reaction.emoji, reaction.count, reaction.me) == ("👍", 2, True)
    who = await list_reactors.asyncio(sent.id, "👍", client=bob.client, limit=1)
    assert isinstance(who, ReactorPage) and len(who.items) == 1 and who.next_cursor
    rest = await list_reactors.asyncio(sent.id, "👍", client=bob.client, cursor=who.next_cursor)
    assert isinstance(rest, ReactorPage) and len(rest.items) == 1 and not rest.next_cursor
    assert {who.items[0].username, rest.items[0].username} == {alice.user.username, bob.user.username}

    gone = await remove_reaction.asyncio_detailed(sent.id, "👍", client=alice.client)
    assert gone.status_code == 204
    page = await list_messages.asyncio(dm.id, client=alice.client)
    assert isinstance(page, History)
    [reaction] = page.items[0].reactions
    assert (reaction.count, reaction.me) == (1, False)

    many = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊",
            "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂"]
    for e in many[1:]:  # 👍 is still there: 20 in all
        assert (await add_reaction.asyncio_detailed(sent.id, e, client=alice.client)).status_code == 204
    over = await add_reaction.asyncio_detailed(sent.id, "🤗", client=alice.client)
    assert over.status_code == 422
    assert isinstance(over.parsed, ErrorBody) and over.parsed.error.code == "validation_failed"


async def test_replies_over_rest_and_the_socket(base_url: str, new_user) -> None:
    alice, bob = await new_user("alice"), await new_user("bob")
    dm = await open_dm.asyncio(client=alice.client, body=OpenDm(user_id=bob.user.id))
    assert isinstance(dm, Conversation)
    question = await send_message.asyncio(dm.id, client=alice.client, body=SendMessage(body="lunch at noon?"))
    assert question is not None
    answer = await send_message.asyncio(dm.id, client=bob.client, body=SendMessage(body="yes", reply_to=question.id))
    assert answer is not None and answer.reply_to is not None
    assert (answer.reply_to.id, answer.reply_to.excerpt, answer.reply_to.sender.username) == (
        question.id, "lunch at noon?", alice.user.username)

    async with Realtime(base_url, token=alice.tokens.access_token) as a:
        await a.join(dm.id, since=2)
        ack = await a.send(dm.id, "great", reply_to=answer.id)
        echo = await a.next_frame(MessageFrame, where=lambda f: f.id == ack.id)
        assert echo.reply_to is not None and echo.reply_to.excerpt == "yes"

    listed = await list_replies.asyncio(question.id, client=alice.client)
    assert isinstance(listed, History) and [m.body for m in listed.items] == ["yes"]
    bad = await send_message.asyncio_detailed(
        dm.id, client=bob.client, body=SendMessage(body="x", reply_to=f"{dm.id}-999"))
    assert bad.status_code == 404
