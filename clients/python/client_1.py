#!/usr/bin/env python3
"""confab demo client 1 (alice by default): creates the public room if it is missing.

Registers (or logs in), joins the public group --room (creating it when
GET /api/v1/groups?discover=true does not list it), connects the WebSocket and chats:
a plain line goes to the room, "/dm TEXT" to --peer, "/quit" leaves. REST goes through
the generated confab_client, the WebSocket through confab_realtime (demo_common.py).

    PY="$(scripts/pyenv)"
    "$PY" clients/python/client_1.py                       # interactive
    "$PY" clients/python/client_1.py --script "hi all|/dm psst" --expect "hello alice"
"""

from demo_common import Api, chat, make_parser, run


async def session(args) -> int:
    async with Api(args.url) as api:
        await api.register_or_login(args.username, args.password)
        group = await api.join_group_by_name(args.room, create=True)
        return await chat(api, group, args)


if __name__ == "__main__":
    run(session, make_parser(__doc__, username="alice", peer="bob"))
