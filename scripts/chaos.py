#!/usr/bin/env python3
"""confab's seeded fault-schedule checker (issue 20, item 6). Run it through
`scripts/chaos`, which builds and installs what it needs and then runs this file.

For each seed: a private FerretDB (or mongod), a private Redis and 2-3 confab
nodes; users and three public groups; for --duration seconds, concurrent
clients (WebSocket and REST senders that resend the same client_id until acked,
readers that rejoin with since=<last seq seen>, an owner who removes members,
victims who log out everywhere, and the revoked who keep trying through every
node) while a nemesis runs the seed's fault schedule. Then everything is
healed, and the checker (chaos_lib/checker.py) asserts the invariants. Each
seed prints one summary line; the last line is `chaos: N passed, M failed`.
Everything a seed saw goes to target/chaos/<seed>/ (report.json, node logs).

The fault schedule (kinds, targets, times), the removals and the logouts come
from random.Random(seed), so `--seed N` (same --nodes, --duration) replays
them; the clients' timing is not deterministic (real processes and sockets).
"""

import argparse
import asyncio
import atexit
import json
import os
import secrets
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import httpx  # noqa: E402

from chaos_lib import checker, procs, schedule, workload  # noqa: E402
from chaos_lib.workload import call  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The short fixed set (CI, `scripts/chaos` without arguments): two seeds that each
# SIGKILL a node, SIGSTOP one past its lease, kill the subscriber connections,
# freeze the database and restart Redis. Both found bugs the first time they ran:
# seed 24 a replay with a hole after a Redis restart (a stale copy served a join),
# seed 25 a message stored late below readers' cursors (the database ran an insert
# it held while frozen after later ones were stored); with reactions, seed 24 also
# a follower keeping old counts (toggles made through a copy a take-over had
# replaced). The soak (`--seeds N`) runs more.
DEFAULT_SEEDS = [24, 25]
WS_SENDERS = 4
REST_SENDERS = 2
READERS = 3
GROUPS = 3
HEAL_SENDS_SECS = 60.0      # after healing, how long pending sends may take to be acked
PROBE_SECS = 30.0
CATCH_UP_SECS = 30.0
CONVERGE_SECS = 25.0
MAX_PRINTED_VIOLATIONS = 25

atexit.register(procs.kill_everything)


def say(*parts):
    print(*parts, flush=True)


class Ctx:
    def __init__(self, seed, cluster, http, duration):
        self.seed = seed
        self.cluster = cluster
        self.http = http
        self.rec = workload.Recorder()
        self.users = {}
        self.groups = []
        self.crown = None       # the group whose ownership passes around (workload.crown)
        self.sending = True
        self.stop_readers = asyncio.Event()
        self.stop_attacks = asyncio.Event()
        self.duration = duration
        self.hard_deadline = duration + 40 + HEAL_SENDS_SECS
        self.reactions = True  # clients toggle reactions too (off with --no-reactions)


# --- setup -------------------------------------------------------------------

async def make_user(ctx, name):
    username = f"u-{name}"
    for _ in range(30):
        st, data = await call(ctx, 0, "POST", "/api/v1/auth/register", None,
                              {"username": username, "password": workload.PASSWORD}, timeout=30)
        if st in (201, 409):
            break
        await asyncio.sleep(0.5)
    else:
        raise RuntimeError(f"could not register {username}: {st} {data}")
    for _ in range(30):
        st, data = await call(ctx, 0, "POST", "/api/v1/auth/login", None,
                              {"username": username, "password": workload.PASSWORD}, timeout=30)
        if st == 200:
            break
        await asyncio.sleep(0.5)
    else:
        raise RuntimeError(f"could not log in {username}: {st} {data}")
    tokens = data
    st, me = await call(ctx, 0, "GET", "/api/v1/users/me", tokens["access_token"])
    if st != 200:
        raise RuntimeError(f"GET /users/me for {username}: {st} {me}")
    ctx.users[name] = {"id": me["id"], "username": username, "access": tokens["access_token"],
                       "refresh": tokens["refresh_token"]}


async def must(ctx, method, path, token, body, want, what):
    for _ in range(30):
        st, data = await call(ctx, 0, method, path, token, body, timeout=10)
        if st in want:
            return data
        await asyncio.sleep(0.3)
    raise RuntimeError(f"{what}: {st} {data}")


