"""The clients of a chaos run: senders (WebSocket and REST), readers, the owner
who removes members, the victims who log out, and the revoked users who keep
trying. Everything they see is written to the Recorder with times relative to
the start of traffic (t = 0)."""

import asyncio
import json
import random
import time
from urllib.parse import quote

import httpx
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

PASSWORD = "chaos harness passphrase 7731"
SEND_TIMEOUT = 5.0
REACTION_EMOJI = ["👍", "🎉", "❤️"]


class Recorder:
    def __init__(self):
        self.t0 = time.monotonic()
        self.acks = {}          # client_id -> [ack record]
        self.sent = {}          # client_id -> send record (every message a client tried)
        self.sessions = []      # reader sessions, one per (connection, conversation)
        self.attempts = []      # revoked users' attempts
        self.revocations = []   # removal / logout-all calls, with their return times
        self.faults = []        # faults as executed
        self.edits = []         # edits and deletes of acked messages
        self.notes = []         # anything odd, with times (not violations)
        self.observed = {}      # per revoked user: counts before the revocation
        self.transfers = []     # ownership transfers of the crown group (`crown`)
        self.reactions = {}     # "<message>|<emoji>|<user>" -> the toggle's last outcome
        self.recent = []        # (conversation, message id) of the latest acked messages

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def note(self, what, **kw):
        if len(self.notes) < 5000:
            self.notes.append({"t": self.now(), "what": what, **kw})

    def ack(self, cid, conv, seq, mid, node, via):
        self.acks.setdefault(cid, []).append(
            {"conv": conv, "seq": seq, "id": mid, "t": self.now(), "node": node, "via": via})
        if cid in self.sent:
            self.sent[cid]["acked"] = True
        if mid is not None:
            self.recent = (self.recent + [(conv, mid)])[-30:]


class Closed(Exception):
    pass


