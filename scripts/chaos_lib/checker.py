"""The invariants, checked on what the clients recorded and on the histories the
nodes answer after healing. Pure functions of the report (report.json can be
checked again with `scripts/chaos --recheck target/chaos/<seed>/report.json`).

1. history: every acked message is in history exactly once, with the seq and id
   it was acked with; per conversation seqs strictly increase; no seq carries
   another client_id than the one acked with it; no client_id is stored twice.
2. readers: every reader that resumed with `since` saw, merged over its sessions,
   every acked message after its first cursor, each session in strictly
   increasing seq order above its cursor, nothing twice, nothing history lacks.
3. revocation: after a removal / logout-all returned at T, no attempt of that
   user that started after T + bound succeeded (bound: 5 s, 15 s when a fault
   was active in [T - 12 s, T + 5 s]).
4. convergence (checked live by the harness, results passed in): owner leases,
   presence, membership, identical histories on every node (text and reaction
   counts included: `history_key`).
5. reactions: every node shows each emoji's count on a message as the clients'
   last answered toggles leave it (each toggle retried until answered: they are
   idempotent), and none on a deleted message.
6. edits: an edit answered 200 shows its text on every node, unless the message
   was deleted (each message is edited at most once, right after its ack).
"""

NORMAL_BOUND = 5.0
FAULT_BOUND = 15.0
FAULT_WINDOW_BEFORE = 12.0
FAULT_WINDOW_AFTER = 5.0


def _v(inv, what, **evidence):
    return {"invariant": inv, "what": what, "evidence": evidence}


def check_history(report):
    out = []
    label = _label(report)
    histories = report["histories"]
    ref = histories.get("0") or next(iter(histories.values()))
    index = {}
    by_cid = {}
    for conv, items in ref.items():
        prev = None
        for it in items:
            if prev is not None and it["seq"] <= prev:
                out.append(_v("1", f"history of {label.get(conv, conv)} is not strictly increasing: seq {it['seq']} "
                                   f"comes after seq {prev}",
                              conv=conv, seq=it["seq"], previous=prev))
            prev = it["seq"]
            index[(conv, it["seq"])] = it
            if it.get("client_id"):
                by_cid.setdefault(it["client_id"], []).append((conv, it["seq"], it["id"]))
    for cid, places in sorted(by_cid.items()):
        if len(places) > 1:
            out.append(_v("1", f"client_id {cid} is stored {len(places)} times", client_id=cid,
                          stored=places, acks=report["acks"].get(cid), sent=report["sent"].get(cid)))
    for cid, acks in sorted(report["acks"].items()):
        first = acks[0]
        distinct = {(a["conv"], a["seq"], a["id"]) for a in acks}
        if len(distinct) > 1:
            out.append(_v("1", f"client_id {cid} was acked with different seqs/ids: {sorted(distinct)}",
                          client_id=cid, acks=acks))
        for conv, seq, mid in sorted(distinct, key=lambda d: (d[0], d[1] if isinstance(d[1], int) else -1)):
            it = index.get((conv, seq))
            if it is None:
                near = [s for (c, s) in index if c == conv and isinstance(seq, int) and abs(s - seq) <= 3]
                out.append(_v("1", f"acked message lost: {cid} acked as seq {seq} of {label.get(conv, conv)} at "
                                   f"t={first['t']}, "
                                   f"not in history", client_id=cid, acks=acks, history_near=sorted(near),
                              history_last_seq=max([s for (c, s) in index if c == conv], default=None),
                              sent=report["sent"].get(cid)))
                continue
            if it["id"] != mid:
                out.append(_v("1", f"{cid}: acked with id {mid}, history has id {it['id']} at seq {seq}",
                              client_id=cid, acks=acks, history=it))
            if it.get("client_id") != cid:
                out.append(_v("1", f"seq {seq} of {label.get(conv, conv)} was acked to {cid} but history gives it to "
                                   f"{it.get('client_id')}: a seq handed out twice",
                              client_id=cid, acks=acks, history=it,
                              other_acks=report["acks"].get(it.get("client_id"))))
    return out, index