async def setup(ctx, plan):
    names = (["owner"] + [f"ws{i}" for i in range(WS_SENDERS)] + [f"rs{i}" for i in range(REST_SENDERS)]
             + [f"rd{i}" for i in range(READERS)] + [r["victim"] for r in plan["revocations"]]
             + [f"crown{i}" for i in range(workload.CROWN_HOLDERS)])
    sem = asyncio.Semaphore(3)

    async def one(name):
        async with sem:
            await make_user(ctx, name)

    await asyncio.gather(*(one(n) for n in names))
    owner = ctx.users["owner"]["access"]
    for g in range(GROUPS):
        data = await must(ctx, "POST", "/api/v1/groups", owner, {"name": f"chaos g{g}", "visibility": "public"},
                          (201,), f"create group g{g}")
        ctx.groups.append(data["id"])
    members = {g: {ctx.users["owner"]["id"]} for g in ctx.groups}
    regulars = [n for n in names if n[:2] in ("ws", "rs", "rd")]
    joins = [(n, g) for n in regulars for g in ctx.groups]
    for r in plan["revocations"]:
        joins.append((r["victim"], ctx.groups[r["group"]]))
    for n, g in joins:
        await must(ctx, "POST", f"/api/v1/groups/{g}/join", ctx.users[n]["access"], {}, (200,), f"{n} joins {g}")
        members[g].add(ctx.users[n]["id"])
    # The crown group: its ownership passes between its three members all run long.
    first = ctx.users["crown0"]["access"]
    data = await must(ctx, "POST", "/api/v1/groups", first, {"name": "chaos crown", "visibility": "public"},
                      (201,), "create the crown group")
    ctx.crown = data["id"]
    for i in range(1, workload.CROWN_HOLDERS):
        await must(ctx, "POST", f"/api/v1/groups/{ctx.crown}/join", ctx.users[f"crown{i}"]["access"], {},
                   (200,), f"crown{i} joins the crown group")
    return members


# --- the nemesis ---------------------------------------------------------------

async def run_fault(ctx, ev):
    await workload.sleep_until(ctx, ev["at"])
    c = ctx.cluster
    rec = {"id": ev["id"], "kind": ev["kind"], "planned_at": ev["at"], "start": ctx.rec.now(), "end": None}
    if "node" in ev:
        rec["node"] = ev["node"]
    ctx.rec.faults.append(rec)
    k = ev["kind"]
    try:
        if k == "kill_node":
            c.kill_node(ev["node"])
            await asyncio.sleep(ev["secs"])
            c.restart_node(ev["node"])
            rec["restarted"] = ctx.rec.now()
            rec["ready"] = await c.wait_node_ready(ev["node"], ctx.http, 60)
        elif k == "stop_node":
            c.stop_node(ev["node"])
            await asyncio.sleep(ev["secs"])
            c.cont_node(ev["node"])
        elif k == "pubsub_kill":
            try:
                rec["killed_connections"] = await procs.redis_cmd(c.redis_port, "CLIENT", "KILL", "TYPE", "pubsub")
            except Exception as e:
                rec["error"] = repr(e)
        elif k == "redis_restart":
            c.kill_redis()
            await asyncio.sleep(ev["secs"])
            rec["answers"] = await c.start_redis_again()
        elif k == "db_stop":
            c.db.sigstop()
            await asyncio.sleep(ev["secs"])
            c.db.sigcont()
    finally:
        rec["end"] = ctx.rec.now()


async def nemesis(ctx, plan):
    await asyncio.gather(*(run_fault(ctx, ev) for ev in plan["faults"]))


# --- after healing ---------------------------------------------------------------