async def call(ctx, node, method, path, token=None, body=None, timeout=5.0):
    """One HTTP request to a node: (status or None, json body or {"exception": ...})."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = await ctx.http.request(method, ctx.cluster.base(node) + path, headers=headers,
                                   json=body, timeout=timeout)
    except (httpx.HTTPError, OSError) as e:
        return None, {"exception": type(e).__name__}
    try:
        data = r.json()
    except ValueError:
        data = None
    return r.status_code, data


async def open_ws(ctx, node, token, bearer=False):
    """A WebSocket to a node, with a ticket (or the bearer header)."""
    headers = None
    if bearer:
        url = ctx.cluster.ws_base(node) + "/api/v1/ws"
        headers = {"Authorization": f"Bearer {token}"}
    else:
        st, data = await call(ctx, node, "POST", "/api/v1/auth/ws-ticket", token, {})
        if st != 200 or not isinstance(data, dict) or "ticket" not in data:
            raise Closed(f"ws-ticket answered {st}")
        url = f"{ctx.cluster.ws_base(node)}/api/v1/ws?ticket={data['ticket']}"
    try:
        return await ws_connect(url, open_timeout=5, ping_interval=2, ping_timeout=4,
                                close_timeout=1, max_size=1 << 20, proxy=None,
                                additional_headers=headers)
    except InvalidStatus as e:
        raise Closed(f"upgrade refused with {e.response.status_code}") from e
    except (OSError, asyncio.TimeoutError, WebSocketException) as e:
        raise Closed(f"connect failed: {type(e).__name__}") from e


class Conn:
    """A WebSocket with a pump: answers (ack, joined, error) go to whoever waits
    for them, everything else to `on_frame`."""

    def __init__(self, ctx, ws, node, on_frame=None):
        self.ctx = ctx
        self.ws = ws
        self.node = node
        self.on_frame = on_frame
        self.waiters = {}
        self.closed = False
        self.closed_at = None
        self.close_code = None
        self.task = asyncio.create_task(self._pump())

    async def _pump(self):
        try:
            async for raw in self.ws:
                try:
                    f = json.loads(raw)
                except ValueError:
                    continue
                t = f.get("type")
                key = None
                if t == "ack":
                    key = f"send:{f.get('client_id')}"
                elif t == "joined":
                    key = f"join:{f.get('conversation')}"
                elif t == "error":
                    ref = f.get("ref")
                    for k in (f"send:{ref}", f"join:{ref}"):
                        if k in self.waiters:
                            key = k
                            break
                if key is not None and key in self.waiters:
                    fut = self.waiters.pop(key)
                    if not fut.done():
                        fut.set_result(f)
                elif self.on_frame is not None:
                    self.on_frame(self, f)
        except (ConnectionClosed, OSError, WebSocketException):
            pass
        finally:
            self.closed = True
            self.closed_at = self.ctx.rec.now()
            self.close_code = self.ws.close_code
            for fut in self.waiters.values():
                if not fut.done():
                    fut.set_exception(Closed(f"closed with {self.close_code}"))
            self.waiters.clear()

    async def request(self, key, frame, timeout):
        if self.closed:
            raise Closed("already closed")
        fut = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        try:
            await self.ws.send(json.dumps(frame))
            return await asyncio.wait_for(fut, timeout)
        except (ConnectionClosed, WebSocketException, OSError) as e:
            raise Closed(type(e).__name__) from e
        finally:
            self.waiters.pop(key, None)
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: no "exception was never retrieved" noise

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except Exception:
            pass
        self.task.cancel()
        try:
            await self.task
        except BaseException:
            pass


async def pick_node(ctx, rng):
    """A random node the harness believes is up (a load balancer's health check)."""
    while True:
        up = ctx.cluster.up_nodes()
        if up:
            return rng.choice(up)
        if ctx.rec.now() > ctx.hard_deadline:
            raise TimeoutError("no node up")
        await asyncio.sleep(0.1)


def body_cid(body):
    if not body:
        return None
    return body.split(" ", 1)[0]


# --- senders -----------------------------------------------------------------

class Sender:
    """Sends unique client_ids, one at a time; on any failure it resends the same
    client_id (WebSocket: on a new connection to a random live node) until acked."""

    def __init__(self, ctx, name, via):
        self.ctx = ctx
        self.name = name
        self.via = via
        self.user = ctx.users[name]
        self.rng = random.Random(f"{ctx.seed}:{name}")
        self.conn = None
        self.n = 0

    async def run(self):
        try:
            while self.ctx.sending:
                g = self.rng.randrange(len(self.ctx.groups))
                cid = f"{self.name}-{self.n}"
                self.n += 1
                await self.deliver(g, cid)
                if self.ctx.reactions and self.ctx.rec.recent and self.rng.random() < 0.3:
                    await self.react()
                await asyncio.sleep(self.rng.uniform(0.05, 0.2))
        finally:
            if self.conn is not None:
                await self.conn.close()

    async def deliver(self, g, cid):
        ctx = self.ctx
        conv = ctx.groups[g]
        body = f"{cid} from {self.name}"
        rec = {"conv": conv, "sender": self.name, "via": self.via, "first_try": ctx.rec.now(),
               "tries": 0, "acked": False, "outcome": None, "errors": []}
        ctx.rec.sent[cid] = rec
        while ctx.rec.now() < ctx.hard_deadline:
            rec["tries"] += 1
            if rec["tries"] > 400:
                break
            if self.via == "ws":
                done = await self._ws_try(conv, cid, body, rec)
            else:
                done = await self._rest_try(conv, cid, body, rec)
            if done:
                return
        rec["outcome"] = rec["outcome"] or "never acked"

    async def react(self):
        """Toggles a reaction on one of the latest messages (anyone's), over REST on a
        random live node, trying again until it is answered: toggles are idempotent, so
        the last answered toggle of each (message, emoji, user) is its final state. One
        never answered is recorded as unknown (the checker leaves that emoji out)."""
        ctx = self.ctx
        _, mid = self.rng.choice(ctx.rec.recent)
        emoji = self.rng.choice(REACTION_EMOJI)
        key = f"{mid}|{emoji}|{self.name}"
        before = ctx.rec.reactions.get(key, {}).get("on", False)
        on = not before if self.rng.random() < 0.8 else before
        path = f"/api/v1/messages/{mid}/reactions/{quote(emoji)}"
        outcome = "unknown"
        tries = []  # (t, node, status) of each try, for the evidence
        for _ in range(40):
            if ctx.rec.now() >= ctx.hard_deadline:
                break
            node = await pick_node(ctx, self.rng)
            st, _ = await call(ctx, node, "PUT" if on else "DELETE", path, self.user["access"])
            tries.append((round(ctx.rec.now(), 3), node, st))
            if st == 204:
                outcome = "done"
                break
            if st == 409:
                outcome = "deleted"
                break
            if st in (400, 404, 422):
                outcome = f"refused {st}"
                break
            await asyncio.sleep(0.5 if st == 429 else 0.2)
        ctx.rec.reactions[key] = {"on": on, "outcome": outcome, "t": ctx.rec.now(), "tries": tries[-10:]}

    def _err(self, rec, what):
        if len(rec["errors"]) < 20:
            rec["errors"].append([self.ctx.rec.now(), what])

    async def _ws_try(self, conv, cid, body, rec):
        ctx = self.ctx
        if self.conn is None or self.conn.closed:
            if self.conn is not None:
                self._err(rec, f"node{self.conn.node} socket closed ({self.conn.close_code})")
                await self.conn.close()
                self.conn = None
            node = await pick_node(ctx, self.rng)
            try:
                self.conn = Conn(ctx, await open_ws(ctx, node, self.user["access"]), node)
            except Closed as e:
                self._err(rec, f"node{node}: {e}")
                await asyncio.sleep(0.3)
                return False
        frame = {"type": "send", "conversation": conv, "body": body, "client_id": cid}
        try:
            f = await self.conn.request(f"send:{cid}", frame, SEND_TIMEOUT)
        except asyncio.TimeoutError:
            self._err(rec, f"node{self.conn.node}: no ack in {SEND_TIMEOUT} s")
            await self.conn.close()
            self.conn = None
            return False
        except Closed as e:
            # (the pump may not have seen the close yet: drop the socket here, or
            # the next try would fail on it again at once)
            self._err(rec, f"node{self.conn.node}: {e}")
            await self.conn.close()
            self.conn = None
            await asyncio.sleep(0.1)
            return False
        if f.get("type") == "ack":
            ctx.rec.ack(cid, conv, f.get("seq"), f.get("id"), self.conn.node, "ws")
            return True
        code = f.get("code")
        self._err(rec, f"node{self.conn.node}: error {code}")
        if code in ("validation_failed", "bad_request"):
            rec["outcome"] = f"refused: {code}"
            return True
        if code == "rate_limited":
            await asyncio.sleep(0.5)
            return False
        await self.conn.close()
        self.conn = None
        await asyncio.sleep(0.1)
        return False

    async def _rest_try(self, conv, cid, body, rec):
        ctx = self.ctx
        node = await pick_node(ctx, self.rng)
        st, data = await call(ctx, node, "POST", f"/api/v1/conversations/{conv}/messages",
                              self.user["access"], {"body": body, "client_id": cid}, SEND_TIMEOUT)
        if st in (200, 201) and isinstance(data, dict):
            ctx.rec.ack(cid, conv, data.get("seq"), data.get("id"), node, f"rest{st}")
            await self._maybe_edit(node, data.get("id"), cid)
            return True
        code = (data or {}).get("error", {}).get("code") if isinstance(data, dict) else None
        self._err(rec, f"node{node}: {st} {code or (data or {}).get('exception')}")
        if st in (400, 422):
            rec["outcome"] = f"refused: {st} {code}"
            return True
        await asyncio.sleep(0.5 if st == 429 else 0.2)
        return False

    async def _maybe_edit(self, node, mid, cid):
        """Now and then edit or delete the message just acked (one try, recorded)."""
        if mid is None:
            return
        roll = self.rng.random()
        if roll < 0.08:
            body = f"{cid} edited by {self.name}"
            st, _ = await call(self.ctx, node, "PATCH", f"/api/v1/messages/{mid}", self.user["access"],
                               {"body": body})
            self.ctx.rec.edits.append({"t": self.ctx.rec.now(), "op": "edit", "id": mid, "cid": cid,
                                       "node": node, "status": st, "body": body})
        elif roll < 0.12:
            st, _ = await call(self.ctx, node, "DELETE", f"/api/v1/messages/{mid}", self.user["access"])
            self.ctx.rec.edits.append({"t": self.ctx.rec.now(), "op": "delete", "id": mid, "cid": cid,
                                       "node": node, "status": st})


# --- readers -----------------------------------------------------------------

class Rejoin(Exception):
    pass


class Reader:
    """Stays joined to every group; after every reconnect joins with since=<the
    last seq seen>. One session per (connection, conversation) is recorded."""

    def __init__(self, ctx, name):
        self.ctx = ctx
        self.name = name
        self.user = ctx.users[name]
        self.rng = random.Random(f"{ctx.seed}:{name}")
        self.cursor = {g: 0 for g in ctx.groups}
        self.connected = False
        self.joined = set()
        self.connects = 0

    async def run(self):
        ctx = self.ctx
        while not ctx.stop_readers.is_set() and ctx.rec.now() < ctx.hard_deadline + 120:
            node = await pick_node(ctx, self.rng)
            try:
                ws = await open_ws(ctx, node, self.user["access"])
            except Closed as e:
                ctx.rec.note("reader connect failed", reader=self.name, node=node, why=str(e))
                await asyncio.sleep(0.3)
                continue
            self.connects += 1
            sessions = {}
            reason = "stopped"
            try:
                for g in ctx.groups:
                    s = {"reader": self.name, "conv": g, "node": node, "cursor": self.cursor[g],
                         "start": ctx.rec.now(), "joined_at": None, "last_seq": None,
                         "truncated": False, "frames": [], "end": None, "end_reason": None}
                    sessions[g] = s
                    ctx.rec.sessions.append(s)
                    await ws.send(json.dumps({"type": "join", "conversation": g, "since": self.cursor[g]}))
                self.connected = True
                while not ctx.stop_readers.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except asyncio.TimeoutError:
                        continue
                    await self._frame(node, sessions, json.loads(raw))
            except ConnectionClosed as e:
                reason = f"closed {e.rcvd.code if e.rcvd else 'without a close frame'}"
            except Rejoin as e:
                reason = str(e)
            except (OSError, WebSocketException) as e:
                reason = type(e).__name__
            finally:
                self.connected = False
                self.joined.clear()
                t = ctx.rec.now()
                for s in sessions.values():
                    s["end"] = t
                    s["end_reason"] = reason
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except Exception:
                    pass
            if not ctx.stop_readers.is_set():
                await asyncio.sleep(0.2)

    async def _frame(self, node, sessions, f):
        ctx = self.ctx
        t = f.get("type")
        if t == "message":
            g = f.get("conversation")
            s = sessions.get(g)
            if s is None:
                return
            seq = f.get("seq")
            s["frames"].append([seq, f.get("id"), body_cid(f.get("body")), bool(f.get("deleted")),
                                ctx.rec.now(), "replay" if s["joined_at"] is None else "live"])
            if isinstance(seq, int):
                self.cursor[g] = max(self.cursor[g], seq)
        elif t == "joined":
            g = f.get("conversation")
            s = sessions.get(g)
            if s is None:
                return
            s["joined_at"] = ctx.rec.now()
            s["last_seq"] = f.get("last_seq")
            s["truncated"] = bool(f.get("truncated"))
            if s["truncated"]:
                await self._page(node, s, g, f.get("last_seq"))
            self.joined.add(g)
        elif t == "error":
            ref = f.get("ref")
            if ref in sessions:
                ctx.rec.note("reader join refused", reader=self.name, node=node, conv=ref,
                             code=f.get("code"))
                await asyncio.sleep(0.5)
                raise Rejoin(f"join refused: {f.get('code')}")

    async def _page(self, node, s, g, last_seq):
        """A truncated replay: page the rest with REST history, up to `joined`'s last_seq."""
        ctx = self.ctx
        for _ in range(1000):
            after = self.cursor[g]
            if last_seq is not None and after >= last_seq:
                return
            st, data = await call(ctx, node, "GET",
                                  f"/api/v1/conversations/{g}/messages?after={after}&limit=100",
                                  self.user["access"])
            if st != 200:
                raise Rejoin(f"paging after a truncated join answered {st}")
            items = data.get("items", [])
            for it in items:
                if last_seq is not None and it["seq"] > last_seq:
                    return
                s["frames"].append([it["seq"], it["id"], body_cid(it.get("body")), bool(it.get("deleted")),
                                    ctx.rec.now(), "page"])
                self.cursor[g] = max(self.cursor[g], it["seq"])
            if not data.get("has_more") or not items:
                return


# --- revocations and the revoked -------------------------------------------

async def sleep_until(ctx, t):
    delay = t - ctx.rec.now()
    if delay > 0:
        await asyncio.sleep(delay)


async def revoke(ctx, r, victim):
    """The owner removes a member, or a victim logs out everywhere, at the planned
    time; retried until the server says it is done. Records when it returned."""
    await sleep_until(ctx, r["at"])
    rng = random.Random(f"{ctx.seed}:revoke:{r['victim']}")
    rec = {"kind": r["kind"], "victim": r["victim"], "user_id": ctx.users[r["victim"]]["id"],
           "group": ctx.groups[r["group"]], "planned_node": r["node"], "t_call": ctx.rec.now(),
           "tries": [], "t_return": None}
    ctx.rec.revocations.append(rec)
    unanswered = False
    while ctx.rec.now() < ctx.hard_deadline and len(rec["tries"]) < 200:
        node = r["node"] if ctx.cluster.state[r["node"]] == "up" else await pick_node(ctx, rng)
        t = ctx.rec.now()
        if r["kind"] == "remove":
            st, data = await call(ctx, node, "DELETE",
                                  f"/api/v1/groups/{rec['group']}/members/{rec['user_id']}",
                                  ctx.users["owner"]["access"])
            done = st == 204 or (st == 404 and unanswered)
        else:
            st, data = await call(ctx, node, "POST", "/api/v1/auth/logout-all",
                                  ctx.users[r["victim"]]["access"], {})
            done = st == 204 or (st == 401 and unanswered)
        rec["tries"].append({"node": node, "start": t, "end": ctx.rec.now(), "status": st})
        if st is None or st >= 500:
            unanswered = True
        if done:
            rec["t_return"] = ctx.rec.now()
            rec["node"] = node
            victim.revoked_at = rec["t_return"]
            return
        await asyncio.sleep(0.3)


class Victim:
    """A user about to be removed from a group (kind "remove") or to log out
    everywhere (kind "logout_all"), who keeps trying through every node, before
    and after, and records every attempt's start, end and status."""

    def __init__(self, ctx, name, plan_entry):
        self.ctx = ctx
        self.name = name
        self.kind = plan_entry["kind"]
        self.user = ctx.users[name]
        self.g = ctx.groups[plan_entry["group"]]
        self.socket_node = plan_entry.get("socket_node", plan_entry["node"])
        self.revoked_at = None
        self.rng = random.Random(f"{ctx.seed}:{name}")
        self.conn = None
        self.n = 0
        self.socket_log = []

    def attempt(self, kind, node, start, status, ok, **kw):
        self.ctx.rec.attempts.append({"user": self.name, "revocation": self.kind, "kind": kind,
                                      "node": node, "start": start, "end": self.ctx.rec.now(),
                                      "status": status, "ok": ok, **kw})

    def _on_frame(self, conn, f):
        # A removed member must stop hearing the room: every live message frame
        # of that room is an observation (ok = it arrived).
        if f.get("type") == "message" and f.get("conversation") == self.g:
            now = self.ctx.rec.now()
            self.ctx.rec.attempts.append({"user": self.name, "revocation": self.kind, "kind": "ws_recv",
                                          "node": conn.node, "start": now, "end": now, "status": "frame",
                                          "ok": True, "seq": f.get("seq")})
        elif f.get("type") == "membership":
            self.socket_log.append([self.ctx.rec.now(), conn.node, "membership", f.get("status")])

    async def _open_socket(self, node, record=False):
        """Opens a socket and joins the group (recorded as a "ws_join" attempt when
        `record`: a join that succeeds after a removal is access that outlived it)."""
        start = self.ctx.rec.now()
        try:
            ws = await open_ws(self.ctx, node, self.user["access"])
        except Closed as e:
            self.socket_log.append([self.ctx.rec.now(), node, "open failed", str(e)])
            return None
        conn = Conn(self.ctx, ws, node, self._on_frame)
        try:
            f = await conn.request(f"join:{self.g}", {"type": "join", "conversation": self.g}, SEND_TIMEOUT)
            self.socket_log.append([self.ctx.rec.now(), node, "join", f.get("type"), f.get("code")])
            if record:
                joined = f.get("type") == "joined"
                self.attempt("ws_join", node, start, "joined" if joined else f.get("code"), joined)
        except (Closed, asyncio.TimeoutError) as e:
            self.socket_log.append([self.ctx.rec.now(), node, "join failed", str(e)])
            if record:
                self.attempt("ws_join", node, start, type(e).__name__, False)
        return conn

    async def run(self):
        ctx = self.ctx
        kinds = (["rest_post", "rest_history", "ws_send", "ws_join"] if self.kind == "remove"
                 else ["rest_me", "ws_ticket", "ws_bearer", "ws_send", "refresh"])
        self.conn = await self._open_socket(self.socket_node)
        i = 0
        try:
            while not ctx.stop_attacks.is_set() and i < 2000:
                kind = kinds[i % len(kinds)]
                node = (i // len(kinds)) % ctx.cluster.n
                i += 1
                if ctx.cluster.state[node] != "up":
                    up = ctx.cluster.up_nodes()
                    if not up:
                        await asyncio.sleep(0.2)
                        continue
                    node = up[i % len(up)]
                await self._try(kind, node)
                await asyncio.sleep(0.2)
        finally:
            if self.conn is not None:
                self.socket_log.append([ctx.rec.now(), self.conn.node, "socket state at the end",
                                        "closed" if self.conn.closed else "open", self.conn.close_code,
                                        self.conn.closed_at])
                await self.conn.close()

    async def _try(self, kind, node):
        ctx = self.ctx
        tok = self.user["access"]
        start = ctx.rec.now()
        if kind == "rest_post":
            cid = f"{self.name}-{self.n}"
            self.n += 1
            ctx.rec.sent[cid] = {"conv": self.g, "sender": self.name, "via": "rest-victim",
                                 "first_try": start, "tries": 1, "acked": False, "outcome": None, "errors": []}
            st, data = await call(ctx, node, "POST", f"/api/v1/conversations/{self.g}/messages", tok,
                                  {"body": f"{cid} from {self.name}", "client_id": cid})
            ok = st in (200, 201)
            if ok and isinstance(data, dict):
                ctx.rec.ack(cid, self.g, data.get("seq"), data.get("id"), node, f"rest{st}")
            self.attempt(kind, node, start, st, ok, client_id=cid)
        elif kind == "rest_history":
            st, _ = await call(ctx, node, "GET", f"/api/v1/conversations/{self.g}/messages?limit=1", tok)
            self.attempt(kind, node, start, st, st == 200)
        elif kind == "rest_me":
            st, _ = await call(ctx, node, "GET", "/api/v1/users/me", tok)
            self.attempt(kind, node, start, st, st == 200)
        elif kind == "ws_ticket":
            st, _ = await call(ctx, node, "POST", "/api/v1/auth/ws-ticket", tok, {})
            self.attempt(kind, node, start, st, st == 200)
        elif kind == "refresh":
            if self.revoked_at is None:
                return  # a refresh before the logout would rotate the pair; only after
            st, data = await call(ctx, node, "POST", "/api/v1/auth/refresh", None,
                                  {"refresh_token": self.user["refresh"]})
            self.attempt(kind, node, start, st, st == 200)
        elif kind == "ws_bearer":
            try:
                ws = await open_ws(ctx, node, tok, bearer=True)
                self.attempt(kind, node, start, 101, True)
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except Exception:
                    pass
            except Closed as e:
                self.attempt(kind, node, start, str(e), False)
        elif kind == "ws_join":
            if self.conn is None or self.conn.closed:
                if self.conn is not None:
                    await self.conn.close()
                self.conn = await self._open_socket(node, record=True)
                return
            cnode = self.conn.node
            try:
                f = await self.conn.request(f"join:{self.g}", {"type": "join", "conversation": self.g},
                                            SEND_TIMEOUT)
                self.attempt(kind, cnode, start, f.get("type") if f.get("type") != "error" else f.get("code"),
                             f.get("type") == "joined")
            except (Closed, asyncio.TimeoutError) as e:
                self.attempt(kind, cnode, start, type(e).__name__, False)
        elif kind == "ws_send":
            if self.conn is None or self.conn.closed:
                if self.kind == "remove":
                    if self.conn is not None:
                        await self.conn.close()
                    self.conn = await self._open_socket(node, record=True)
                return
            cnode = self.conn.node
            cid = f"{self.name}-{self.n}"
            self.n += 1
            ctx.rec.sent[cid] = {"conv": self.g, "sender": self.name, "via": "ws-victim",
                                 "first_try": start, "tries": 1, "acked": False, "outcome": None, "errors": []}
            frame = {"type": "send", "conversation": self.g, "body": f"{cid} from {self.name}", "client_id": cid}
            try:
                f = await self.conn.request(f"send:{cid}", frame, SEND_TIMEOUT)
                ok = f.get("type") == "ack"
                if ok:
                    ctx.rec.ack(cid, self.g, f.get("seq"), f.get("id"), cnode, "ws")
                self.attempt(kind, cnode, start, "ack" if ok else f.get("code"), ok, client_id=cid)
            except (Closed, asyncio.TimeoutError) as e:
                self.attempt(kind, cnode, start, type(e).__name__, False, client_id=cid)


CROWN_HOLDERS = 3


async def crown(ctx, rng_name="crown"):
    """Ownership passes around one extra group (the "crown" group) all run long:
    the holder who owns it transfers it to both others at once, each through a
    random node, concurrently with the faults (and a holder who still believes
    they own it may try too), so transfers race across nodes. Records each transfer's outcome; the check at the
    end is that every node names exactly one owner, the group's `owner_id`."""
    rng = random.Random(f"{ctx.seed}:{rng_name}")
    g = ctx.crown
    holders = [f"crown{i}" for i in range(CROWN_HOLDERS)]

    async def holder(name):
        me = ctx.users[name]
        while ctx.sending:
            node = await pick_node(ctx, rng)
            st, group = await call(ctx, node, "GET", f"/api/v1/groups/{g}", me["access"])
            if st == 200 and group.get("owner_id") == me["id"]:
                # Two transfers at once, to each of the others, through random
                # nodes: at most one may win, and never two owners.
                async def transfer(to_name):
                    to = ctx.users[to_name]
                    node = await pick_node(ctx, rng)
                    t = ctx.rec.now()
                    st, _ = await call(ctx, node, "POST", f"/api/v1/groups/{g}/transfer", me["access"],
                                       {"user_id": to["id"]})
                    ctx.rec.transfers.append({"from": name, "to": to_name, "node": node, "start": t,
                                              "end": ctx.rec.now(), "status": st})

                await asyncio.gather(*(transfer(h) for h in holders if h != name))
            await asyncio.sleep(rng.uniform(0.05, 0.3))

    await asyncio.gather(*(holder(h) for h in holders))