def history_key(item):
    """What must be the same on every node for one message of a history: its seq,
    id, client_id, whether deleted, its text (while not deleted) and its reaction
    counts."""
    deleted = bool(item.get("deleted"))
    return (item["seq"], item["id"], item.get("client_id"), deleted,
            None if deleted else item.get("body"), tuple(sorted(item.get("reactions", {}).items())))


def check_nodes_agree(report):
    out = []
    histories = report["histories"]
    nodes = sorted(histories)
    ref = histories[nodes[0]]
    for n in nodes[1:]:
        for conv in ref:
            a = [history_key(i) for i in ref[conv]]
            b = [history_key(i) for i in histories[n].get(conv, [])]
            if a != b:
                sa, sb = set(a), set(b)
                out.append(_v("4", f"history of {_label(report).get(conv, conv)} differs between node{nodes[0]} and "
                                   f"node{n} after healing",
                              conv=conv, only_on_first=sorted(sa - sb)[:20], only_on_other=sorted(sb - sa)[:20]))
    return out


def check_reactions(report):
    """Every node shows each emoji's count as the clients' last answered toggles leave
    it (0 on a deleted message); an emoji with a toggle never answered is left out."""
    out = []
    want = {}
    unknown = set()
    for key, r in report.get("reactions", {}).items():
        mid, emoji, user = key.rsplit("|", 2)
        if r["outcome"] == "unknown":
            unknown.add((mid, emoji))
        elif r["outcome"] == "done":
            want.setdefault((mid, emoji), set())
            if r["on"]:
                want[(mid, emoji)].add(user)
            else:
                want[(mid, emoji)].discard(user)
    for node, per in sorted(report["histories"].items()):
        shown = {it["id"]: it for items in per.values() for it in items}
        for (mid, emoji), users in sorted(want.items()):
            if (mid, emoji) in unknown or mid not in shown:
                continue
            it = shown[mid]
            expected = 0 if it["deleted"] else len(users)
            got = it.get("reactions", {}).get(emoji, 0)
            if got != expected:
                out.append(_v("reactions", f"node{node} shows {got} x {emoji} on {mid}, the clients' last "
                                           f"answered toggles leave {expected}",
                              message=mid, emoji=emoji, users=sorted(users), deleted=it["deleted"],
                              toggles={k: v for k, v in report["reactions"].items()
                                       if k.startswith(f"{mid}|{emoji}|")}))
    return out


def check_edits(report):
    """An edit answered 200 shows its text on every node unless the message was
    deleted (edits and their texts are recorded since this check exists)."""
    out = []
    for node, per in sorted(report["histories"].items()):
        shown = {it["id"]: it for items in per.values() for it in items}
        for e in report.get("edits", []):
            if e.get("op") != "edit" or e.get("status") != 200 or "body" not in e:
                continue
            it = shown.get(e["id"])
            if it is None or it["deleted"] or "body" not in it:
                continue
            if it["body"] != e["body"]:
                out.append(_v("6", f"node{node} shows {it['body']!r} for {e['id']}, edited to {e['body']!r} "
                                   f"(answered 200 at t={e['t']:.3f})", edit=e, shown=it))
    return out


def _label(report):
    return {g: f"g{i}" for i, g in enumerate(report.get("groups", []))}


def _span(seqs):
    seqs = sorted(seqs)
    if len(seqs) <= 8:
        return ", ".join(str(x) for x in seqs)
    return f"{seqs[0]}..{seqs[-1]} ({len(seqs)} seqs: {', '.join(str(x) for x in seqs[:6])}, ...)"