async def probe(ctx, g):
    """A message sent on one node must be readable in history on every other."""
    conv = ctx.groups[g]
    cid = f"probe-{g}"
    owner = ctx.users["owner"]["access"]
    ctx.rec.sent[cid] = {"conv": conv, "sender": "owner", "via": "rest", "first_try": ctx.rec.now(),
                         "tries": 0, "acked": False, "outcome": None, "errors": []}
    a = g % ctx.cluster.n
    end = time.monotonic() + PROBE_SECS
    msg = None
    while time.monotonic() < end:
        ctx.rec.sent[cid]["tries"] += 1
        st, data = await call(ctx, a, "POST", f"/api/v1/conversations/{conv}/messages", owner,
                              {"body": f"{cid} probe", "client_id": cid})
        if st in (200, 201):
            msg = data
            ctx.rec.ack(cid, conv, data["seq"], data["id"], a, f"rest{st}")
            break
        ctx.rec.sent[cid]["errors"].append([ctx.rec.now(), f"node{a}: {st}"])
        await asyncio.sleep(0.3)
    if msg is None:
        return [checker._v("4", f"probe: no node{a} accepted a message to g{g} within {PROBE_SECS:g} s of healing",
                           errors=ctx.rec.sent[cid]["errors"][-5:])]
    problems = []
    for b in range(ctx.cluster.n):
        if b == a:
            continue
        seen = False
        last = None
        while time.monotonic() < end + 5:
            st, data = await call(ctx, b, "GET", f"/api/v1/conversations/{conv}/messages?after={msg['seq'] - 1}&limit=5",
                                  owner)
            last = (st, data)
            if st == 200 and any(it["id"] == msg["id"] for it in data.get("items", [])):
                seen = True
                break
            await asyncio.sleep(0.3)
        if not seen:
            problems.append(checker._v("4", f"probe {msg['id']} sent on node{a} is not in history on node{b}",
                                       last_answer=last))
    return problems


async def catch_up(ctx, readers):
    """Every reader connected, joined everywhere, and past the last seq of each group."""
    owner = ctx.users["owner"]["access"]
    targets = {}
    for g in ctx.groups:
        st, data = await call(ctx, 0, "GET", f"/api/v1/conversations/{g}/messages?limit=1", owner)
        targets[g] = data["items"][-1]["seq"] if st == 200 and data.get("items") else 0
    end = time.monotonic() + CATCH_UP_SECS
    while time.monotonic() < end:
        behind = [(r.name, g, r.cursor[g], targets[g]) for r in readers for g in ctx.groups
                  if r.cursor[g] < targets[g] or not r.connected or g not in r.joined]
        if not behind:
            return []
        await asyncio.sleep(0.2)
    return [checker._v("2", f"readers did not catch up within {CATCH_UP_SECS:g} s after healing "
                            f"(reader, conversation, cursor, last seq)", behind=behind,
                       connected={r.name: r.connected for r in readers})]


async def presence_on(ctx, node, g):
    st, data = await call(ctx, node, "GET", f"/api/v1/conversations/{g}/presence", ctx.users["owner"]["access"])
    return sorted(u["id"] for u in data["online"]) if st == 200 else st


async def converge(ctx, what, expected_of, answer_on):
    """Polls until every node answers `answer_on(ctx, node, group)` equal to
    `expected_of(group)` for every group, or CONVERGE_SECS pass (a violation)."""
    end = time.monotonic() + CONVERGE_SECS
    obs = None
    while time.monotonic() < end:
        obs = {}
        for g in ctx.groups:
            expected = expected_of(g)
            answers = {f"node{n}": await answer_on(ctx, n, g) for n in range(ctx.cluster.n)}
            obs[g] = {"expected": expected, "answers": answers}
        if all(a == o["expected"] for o in obs.values() for a in o["answers"].values()):
            return []
        await asyncio.sleep(0.5)
    return [checker._v("4", f"{what} did not converge within {CONVERGE_SECS:g} s", observed=obs)]


async def converge_presence(ctx, readers):
    """Every node answers the connected readers as present (the same set)."""
    return await converge(
        ctx, "presence (the online sets the nodes answer, against the connected readers)",
        lambda g: sorted(r.user["id"] for r in readers if r.connected and g in r.joined),
        presence_on)


async def members_on(ctx, node, g):
    owner = ctx.users["owner"]["access"]
    ids, cursor = [], None
    for _ in range(20):
        q = f"/api/v1/groups/{g}/members?limit=100" + (f"&cursor={cursor}" if cursor else "")
        st, data = await call(ctx, node, "GET", q, owner)
        if st != 200:
            return st
        ids += [m["user"]["id"] for m in data["items"]]
        cursor = data.get("next_cursor")
        if not cursor:
            return sorted(ids)
    return sorted(ids)


