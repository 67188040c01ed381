"""Message search through confab-client (issue 22): a member finds a message by a
part of a word, with highlights and a cursor; an outsider finds nothing; a malformed
query is a typed 400."""

from __future__ import annotations

import asyncio
import time

from confab_client.api.groups import create_group, put_group_member
from confab_client.api.messages import send_message
from confab_client.api.search import search_messages
from confab_client.models import ErrorBody, GroupCreate, GroupRole, MemberRole, SearchPage, SendMessage, Visibility


async def until_found(account, q: str, want: int) -> None:
    """Waits (with a deadline) until the index has caught up: `want` hits for `q`."""
    deadline = time.monotonic() + 15
    while True:
        page = await search_messages.asyncio(client=account.client, q=q)
        assert isinstance(page, SearchPage), page
        if len(page.items) >= want:
            return
        assert time.monotonic() < deadline, f"{q!r} never found"
        await asyncio.sleep(0.1)


async def test_search_over_rest(new_user) -> None:
    alice, bob, carol = await new_user("alice"), await new_user("bob"), await new_user("carol")
    group = await create_group.asyncio(
        client=alice.client, body=GroupCreate(name="search room", visibility=Visibility.PRIVATE))
    await put_group_member.asyncio(
        group.id, bob.user.id, client=alice.client, body=MemberRole(role=GroupRole.MEMBER))
    for i in range(3):
        await send_message.asyncio(group.id, client=alice.client, body=SendMessage(body=f"pythonic haystack {i}"))

    await until_found(bob, "thonic", 3)
    first = await search_messages.asyncio(client=bob.client, q="thonic", limit=2)
    assert [hit.message.body for hit in first.items] == ["pythonic haystack 2", "pythonic haystack 1"]
    assert first.items[0].highlights == [[2, 8]]
    rest = await search_messages.asyncio(client=bob.client, q="thonic", limit=2, cursor=first.next_cursor)
    assert [hit.message.body for hit in rest.items] == ["pythonic haystack 0"] and not rest.next_cursor

    outsider = await search_messages.asyncio(client=carol.client, q="thonic")
    assert isinstance(outsider, SearchPage) and outsider.items == []
    bad = await search_messages.asyncio_detailed(client=bob.client, q='"open quote')
    assert bad.status_code == 400
    assert isinstance(bad.parsed, ErrorBody) and bad.parsed.error.code == "bad_request"