def check_readers(report, index):
    out = []
    tolerated = 0
    duplicates = []
    label = _label(report)
    acked_by_conv = {}
    for cid, acks in report["acks"].items():
        a = acks[0]
        if isinstance(a["seq"], int):
            t_first = min(x["t"] for x in acks)
            acked_by_conv.setdefault(a["conv"], {})[a["seq"]] = (cid, t_first)
    by_reader = {}
    for s in report["sessions"]:
        by_reader.setdefault((s["reader"], s["conv"]), []).append(s)
    for (reader, conv), sessions in sorted(by_reader.items()):
        name = label.get(conv, conv)
        sessions.sort(key=lambda s: s["start"])
        seen = {}
        cummax = []
        high = sessions[0]["cursor"]
        for k, s in enumerate(sessions):
            prev = None
            for seq, mid, bcid, deleted, t, phase in s["frames"]:
                if not isinstance(seq, int):
                    out.append(_v("2", f"{reader}: a message frame without an integer seq", session=_brief(s)))
                    continue
                if seq in seen and seen[seq][0] == mid:
                    # The same message again (in this session, or at or below the
                    # cursor): merged by seq, as the invariant allows; counted.
                    duplicates.append({"reader": reader, "conv": name, "seq": seq, "id": mid, "t": t,
                                       "phase": phase, "node": s["node"], "cursor": s["cursor"],
                                       "first_seen": list(seen[seq][2:])})
                    continue
                if seq in seen:
                    out.append(_v("2", f"{reader}: {name} seq {seq} seen as {seen[seq][0]} and later as {mid} "
                                       f"({phase} on node{s['node']}, t={t})", session=_brief(s, around=seq)))
                elif seq <= s["cursor"]:
                    out.append(_v("2", f"{reader} joined {name} with since={s['cursor']} on node{s['node']} and "
                                       f"got seq {seq} ({phase}) at t={t}: at or below its cursor",
                                  session=_brief(s, around=seq)))
                elif prev is not None and seq < prev:
                    out.append(_v("2", f"{reader} on node{s['node']}: {name} seq {seq} ({phase}, t={t}) arrived "
                                       f"after seq {prev} in the same session: out of seq order",
                                  session=_brief(s, around=seq)))
                prev = seq if prev is None else max(prev, seq)
                if seq not in seen:
                    seen[seq] = (mid, None if deleted else bcid, s["node"], t, phase)
                high = max(high, seq)
            cummax.append(high)
        # what it saw must be what history holds
        for seq, (mid, bcid, node, t, phase) in sorted(seen.items()):
            it = index.get((conv, seq))
            if it is None:
                out.append(_v("2", f"{reader} saw {name} seq {seq} ({phase} on node{node}, t={t}) that history "
                                   f"does not hold", seen_id=mid, seen_client_id=bcid,
                              acks=report["acks"].get(bcid)))
            elif it["id"] != mid or (bcid is not None and not it.get("deleted") and it.get("client_id")
                                     and bcid != it.get("client_id")):
                out.append(_v("2", f"{reader} saw {name} seq {seq} as {mid}/{bcid} ({phase} on node{node}, t={t}); "
                                   f"history has {it['id']}/{it.get('client_id')}", history=it,
                              acks_seen=report["acks"].get(bcid), acks_history=report["acks"].get(it.get("client_id"))))
        # every acked message after the first cursor, merged over the sessions;
        # the misses are grouped by the session that went past them
        first_cursor = sessions[0]["cursor"]
        missed = {}
        for seq, (cid, t_ack) in sorted(acked_by_conv.get(conv, {}).items()):
            if seq <= first_cursor or seq in seen:
                continue
            passing = None
            for k, s in enumerate(sessions):
                if s["cursor"] < seq <= cummax[k]:
                    passing = k
                    break
            if passing is not None and sessions[passing]["end"] is not None and sessions[passing]["end"] < t_ack:
                tolerated += 1
                continue
            missed.setdefault(passing, []).append((seq, cid, t_ack))
        for passing, items in sorted(missed.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
            seqs = [x[0] for x in items]
            t_lo, t_hi = min(x[2] for x in items), max(x[2] for x in items)
            examples = [{"seq": seq, "client_id": cid, "acks": report["acks"].get(cid)} for seq, cid, _ in items[:4]]
            if passing is None:
                out.append(_v("2", f"{reader} never saw {len(items)} acked message(s) of {name}: seqs {_span(seqs)} "
                                   f"(acked t={t_lo}..{t_hi}); its last cursor was {cummax[-1]}",
                              last_session=_brief(sessions[-1]), examples=examples))
            else:
                s = sessions[passing]
                out.append(_v("2", f"{reader} missed {len(items)} acked message(s) of {name}: seqs {_span(seqs)} "
                                   f"(first acked t={t_lo}..{t_hi}); its session on node{s['node']} "
                                   f"(since={s['cursor']}, t={s['start']}..{s['end']}, ended: {s['end_reason']}) "
                                   f"went past them to seq {cummax[passing]}, so no later join with since replays them",
                              session=_brief(s, around=seqs[0]), examples=examples))
    return out, tolerated, duplicates


def _brief(s, around=None):
    frames = s["frames"]
    if around is not None:
        near = [f for f in frames if isinstance(f[0], int) and abs(f[0] - around) <= 4]
        frames = near or frames[-4:]
    elif len(frames) > 12:
        frames = frames[:4] + [["..."]] + frames[-6:]
    return {"reader": s["reader"], "conv": s["conv"], "node": s["node"], "cursor": s["cursor"],
            "start": s["start"], "joined_at": s["joined_at"], "last_seq": s["last_seq"],
            "truncated": s["truncated"], "end": s["end"], "end_reason": s["end_reason"],
            "frames(seq,id,client_id,deleted,t,phase)": frames, "frame_count": len(s["frames"])}


def bound_for(report, t):
    for f in report["faults"]:
        start, end = f["start"], f.get("end") if f.get("end") is not None else f["start"]
        if start <= t + FAULT_WINDOW_AFTER and end >= t - FAULT_WINDOW_BEFORE:
            return FAULT_BOUND, f"fault {f['id']} ({f['kind']}, t={start}..{end}) in [T-12 s, T+5 s]"
    return NORMAL_BOUND, "no fault in [T-12 s, T+5 s]"


def check_revocations(report):
    out = []
    bounds = []
    for r in report["revocations"]:
        if r.get("t_return") is None:
            out.append(_v("3", f"the {r['kind']} of {r['victim']} never returned success", revocation=r))
            continue
        t = r["t_return"]
        bound, why = bound_for(report, t)
        bounds.append({"victim": r["victim"], "kind": r["kind"], "T": t, "bound": bound, "why": why})
        mine = [a for a in report["attempts"] if a["user"] == r["victim"]]
        late_ok = [a for a in mine if a["ok"] and a["start"] > t + bound]
        before_ok = sum(1 for a in mine if a["ok"] and a["end"] < r["t_call"])
        after = [a for a in mine if a["start"] > t + bound]
        bounds[-1].update({"ok_before": before_ok, "tried_after_bound": len(after)})
        if late_ok:
            by_kind = {}
            for a in late_ok:
                by_kind.setdefault((a["kind"], a["node"]), []).append(a)
            for (kind, node), items in sorted(by_kind.items()):
                out.append(_v("3", f"{r['victim']}: {r['kind']} returned at T={t} (through node{r.get('node')}), "
                                   f"yet {len(items)} {kind} attempt(s) on node{node} started after T+{bound:g} s "
                                   f"succeeded (first started t={items[0]['start']}, last t={items[-1]['start']})",
                              revocation=r, bound=bound, why=why, attempts=items[:10]))
    return out, bounds


def check_liveness(report):
    out = []
    stuck = [(cid, s) for cid, s in report["sent"].items()
             if s["via"] in ("ws", "rest") and not s["acked"] and not (s.get("outcome") or "").startswith("refused")]
    if stuck:
        out.append(_v("liveness", f"{len(stuck)} send(s) never acked although they were resent until the "
                                  f"deadline, after healing", examples=dict(stuck[:5])))
    refused = [(cid, s) for cid, s in report["sent"].items() if (s.get("outcome") or "").startswith("refused")]
    if refused:
        out.append(_v("liveness", f"{len(refused)} valid send(s) refused as invalid", examples=dict(refused[:5])))
    return out


def check(report):
    violations = list(report.get("live_violations", []))
    hist_v, index = check_history(report)
    violations += hist_v
    violations += check_nodes_agree(report)
    reader_v, tolerated, duplicates = check_readers(report, index)
    violations += reader_v
    rev_v, bounds = check_revocations(report)
    violations += rev_v
    violations += check_liveness(report)
    violations += check_reactions(report)
    violations += check_edits(report)
    return violations, {"tolerated_reader_gaps": tolerated, "bounds": bounds, "duplicates": duplicates}