async def converge_members(ctx, members):
    """Every node lists the same members."""
    return await converge(ctx, "membership", lambda g: sorted(members[g]), members_on)


async def converge_owners(ctx):
    """Each group's lease names one live node (the live ones: the presence keys of
    the nodes that heartbeat, once a killed node's key has expired)."""
    ns = ctx.cluster.namespace
    end = time.monotonic() + CONVERGE_SECS
    obs = None
    while time.monotonic() < end:
        try:
            keys = await procs.redis_cmd(ctx.cluster.redis_port, "KEYS", f"{ns}:presence:*")
            live = sorted(k.rsplit(":", 1)[1] for k in keys)
            owners = {g: await procs.redis_cmd(ctx.cluster.redis_port, "GET", f"{ns}:owner:{g}") for g in ctx.groups}
        except Exception as e:
            obs = {"error": repr(e)}
            await asyncio.sleep(0.5)
            continue
        obs = {"live_nodes": live, "owners": {f"g{i} ({g})": owners[g] for i, g in enumerate(ctx.groups)}}
        if len(live) == ctx.cluster.n and all(o in live for o in owners.values()):
            return [], obs
        await asyncio.sleep(0.5)
    return [checker._v("4", f"ownership did not converge within {CONVERGE_SECS:g} s: every group needs one "
                            f"owner lease naming a live node, and {ctx.cluster.n} nodes must heartbeat",
                       observed=obs)], obs


async def owners_on(ctx, node):
    """What `node` says of the crown group: its `owner_id`, and every member listed
    with the role `owner` (by user id)."""
    token = ctx.users["crown0"]["access"]
    st, group = await call(ctx, node, "GET", f"/api/v1/groups/{ctx.crown}", token)
    if st != 200:
        return {"status": st}
    st, members = await call(ctx, node, "GET", f"/api/v1/groups/{ctx.crown}/members?limit=100", token)
    if st != 200:
        return {"status": st}
    listed = sorted(m["user"]["id"] for m in members["items"] if m["role"] == "owner")
    return {"owner_id": group["owner_id"], "listed_owners": listed}


async def converge_crown(ctx):
    """After the transfers raced through faults: every node names the same one
    owner of the crown group, and lists exactly that member as `owner`."""
    end = time.monotonic() + CONVERGE_SECS
    obs = None
    while time.monotonic() < end:
        obs = {f"node{n}": await owners_on(ctx, n) for n in range(ctx.cluster.n)}
        answers = list(obs.values())
        if all("owner_id" in a for a in answers) and all(a == answers[0] for a in answers) \
                and answers[0]["listed_owners"] == [answers[0]["owner_id"]]:
            return []
        await asyncio.sleep(0.5)
    done = [t for t in ctx.rec.transfers if t["status"] == 200]
    return [checker._v("4", f"one owner per group: the crown group did not converge to exactly one owner "
                            f"within {CONVERGE_SECS:g} s ({len(done)} transfers done, "
                            f"{len(ctx.rec.transfers)} tried)", observed=obs,
                       last_transfers=ctx.rec.transfers[-10:])]


async def histories(ctx):
    owner = ctx.users["owner"]["access"]
    out = {}
    for n in range(ctx.cluster.n):
        per = {}
        for g in ctx.groups:
            items, after = [], 0
            for _ in range(10000):
                st, data = None, None
                for _ in range(20):
                    st, data = await call(ctx, n, "GET",
                                          f"/api/v1/conversations/{g}/messages?after={after}&limit=100", owner)
                    if st == 200:
                        break
                    await asyncio.sleep(0.3)
                if st != 200:
                    raise RuntimeError(f"history of {g} on node{n} answered {st}")
                for it in data["items"]:
                    items.append({"seq": it["seq"], "id": it["id"], "client_id": it.get("client_id"),
                                  "deleted": bool(it.get("deleted")), "sender": it.get("sender", {}).get("id"),
                                  "body": it.get("body"),
                                  "reactions": {r["emoji"]: r["count"] for r in it.get("reactions", [])}})
                if not data.get("has_more") or not data["items"]:
                    break
                after = data["items"][-1]["seq"]
            per[g] = items
        out[str(n)] = per
    return out


def same_histories(h):
    vals = [{g: [checker.history_key(i) for i in items] for g, items in per.items()}
            for per in h.values()]
    return all(v == vals[0] for v in vals)


