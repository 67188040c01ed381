"""The seeded plan of one run: faults, removals and logouts, decided up front.

Everything here comes from random.Random(seed) and the run's shape (nodes,
duration), so `--seed N` with the same --nodes and --duration replays the same
plan. What the clients do and when exactly their requests land is not
deterministic (real processes, real sockets, real scheduling).
"""

import random

KINDS = ["kill_node", "stop_node", "pubsub_kill", "redis_restart", "db_stop"]

# How long each fault keeps its target unusable, beyond its planned duration, for
# the placement rules: a killed node needs a few seconds to be ready again.
_NODE_RECOVERY = 4.0
STOP_NODE_SECS = 7.0  # longer than the 5 s owner lease (src/cluster/ownership/ LEASE)


def _target(ev):
    if ev["kind"] in ("kill_node", "stop_node"):
        return f"node{ev['node']}"
    if ev["kind"] in ("pubsub_kill", "redis_restart"):
        return "redis"
    return "database"


def _busy(ev):
    """The interval during which the fault's target is away (for placement)."""
    extra = _NODE_RECOVERY if ev["kind"] == "kill_node" else 0.5
    return ev["at"], ev["at"] + ev["secs"] + extra


def _overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


def _no_node_left(placed, cand, nodes):
    """Whether adding `cand` leaves, at some instant, no confab node usable."""
    node_evs = [e for e in placed + [cand] if e["kind"] in ("kill_node", "stop_node")]
    points = sorted({_busy(e)[0] for e in node_evs})
    for t in points:
        away = {e["node"] for e in node_evs if _busy(e)[0] <= t < _busy(e)[1]}
        if len(away) >= nodes:
            return True
    return False


def make(seed, nodes, duration):
    rng = random.Random(seed)
    want = rng.randint(3, 6)
    kinds = rng.sample(KINDS, len(KINDS))
    while len(kinds) < want:
        kinds.append(rng.choice(KINDS))
    kinds = kinds[:want]
    lo, hi = 2.0, duration - 1.5
    placed = []
    # Kinds that did not fit are replaced by short ones until there are 3 faults.
    fallback = 0
    while kinds:
        kind = kinds.pop(0)
        ev = {"kind": kind}
        if kind == "kill_node":
            ev["node"] = rng.randrange(nodes)
            ev["secs"] = round(rng.uniform(1.0, 3.0), 2)
        elif kind == "stop_node":
            ev["node"] = rng.randrange(nodes)
            ev["secs"] = STOP_NODE_SECS
        elif kind == "pubsub_kill":
            ev["secs"] = 0.0
        elif kind == "redis_restart":
            ev["secs"] = round(rng.uniform(1.0, 2.0), 2)
        else:
            ev["secs"] = round(rng.uniform(1.0, 3.0), 2)
        ok = False
        for _ in range(60):
            latest = hi - ev["secs"]
            if latest <= lo:
                break
            ev["at"] = round(rng.uniform(lo, latest), 2)
            if any(abs(ev["at"] - p["at"]) < 1.0 for p in placed):
                continue
            if any(_target(p) == _target(ev) and _overlaps(_busy(p), _busy(ev)) for p in placed):
                continue
            if _no_node_left(placed, ev, nodes):
                continue
            ok = True
            break
        if ok:
            placed.append(ev)
        elif len(placed) + len(kinds) < 3 and fallback < 10:
            fallback += 1
            kinds.append(rng.choice(["pubsub_kill", "db_stop", "redis_restart"]))
    placed.sort(key=lambda e: e["at"])
    for n, ev in enumerate(placed):
        ev["id"] = n

    # Revocations: two removals (one member from each of the first two groups) and
    # one or two logout-alls, through a node chosen here.
    revocations = []
    for m in range(2):
        revocations.append({
            "kind": "remove", "victim": f"m{m}", "group": m,
            "at": round(rng.uniform(0.2 * duration, 0.65 * duration), 2),
            "node": rng.randrange(nodes),
        })
    for v in range(rng.randint(1, 2)):
        revocations.append({
            "kind": "logout_all", "victim": f"v{v}", "group": 0,
            "at": round(rng.uniform(0.2 * duration, 0.7 * duration), 2),
            "node": rng.randrange(nodes),
            # the node holding the victim's open socket (another node when there is one)
            "socket_node": rng.randrange(nodes),
        })
    revocations.sort(key=lambda r: r["at"])
    return {"seed": seed, "nodes": nodes, "duration": duration, "faults": placed,
            "revocations": revocations}


def describe_fault(ev):
    k = ev["kind"]
    if k == "kill_node":
        return f"SIGKILL node{ev['node']}, restart it on its port after {ev['secs']} s"
    if k == "stop_node":
        return f"SIGSTOP node{ev['node']} for {ev['secs']} s, then SIGCONT"
    if k == "pubsub_kill":
        return "CLIENT KILL TYPE pubsub on Redis"
    if k == "redis_restart":
        return f"SIGKILL Redis, start it again on its port after {ev['secs']} s"
    return f"SIGSTOP the database for {ev['secs']} s, then SIGCONT"


def describe(plan):
    lines = [f"seed {plan['seed']}: plan for {plan['nodes']} nodes, {plan['duration']} s of traffic"]
    for ev in plan["faults"]:
        lines.append(f"  fault {ev['id']} at t={ev['at']:6.2f} s: {describe_fault(ev)}")
    for r in plan["revocations"]:
        if r["kind"] == "remove":
            lines.append(f"  at t={r['at']:6.2f} s: the owner removes {r['victim']} from group g{r['group']} through node{r['node']}")
        else:
            lines.append(f"  at t={r['at']:6.2f} s: {r['victim']} calls logout-all through node{r['node']} "
                         f"(its open socket is on node{r['socket_node']})")
    return "\n".join(lines)
