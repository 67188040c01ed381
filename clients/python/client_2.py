#!/usr/bin/env python3
"""confab demo client 2 (bob by default): joins the room that client 1 creates.

Registers (or logs in), waits up to 10 s for the public group --room to appear in
GET /api/v1/groups?discover=true, joins it, connects the WebSocket and chats:
a plain line goes to the room, "/dm TEXT" to --peer, "/quit" leaves. REST goes through
the generated confab_client, the WebSocket through confab_realtime (demo_common.py).

    PY="$(scripts/pyenv)"
    "$PY" clients/python/client_2.py                       # interactive
    "$PY" clients/python/client_2.py --script "hello alice|/dm hey" --expect "hi all"
"""

from demo_common import Api, chat, make_parser, run

ROOM_WAIT_SECS = 10.0


async def session(args) -> int:
    async with Api(args.url) as api:
        await api.register_or_login(args.username, args.password)
        group = await api.join_group_by_name(args.room, wait=ROOM_WAIT_SECS)
        return await chat(api, group, args)


if __name__ == "__main__":
    run(session, make_parser(__doc__, username="bob", peer="alice"))