async def finish(tasks, timeout):
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()


# --- one seed ----------------------------------------------------------------------

async def run_seed(seed, args, bins):
    outdir = os.path.join(ROOT, "target", "chaos", str(seed))
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    plan = schedule.make(seed, args.nodes, args.duration)
    say(schedule.describe(plan))
    say(f"  (rerun: scripts/chaos --seed {seed} --nodes {args.nodes} --duration {args.duration:g}"
        f"{'' if getattr(args, 'reactions', True) else ' --no-reactions'} replays this "
        f"schedule; the clients' timing is not deterministic, so their interleaving differs)")
    wall = time.monotonic()
    cluster = procs.Cluster(seed, args.nodes, outdir, bins["db"], bins["confab"], bins["redis"],
                            secrets.token_hex(24))
    http = httpx.AsyncClient(trust_env=False, timeout=5.0,
                             limits=httpx.Limits(max_connections=300, max_keepalive_connections=60))
    ctx = Ctx(seed, cluster, http, args.duration)
    ctx.reactions = bool(getattr(args, "reactions", True))
    live_v = []
    all_tasks = []
    extra = {}
    try:
        await cluster.start(http)
        members = await setup(ctx, plan)
        say(f"  setup: {args.nodes} nodes on ports {cluster.node_ports}, redis {cluster.redis_port}, "
            f"database {cluster.db_port}; {len(ctx.users)} users, {len(ctx.groups)} groups "
            f"({time.monotonic() - wall:.1f} s)")
        rec = ctx.rec = workload.Recorder()   # t = 0 from here
        senders = ([workload.Sender(ctx, f"ws{i}", "ws") for i in range(WS_SENDERS)]
                   + [workload.Sender(ctx, f"rs{i}", "rest") for i in range(REST_SENDERS)])
        readers = [workload.Reader(ctx, f"rd{i}") for i in range(READERS)]
        victims = {r["victim"]: workload.Victim(ctx, r["victim"], r) for r in plan["revocations"]}
        reader_tasks = [asyncio.create_task(r.run()) for r in readers]
        sender_tasks = [asyncio.create_task(s.run()) for s in senders]
        victim_tasks = [asyncio.create_task(v.run()) for v in victims.values()]
        revoke_tasks = [asyncio.create_task(workload.revoke(ctx, r, victims[r["victim"]]))
                        for r in plan["revocations"]]
        crown_task = asyncio.create_task(workload.crown(ctx))
        nemesis_task = asyncio.create_task(nemesis(ctx, plan))
        all_tasks = reader_tasks + sender_tasks + victim_tasks + revoke_tasks + [crown_task, nemesis_task]

        await asyncio.sleep(args.duration)
        ctx.sending = False
        await finish([nemesis_task], 90)
        notes, unready, crashed = await cluster.heal(http)
        extra["healed_at"] = rec.now()
        extra["heal_notes"] = notes
        for what in crashed:
            live_v.append(checker._v("liveness", f"{what} exited during the run without being killed",
                                     notes=notes, log=os.path.join(outdir, f"{what}.log")))
        for i in unready:
            live_v.append(checker._v("liveness", f"node{i} was not ready (GET /readyz) within 90 s of healing",
                                     log=cluster.nodes[i].log_path))
        await finish(sender_tasks, max(5.0, ctx.hard_deadline - rec.now()))
        await finish([crown_task], 15)
        await finish(revoke_tasks, 30)
        for removal in [r for r in rec.revocations if r["kind"] == "remove" and r.get("t_return")]:
            members[removal["group"]].discard(removal["user_id"])
        for g in range(GROUPS):
            live_v += await probe(ctx, g)
        extra["probed_at"] = rec.now()
        # The revoked keep trying until the bound of the last revocation has
        # passed by a few seconds (so that every bound is actually tested).
        until = rec.now()
        for r in rec.revocations:
            if r.get("t_return") is not None:
                bound, _ = checker.bound_for({"faults": rec.faults}, r["t_return"])
                until = max(until, r["t_return"] + bound + 4)
        await asyncio.sleep(min(until - rec.now(), 25))
        ctx.stop_attacks.set()
        await finish(victim_tasks, 20)
        extra["victim_sockets"] = {n: v.socket_log for n, v in victims.items()}
        live_v += await catch_up(ctx, readers)
        live_v += await converge_presence(ctx, readers)
        live_v += await converge_members(ctx, members)
        owner_v, extra["ownership"] = await converge_owners(ctx)
        live_v += owner_v
        live_v += await converge_crown(ctx)
        ctx.stop_readers.set()
        await finish(reader_tasks, 15)
        end = time.monotonic() + 20
        hist = await histories(ctx)
        while not same_histories(hist) and time.monotonic() < end:
            await asyncio.sleep(1)
            hist = await histories(ctx)
        extra["checked_at"] = rec.now()
        extra["reader_connects"] = {r.name: r.connects for r in readers}
    finally:
        for t in all_tasks:
            t.cancel()
        await asyncio.gather(*all_tasks, return_exceptions=True)
        await http.aclose()
        cluster.close()

    report = {
        "seed": seed, "nodes": args.nodes, "duration": args.duration, "plan": plan,
        "build": os.environ.get("CHAOS_BUILD", ""),
        "ports": {"nodes": cluster.node_ports, "redis": cluster.redis_port, "db": cluster.db_port},
        "groups": ctx.groups, "users": {n: {"id": u["id"], "username": u["username"]} for n, u in ctx.users.items()},
        "faults": rec.faults, "revocations": rec.revocations, "acks": rec.acks, "sent": rec.sent,
        "sessions": rec.sessions, "attempts": rec.attempts, "edits": rec.edits, "notes": rec.notes,
        "transfers": rec.transfers, "reactions": rec.reactions,
        "histories": hist, "live_violations": live_v, **extra,
    }
    violations, info = checker.check(report)
    report["violations"] = violations
    report["check_info"] = info
    report["wall_secs"] = round(time.monotonic() - wall, 1)
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    print_seed(report, violations, info, outdir)
    return not violations


def print_seed(report, violations, info, outdir):
    seed = report["seed"]
    for b in info["bounds"]:
        say(f"  revocation bound: {b['victim']} {b['kind']} returned at T={b['T']:.2f} s -> {b['bound']:g} s "
            f"({b['why']}); {b['ok_before']} of its attempts succeeded before the call, "
            f"{b['tried_after_bound']} started after T+bound")
    sessions = len(report["sessions"])
    reconnects = sum(report.get("reader_connects", {}).values())
    unacked = sum(1 for s in report["sent"].values() if s["via"] in ("ws", "rest") and not s["acked"])
    say(f"  {sessions} reader sessions over {reconnects} connections, {info['tolerated_reader_gaps']} tolerated "
        f"reader gaps, {len(report['attempts'])} revoked-user attempts, {len(report['edits'])} edits/deletes, "
        f"{unacked} sends unacked, wall {report['wall_secs']} s")
    transfers = report.get("transfers", [])
    by_status = {}
    for t in transfers:
        by_status[t["status"]] = by_status.get(t["status"], 0) + 1
    say(f"  crown group: {len(transfers)} ownership transfers tried ("
        + ", ".join(f"{st} x{n}" for st, n in sorted(by_status.items(), key=lambda kv: str(kv[0]))) + ")")
    errors = {}
    for sent in report["sent"].values():
        for _, what in sent.get("errors", []):
            what = what.split(": ", 1)[-1]
            errors[what] = errors.get(what, 0) + 1
    if errors:
        top = sorted(errors.items(), key=lambda kv: -kv[1])[:8]
        say("  errors senders saw (then resent): " + ", ".join(f"{w} x{n}" for w, n in top))
    dups = info.get("duplicates", [])
    if dups:
        where = sorted({f"{d['reader']}/{d['conv']} seq {d['seq']} ({d['phase']}, node{d['node']}, t={d['t']})"
                        for d in dups})
        say(f"  note: {len(dups)} duplicate deliveries (a message seen again, same seq and id, in one session "
            f"or at/below the since cursor), merged by seq as invariant 2 allows: {'; '.join(where[:6])}"
            f"{' ...' if len(where) > 6 else ''}")
    if violations:
        say(f"  FAILED seed {seed}: the fault schedule as run:")
        for f in report["faults"]:
            say(f"    fault {f['id']} {f['kind']}{' node' + str(f['node']) if 'node' in f else ''}: "
                f"t={f['start']}..{f['end']} {json.dumps({k: v for k, v in f.items() if k not in ('id', 'kind', 'node', 'start', 'end', 'planned_at')})}")
        for r in report["revocations"]:
            say(f"    {r['kind']} {r['victim']}: called t={r['t_call']}, returned t={r['t_return']} "
                f"through node{r.get('node')}")
        for v in violations[:MAX_PRINTED_VIOLATIONS]:
            ev = json.dumps(v["evidence"], default=str)
            if len(ev) > 2500:
                ev = ev[:2500] + " ...(more in report.json)"
            say(f"  VIOLATION [{v['invariant']}] {v['what']}")
            say(f"      evidence: {ev}")
        if len(violations) > MAX_PRINTED_VIOLATIONS:
            say(f"  ... and {len(violations) - MAX_PRINTED_VIOLATIONS} more")
        say(f"  everything: {os.path.relpath(os.path.join(outdir, 'report.json'), ROOT)} "
            f"(node logs next to it)")
    say(f"seed {seed}: {len(report['faults'])} faults, {len(report['acks'])} acked, {len(violations)} violations")


def recheck(path):
    with open(path) as f:
        report = json.load(f)
    violations, info = checker.check(report)
    print_seed(report, violations, info, os.path.dirname(os.path.abspath(path)))
    return not violations


def main():
    p = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--seeds", type=int, help="soak: run this many seeds, from --start")
    p.add_argument("--start", type=int, default=1, help="first seed of --seeds (default 1)")
    p.add_argument("--duration", type=float, default=25.0, help="seconds of traffic per seed (default 25)")
    p.add_argument("--nodes", type=int, choices=(2, 3), default=2)
    p.add_argument("--recheck", metavar="REPORT", help="check a saved report.json again (no processes)")
    p.add_argument("--reactions", dest="reactions", action="store_true", default=True,
                   help="clients toggle reactions too, and invariant 5 checks the counts (the default)")
    p.add_argument("--no-reactions", dest="reactions", action="store_false",
                   help="clients toggle no reactions (invariant 5 then has nothing to check)")
    args = p.parse_args()
    if args.recheck:
        ok = recheck(args.recheck)
        say(f"chaos: {int(ok)} passed, {int(not ok)} failed")
        return 0 if ok else 1
    if args.duration < 10:
        p.error("--duration must be at least 10 seconds")
    if args.seed is not None:
        seeds = [args.seed]
    elif args.seeds is not None:
        seeds = list(range(args.start, args.start + args.seeds))
    else:
        seeds = DEFAULT_SEEDS
    bins = {"db": os.environ.get("CHAOS_DB_BINARY") or os.path.join(ROOT, ".tools/bin/ferretdb"),
            "confab": os.environ.get("CHAOS_CONFAB_BINARY") or os.path.join(ROOT, "target/debug/confab"),
            "redis": os.environ.get("CHAOS_REDIS_BINARY") or shutil.which("redis-server") or "redis-server"}
    build = os.environ.get("CHAOS_BUILD", "")
    if build:
        say(f"chaos: confab binary built from {build}")
    for what, path in bins.items():
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            say(f"chaos: the {what} binary {path} is missing (run scripts/chaos, which builds it)")
            return 2
    passed = failed = 0
    started = time.monotonic()
    for seed in seeds:
        async def runner(seed=seed):
            loop = asyncio.get_running_loop()
            # Ctrl-C / SIGTERM cancel the run: its finally stops every process.
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, asyncio.current_task().cancel)
            return await run_seed(seed, args, bins)
        try:
            ok = asyncio.run(runner())
        except (KeyboardInterrupt, asyncio.CancelledError):
            procs.kill_everything()
            say(f"seed {seed}: interrupted (its processes are stopped; counted as failed)")
            say(f"chaos: {passed} passed, {failed + 1} failed")
            return 130
        except Exception as e:  # a harness or setup failure: the seed fails, the soak goes on
            procs.kill_everything()
            say(f"seed {seed}: harness error: {type(e).__name__}: {e}")
            ok = False
        passed += ok
        failed += not ok
    say(f"  ({len(seeds)} seeds in {time.monotonic() - started:.0f} s)")
    say(f"chaos: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
