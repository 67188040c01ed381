// The client's state and everything that changes it: REST calls through the Session,
// live frames from the SDK's Realtime module. Components read `state` and re-render
// once per animation frame after `changed()` (so a burst of frames costs one render
// and one layout per frame, not one per message).
import {
  Realtime, RealtimeClosed, RealtimeError, CloseCode,
  addReaction, createGroup, createWsTicket, deleteGroup, deleteMessage, editMessage, getGroup, joinGroup, leaveGroup,
  listDms, listGroupMembers, listGroups, listMessages, listReactors, markRead, openDm, putGroupMember,
  removeGroupMember, removeReaction, searchMessages, searchUsers, sendMessage,
} from '@confab/client';
import type { frames, Conversation, Group, Member, Message, User, WebSocketLike } from '@confab/client';
import { ApiError, Session, baseUrl, errorText } from './api';

export interface Msg {
  id: string; seq: number; sender: { id: string; username: string }; body: string;
  created_at: string; edited_at?: string; deleted: boolean;
  /** The conversation's change counter at this message's last edit, delete or reaction. */
  rev: number;
  /** In the order each emoji was first used. */
  reactions: Reaction[];
  /** The message this one answers, as this client knows it now. */
  replyTo?: Quote;
}
/** What a reply shows of the message it answers: the first 100 characters of its
 * text (empty once deleted). */
export interface Quote { id: string; seq: number; sender: { id: string; username: string }; excerpt: string; deleted: boolean }
/** One emoji's reactions; `me` is unknown (undefined) in frames every member gets. */
export interface Reaction { emoji: string; count: number; me?: boolean }
export interface Outgoing { client_id: string; body: string; state: 'sending' | 'failed'; error?: string; replyTo?: Quote }

export interface Conv {
  id: string; kind: 'group' | 'direct'; name: string;
  group?: Group; peer?: User;
  /** Highest seq known in this conversation. */
  lastSeq: number;
  unread: number;
  /** My read marker. */
  readSeq: number;
  /** Loaded history, ascending seq (empty until the conversation is opened). */
  msgs: Msg[];
  loaded: boolean;
  loading: boolean;
  hasOlder: boolean;
  outbox: Outgoing[];
  online: Map<string, string>;
  typing: Map<string, { username: string; until: number }>;
  readBy: Map<string, { username: string; seq: number }>;
  preview?: string;
  activity: string;
}

export type Conn = 'connecting' | 'online' | 'offline';
export type Panel = 'none' | 'discover' | 'newGroup' | 'newDm' | 'members' | 'search';

export const state = {
  session: undefined as Session | undefined,
  convs: new Map<string, Conv>(),
  activeId: undefined as string | undefined,
  conn: 'offline' as Conn,
  panel: 'none' as Panel,
  /** Shown on the sign-in screen (why you were signed out). */
  notice: '',
  /** Transient messages, newest last. */
  toasts: [] as { id: number; text: string }[],
  ready: false,
  /** A message to show (a search result or a reply's quote opened): its conversation
   * and seq; `n` changes on every request (showing the same message again scrolls
   * again), `take`: move the keyboard focus onto it. */
  focus: undefined as { conv: string; seq: number; n: number; take?: boolean } | undefined,
};

// ---- rendering ----------------------------------------------------------------------
const listeners = new Set<() => void>();
let scheduled = false;
export function subscribe(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
export function changed(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const l of listeners) l();
  });
}

let toastSeq = 0;
export function toast(text: string): void {
  const id = ++toastSeq;
  state.toasts = [...state.toasts.slice(-3), { id, text }];
  changed();
  setTimeout(() => { state.toasts = state.toasts.filter((t) => t.id !== id); changed(); }, 8000);
}

const me = (): User => state.session!.user;
const call = <T>(fn: Parameters<Session['call']>[0]) => state.session!.call(fn) as Promise<T>;

// ---- conversations ------------------------------------------------------------------
function readKey(id: string): string { return `confab.read.${me().id}.${id}`; }

function newConv(id: string, kind: Conv['kind'], name: string): Conv {
  return {
    id, kind, name, lastSeq: 0, unread: 0, readSeq: Number(localStorage.getItem(readKey(id)) ?? 0) || 0,
    msgs: [], loaded: false, loading: false, hasOlder: false, outbox: [],
    online: new Map(), typing: new Map(), readBy: new Map(), activity: '',
  };
}

function upsertGroup(g: Group): Conv {
  let c = state.convs.get(g.id);
  if (!c) { c = newConv(g.id, 'group', g.name); state.convs.set(g.id, c); c.activity = g.created_at; }
  c.group = g;
  c.name = g.name;
  return c;
}

function upsertDm(d: Conversation): Conv {
  let c = state.convs.get(d.id);
  if (!c) { c = newConv(d.id, 'direct', d.name); state.convs.set(d.id, c); }
  c.peer = d.peer;
  c.name = d.peer?.display_name || d.name;
  c.lastSeq = Math.max(c.lastSeq, d.last_seq);
  c.unread = d.unread;
  c.readSeq = Math.max(c.readSeq, d.last_seq - d.unread);
  if (d.last_message) { c.preview = d.last_message.body; c.activity = d.last_message.created_at; }
  if (d.peer?.online) c.online.set(d.peer.id, d.peer.username);
  return c;
}

async function allPages<T>(page: (cursor?: string) => Promise<{ items: T[]; next_cursor?: string }>, max = 10): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < max; i++) {
    const p = await page(cursor);
    out.push(...p.items);
    if (!p.next_cursor || p.items.length === 0) break;
    cursor = p.next_cursor;
  }
  return out;
}

export function sortedConvs(): Conv[] {
  return [...state.convs.values()].sort((a, b) => (b.activity > a.activity ? 1 : b.activity < a.activity ? -1 : a.name.localeCompare(b.name)));
}

export function active(): Conv | undefined {
  return state.activeId ? state.convs.get(state.activeId) : undefined;
}

/** Where `seq` is, or would go, in a conversation's loaded history. */
function indexOf(c: Conv, seq: number): number {
  let lo = 0;
  let hi = c.msgs.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (c.msgs[mid].seq < seq) lo = mid + 1; else hi = mid; }
  return lo;
}
/** The loaded copy of message `seq`, if any. */
export function loadedMsg(c: Conv, seq: number): Msg | undefined {
  const m = c.msgs[indexOf(c, seq)];
  return m?.seq === seq ? m : undefined;
}

/** Merges messages into a conversation (by seq: no duplicates, ascending). */
function merge(c: Conv, items: Msg[]): void {
  for (const m of items) {
    c.lastSeq = Math.max(c.lastSeq, m.seq);
    const last = c.msgs[c.msgs.length - 1];
    if (!last || m.seq > last.seq) { c.msgs.push(m); continue; }
    const lo = indexOf(c, m.seq);
    if (c.msgs[lo]?.seq === m.seq) {
      // Of two copies, the one with the higher rev is the newer.
      if (c.msgs[lo].rev <= m.rev) c.msgs[lo] = keepMine(c.msgs[lo], m);
    } else c.msgs.splice(lo, 0, m);
  }
  syncQuotes(c, new Set(items.map((m) => m.seq)));
  // A long live stream while reading the bottom: keep the DOM bounded.
  if (c.msgs.length > 600 && c.id === state.activeId && atBottom) { c.msgs = c.msgs.slice(-300); c.hasOlder = true; }
}

// ---- replies' quotes ----------------------------------------------------------------
// A reply carries a quote of the message it answers; a live `message` frame's is as it
// was when the reply was sent, a REST read's as it is now. The client's own copy of
// the original is the newest it knows (it follows `message_updated` and
// `message_deleted`), so a quote is taken from it when it is loaded, and every reply's
// quote changes with it.
const EXCERPT_CHARS = 100;
const excerptOf = (body: string) => Array.from(body).slice(0, EXCERPT_CHARS).join('');

/** `q` as the loaded copy of its original says now (`q` itself when that is not loaded
 * or says the same). */
export function quoteNow(c: Conv, q: Quote): Quote {
  const o = loadedMsg(c, q.seq);
  if (!o || o.id !== q.id) return q;
  const excerpt = o.deleted ? '' : excerptOf(o.body);
  return excerpt === q.excerpt && o.deleted === q.deleted ? q : { ...q, excerpt, deleted: o.deleted };
}

/** Brings up to date the quote of every loaded reply that is in `seqs` or answers
 * a message in `seqs` (replaced rows re-render; the others keep their identity). */
function syncQuotes(c: Conv, seqs: Set<number>): void {
  for (let i = 0; i < c.msgs.length; i++) {
    const m = c.msgs[i];
    if (!m.replyTo || !(seqs.has(m.seq) || seqs.has(m.replyTo.seq))) continue;
    const q = quoteNow(c, m.replyTo);
    if (q !== m.replyTo) c.msgs[i] = { ...m, replyTo: q };
  }
}

/** An original that is not loaded changed (a frame): the quotes of its loaded replies. */
function requote(c: Conv, seq: number, body: string, deleted: boolean): void {
  const excerpt = deleted ? '' : excerptOf(body);
  for (let i = 0; i < c.msgs.length; i++) {
    const m = c.msgs[i];
    const q = m.replyTo;
    if (q?.seq === seq && (q.excerpt !== excerpt || q.deleted !== deleted)) c.msgs[i] = { ...m, replyTo: { ...q, excerpt, deleted } };
  }
}

/** A message was deleted: its tombstone, and every quote of it. */
function tombstone(c: Conv, seq: number, rev?: number): void {
  const i = indexOf(c, seq);
  const m = c.msgs[i];
  if (m?.seq === seq) c.msgs[i] = { ...m, body: '', deleted: true, rev: Math.max(m.rev, rev ?? m.rev), reactions: [] };
  requote(c, seq, '', true);
  const r = replying.get(c.id);
  if (r?.seq === seq) {
    replying.delete(c.id);
    toast(`The message from ${r.sender.username} you were replying to was deleted.`);
  }
}

/** A newer copy whose reactions lack `me` (a frame every member gets) keeps ours. */
function keepMine(old: Msg, m: Msg): Msg {
  if (m.reactions.every((r) => r.me !== undefined)) return m;
  return { ...m, reactions: m.reactions.map((r) => (r.me !== undefined ? r : { ...r, me: old.reactions.find((o) => o.emoji === r.emoji)?.me })) };
}

const toMsg = (m: Message | frames.MessageFrame): Msg => ({
  id: m.id, seq: m.seq, sender: { id: m.sender.id, username: m.sender.username }, body: m.body,
  created_at: m.created_at, edited_at: m.edited_at, deleted: 'deleted' in m ? Boolean(m.deleted) : false,
  rev: m.rev, reactions: (m.reactions ?? []).map((r) => ({ emoji: r.emoji, count: r.count, me: r.me })),
  replyTo: m.reply_to && {
    id: m.reply_to.id, seq: m.reply_to.seq, sender: { id: m.reply_to.sender.id, username: m.reply_to.sender.username },
    excerpt: m.reply_to.excerpt, deleted: Boolean(m.reply_to.deleted),
  },
});

// ---- start and stop -----------------------------------------------------------------
export async function start(session: Session): Promise<void> {
  state.session = session;
  state.notice = '';
  session.onEnded = (why) => signedOut(why);
  session.onToken = (token) => { try { rt?.reauth(token); } catch { /* reconnect will use a fresh ticket */ } };
  changed();
  try {
    const [groups, dms] = await Promise.all([
      allPages((cursor) => call<{ items: Group[]; next_cursor?: string }>((client) => listGroups({ client, query: { limit: 100, cursor } }))),
      allPages((cursor) => call<{ items: Conversation[]; next_cursor?: string }>((client) => listDms({ client, query: { limit: 100, cursor } }))),
    ]);
    groups.forEach(upsertGroup);
    dms.forEach(upsertDm);
  } catch (e) {
    toast(`Could not load your conversations: ${errorText(e)}`);
  }
  state.ready = true;
  changed();
  requestAnimationFrame(() => performance.mark('confab:ready'));
  void connect();
}

function signedOut(why: string): void {
  const rtOld = rt;
  rt = undefined;
  connGen++;
  void rtOld?.close().catch(() => {});
  state.session = undefined;
  state.convs.clear();
  drafts.clear();
  replying.clear();
  state.activeId = undefined;
  state.panel = 'none';
  state.conn = 'offline';
  state.ready = false;
  state.notice = why;
  changed();
}

export async function logout(everywhere: boolean): Promise<void> {
  try { await state.session?.logout(everywhere); } catch (e) { toast(errorText(e)); }
}

// ---- the WebSocket ------------------------------------------------------------------
let rt: Realtime | undefined;
let connGen = 0;

/** The browser WebSocket, reporting open/close to the connection indicator. */
function trackedSocket(gen: number): WebSocketLike {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.addEventListener('open', () => { if (gen === connGen) { state.conn = 'online'; changed(); } });
      this.addEventListener('close', () => { if (gen === connGen) { state.conn = 'offline'; changed(); } });
    }
  } as unknown as WebSocketLike;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(): Promise<void> {
  const gen = ++connGen;
  state.conn = 'connecting';
  changed();
  let backoff = 250;
  while (gen === connGen && state.session && !state.session.ended) {
    try {
      const session = state.session;
      const r = await Realtime.connect({
        baseUrl,
        ticket: async () => (await session.call<{ ticket: string }>((client) => createWsTicket({ client }))).ticket,
        WebSocket: trackedSocket(gen),
        maxBackoffMs: 2000,
      });
      if (gen !== connGen) { void r.close(); return; }
      rt = r;
      r.on(onFrame);
      void r.ended.then((closed) => onEnded(r, closed));
      await joinAll(r);
      return;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // the session ended
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 2000);
    }
  }
}

// A dead network often closes nothing: the socket just goes quiet. Ping every 20 s
// and drop a connection that has not answered within 5 s (the SDK then reconnects and
// rejoins with `since`); drop at once when the browser says it went offline.
let lastPong = Date.now();
setInterval(() => {
  if (!rt || state.conn !== 'online') return;
  const sent = Date.now();
  try { rt.ping(); } catch { return; }
  setTimeout(() => { if (lastPong < sent && state.conn === 'online') rt?.dropConnection(); }, 5000);
}, 20_000);
window.addEventListener('offline', () => rt?.dropConnection());

async function onEnded(r: Realtime, closed: RealtimeClosed): Promise<void> {
  if (r !== rt) return;
  rt = undefined;
  state.conn = 'offline';
  changed();
  if (closed.code === CloseCode.unauthorized) {
    // Token expired or revoked (logout everywhere, password change): a refresh tells which.
    try { await state.session?.refresh(); } catch { return; }
  }
  if (state.session && !state.session.ended) void connect();
}

async function joinAll(r: Realtime): Promise<void> {
  for (const c of state.convs.values()) joinOne(r, c);
}

function joinOne(r: Realtime | undefined, c: Conv): void {
  if (!r) return;
  if (c.lastSeq > 0) r.lastSeq.set(c.id, Math.max(r.lastSeq.get(c.id) ?? 0, c.lastSeq));
  r.join(c.id, c.lastSeq > 0 ? c.lastSeq : undefined).catch((e) => {
    if (r === rt && !(e instanceof RealtimeClosed)) toast(`Could not join ${c.name}: ${errorText(e)}`);
  });
}

function onFrame(f: frames.ServerFrame): void {
  const c = 'conversation' in f ? state.convs.get(f.conversation) : undefined;
  switch (f.type) {
    case 'joined': {
      if (!c) return;
      c.online = new Map(f.online.map((u) => [u.id, u.username]));
      const before = c.lastSeq;
      c.lastSeq = Math.max(c.lastSeq, f.last_seq);
      if (c.kind === 'group' && before === 0 && c.id !== state.activeId) c.unread = Math.max(0, f.last_seq - c.readSeq);
      rt?.lastSeq.set(c.id, Math.max(rt.lastSeq.get(c.id) ?? 0, c.lastSeq));
      if (c.loaded && f.changes_truncated) {
        // More changed while away than a join replays: read the history again.
        c.loaded = false;
        c.msgs = [];
        if (c.id === state.activeId) void open(c.id);
        break;
      }
      if (c.loaded && (f.truncated || (c.msgs.length && c.msgs[c.msgs.length - 1].seq < f.last_seq))) void catchUp(c);
      break;
    }
    case 'message': {
      if (!c) { if (f.conversation) void discoverConv(f.conversation); return; }
      const known = f.seq <= c.lastSeq;
      const last = c.msgs[c.msgs.length - 1];
      if (c.loaded) {
        merge(c, [toMsg(f)]);
        if (last && f.seq > last.seq + 1) void catchUp(c);
      } else c.lastSeq = Math.max(c.lastSeq, f.seq);
      if (f.sender.id !== me().id) {
        c.typing.delete(f.sender.id);
        if (!known && f.seq > c.readSeq && !(c.id === state.activeId && seeing())) c.unread += 1;
      }
      if (!known || f.created_at > c.activity) { c.preview = f.body; c.activity = f.created_at; }
      if (c.id === state.activeId) maybeMarkRead();
      break;
    }
    case 'message_updated':
      if (!c?.loaded) break;
      if (loadedMsg(c, f.seq)) merge(c, [toMsg(f)]);
      else requote(c, f.seq, f.body, Boolean(f.deleted));
      break;
    case 'message_deleted':
      if (c?.loaded) tombstone(c, f.seq, f.rev);
      else if (c && replying.get(c.id)?.seq === f.seq) tombstone(c, f.seq);
      break;
    case 'reaction': {
      // A delta: that emoji's count now, and `me` when the user is me.
      const i = c?.loaded ? c.msgs.findIndex((m) => m.id === f.message) : -1;
      if (!c || i < 0) return;
      const m = c.msgs[i];
      if (m.deleted || f.rev <= m.rev) return; // this copy already has it
      const mine = f.user.id === me().id ? f.on : undefined;
      const at = m.reactions.findIndex((r) => r.emoji === f.emoji);
      let reactions = m.reactions.slice();
      if (at < 0) { if (f.count > 0) reactions.push({ emoji: f.emoji, count: f.count, me: mine }); } else reactions[at] = { ...reactions[at], count: f.count, me: mine ?? reactions[at].me };
      reactions = reactions.filter((r) => r.count > 0);
      c.msgs[i] = { ...m, rev: f.rev, reactions };
      break;
    }
    case 'presence':
      if (!c) return;
      if (f.status === 'online') c.online.set(f.user.id, f.user.username); else c.online.delete(f.user.id);
      c.online = new Map(c.online);
      break;
    case 'typing': {
      if (!c || f.user.id === me().id) return;
      c.typing.set(f.user.id, { username: f.user.username, until: Date.now() + 4000 });
      setTimeout(() => { if ((c.typing.get(f.user.id)?.until ?? 0) <= Date.now()) { c.typing.delete(f.user.id); changed(); } }, 4100);
      break;
    }
    case 'read':
      if (!c) return;
      if (f.user.id === me().id) {
        setRead(c, f.seq);
      } else {
        c.readBy.set(f.user.id, { username: f.user.username, seq: f.seq });
        c.readBy = new Map(c.readBy);
      }
      break;
    case 'membership':
      if (f.status === 'added') void discoverConv(f.conversation);
      else if (state.convs.has(f.conversation)) {
        const name = state.convs.get(f.conversation)?.name;
        state.convs.delete(f.conversation);
        if (state.activeId === f.conversation) { state.activeId = undefined; state.panel = 'none'; }
        toast(`You are no longer a member of ${name}.`);
      }
      break;
    case 'pong':
      lastPong = Date.now();
      return;
    case 'error': {
      const emoji = f.ref ? reacting.get(f.ref) : undefined;
      if (f.ref && emoji) {
        reacting.delete(f.ref);
        toast(reactionError(emoji, new ApiError(0, f.code, f.message)));
        break;
      }
      if (!f.ref || !state.convs.has(f.ref)) break; // send errors are reported by their promise
      toast(`${state.convs.get(f.ref)?.name}: ${f.message}`);
      break;
    }
    default:
      return;
  }
  changed();
}

/** A conversation we did not know: a new DM, or a group we were added to. */
async function discoverConv(id: string): Promise<void> {
  if (state.convs.has(id)) return;
  try {
    const g = await call<Group>((client) => getGroup({ client, path: { id } }));
    joinOne(rt, upsertGroup(g));
  } catch {
    try {
      const dms = await call<{ items: Conversation[] }>((client) => listDms({ client, query: { limit: 20 } }));
      const d = dms.items.find((x) => x.id === id);
      if (d) joinOne(rt, upsertDm(d));
    } catch { /* shows up on the next load */ }
  }
  changed();
}

/** Pages forward with REST from the newest loaded message to the end. */
const catching = new Set<string>();
async function catchUp(c: Conv): Promise<void> {
  if (catching.has(c.id)) return;
  catching.add(c.id);
  try {
    for (let i = 0, waits = 0; i < 50; i++) {
      const after = c.msgs[c.msgs.length - 1]?.seq ?? 0;
      let h: { items: Message[]; has_more: boolean };
      try {
        h = await call<{ items: Message[]; has_more: boolean }>((client) => listMessages({ client, path: { id: c.id }, query: { after, limit: 100 } }));
      } catch (e) {
        // Over the history budget (many rooms catching up at once): wait as told, a
        // few times, instead of leaving a gap.
        if (e instanceof ApiError && e.code === 'rate_limited' && waits < 10) {
          waits++;
          i--;
          await new Promise((r) => setTimeout(r, 1000 * Math.max(1, e.details?.retry_after_secs ?? 1)));
          continue;
        }
        throw e;
      }
      merge(c, h.items.map(toMsg));
      changed();
      if (!h.has_more || h.items.length === 0) break;
    }
  } catch (e) {
    toast(`Could not catch up on ${c.name}: ${errorText(e)}`);
  } finally {
    catching.delete(c.id);
  }
}

// ---- reading ------------------------------------------------------------------------
let atBottom = true;
export function setAtBottom(v: boolean): void {
  if (atBottom === v) return;
  atBottom = v;
  if (v) maybeMarkRead();
}
const seeing = () => atBottom && document.visibilityState === 'visible';
document.addEventListener('visibilitychange', () => maybeMarkRead());

function setRead(c: Conv, seq: number): void {
  if (seq <= c.readSeq) return;
  c.readSeq = seq;
  c.unread = c.kind === 'direct' ? Math.max(0, c.lastSeq - seq) : 0;
  localStorage.setItem(readKey(c.id), String(seq));
}

let readTimer: ReturnType<typeof setTimeout> | undefined;
export function maybeMarkRead(): void {
  const c = active();
  if (!c || !c.loaded || !seeing()) return;
  const seq = c.lastSeq;
  if (seq <= c.readSeq) { if (c.unread) { c.unread = 0; changed(); } return; }
  setRead(c, seq);
  c.unread = 0;
  changed();
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    try { if (rt && state.conn === 'online') { rt.markRead(c.id, seq); return; } } catch { /* fall back to REST */ }
    call((client) => markRead({ client, path: { id: c.id }, body: { seq } })).catch(() => {});
  }, 300);
}

export async function open(id: string | undefined): Promise<void> {
  state.activeId = id;
  state.panel = 'none';
  atBottom = true;
  changed();
  const c = id ? state.convs.get(id) : undefined;
  if (!c || c.loaded || c.loading) { maybeMarkRead(); return; }
  c.loading = true;
  await showPage(c, { limit: 50 }, (h) => h.has_more);
  maybeMarkRead();
}

/** Replaces a conversation's loaded history with one page of it, then catches up
 * to its end; `older` says whether older messages remain. */
async function showPage(c: Conv, query: { after?: number; limit: number }, older: (h: { has_more: boolean }) => boolean): Promise<void> {
  try {
    const h = await call<{ items: Message[]; has_more: boolean }>((client) => listMessages({ client, path: { id: c.id }, query }));
    c.msgs = [];
    merge(c, h.items.map(toMsg));
    c.hasOlder = older(h);
    c.loaded = true;
    if (c.lastSeq > (c.msgs[c.msgs.length - 1]?.seq ?? 0)) void catchUp(c);
  } catch (e) {
    toast(`Could not load ${c.name}: ${errorText(e)}`);
  } finally {
    c.loading = false;
    changed();
  }
}

/** Opens a conversation at one message (a search result): the history around it
 * is loaded, and the message is marked and scrolled into view. */
export async function openAt(id: string, seq: number, take = false): Promise<void> {
  const c = state.convs.get(id);
  if (!c) { toast('That conversation is no longer in your list.'); return; }
  state.focus = { conv: id, seq, n: ++focusN, take };
  if (loadedMsg(c, seq)) {
    if (state.activeId === id && state.panel === 'none') changed(); else await open(id);
    return;
  }
  state.activeId = id;
  state.panel = 'none';
  c.loading = true;
  changed();
  // Up to 25 before it, then up to 50 from there: the message is in the page.
  const from = Math.max(0, seq - 26);
  await showPage(c, { after: from, limit: 50 }, () => from > 0);
}

let focusN = 0;

/** A reply's quote was activated: shows the message it answers (loading the history
 * around it when it is not loaded), outlined, with the keyboard focus on it. */
export function showOriginal(c: Conv, q: Quote): Promise<void> {
  return openAt(c.id, q.seq, true);
}

export interface Hit { message: Message; highlights: number[][] }

/** One page of message search (newest first). */
export async function findMessages(q: string, cursor?: string): Promise<{ items: Hit[]; next_cursor?: string }> {
  return call<{ items: Hit[]; next_cursor?: string }>((client) => searchMessages({ client, query: { q, limit: 20, cursor } }));
}

export function convName(id: string): string { return state.convs.get(id)?.name ?? 'a conversation'; }

export async function loadOlder(c: Conv): Promise<void> {
  if (c.loading || !c.hasOlder || !c.msgs.length) return;
  c.loading = true;
  changed();
  try {
    const h = await call<{ items: Message[]; has_more: boolean }>((client) => listMessages({ client, path: { id: c.id }, query: { before: c.msgs[0].seq, limit: 50 } }));
    merge(c, h.items.map(toMsg));
    c.hasOlder = h.has_more;
  } catch (e) {
    toast(`Could not load older messages: ${errorText(e)}`);
  } finally {
    c.loading = false;
    changed();
  }
}

// ---- writing ------------------------------------------------------------------------
/** Sends a message (a reply when `replyTo` is given; a retry keeps the first try's)
 * over the socket when connected, else REST. */
export async function send(c: Conv, body: string, clientId: string = crypto.randomUUID(), replyTo?: Quote): Promise<void> {
  let out = c.outbox.find((o) => o.client_id === clientId);
  if (out) { out.state = 'sending'; out.error = undefined; replyTo = out.replyTo; } else { out = { client_id: clientId, body, state: 'sending', replyTo }; c.outbox.push(out); }
  c.outbox = [...c.outbox];
  changed();
  try {
    let ack: { id: string; seq: number };
    const live = rt && state.conn === 'online' ? rt : undefined;
    if (live) {
      ack = await live.send(c.id, body, clientId, undefined, replyTo?.id);
    } else {
      const m = await call<Message>((client) => sendMessage({ client, path: { id: c.id }, body: { body, client_id: clientId, reply_to: replyTo?.id } }));
      ack = m;
      if (c.loaded) merge(c, [toMsg(m)]);
    }
    c.outbox = c.outbox.filter((o) => o.client_id !== clientId);
    if (c.loaded && !loadedMsg(c, ack.seq)) {
      merge(c, [{ id: ack.id, seq: ack.seq, sender: { id: me().id, username: me().username }, body, created_at: new Date().toISOString(), deleted: false, rev: 0, reactions: [], replyTo }]);
    }
    c.activity = new Date().toISOString();
    c.preview = body;
    maybeMarkRead();
  } catch (e) {
    const err = e instanceof RealtimeError ? new ApiError(0, e.code, e.frame.message) : e;
    out.state = 'failed';
    out.error = errorText(err);
    const why = replyTo && replyRefusal(err);
    if (replyTo && why) {
      // The answered message cannot be answered (any more): say so; a retry sends
      // the text as a plain message.
      toast(`Could not reply to ${replyTo.sender.username}: ${why}.`);
      out.error = `Not sent as a reply: ${why}. Retry sends it without the quote.`;
      out.replyTo = undefined;
    }
    if (e instanceof RealtimeClosed || (e instanceof Error && /timed out/.test(e.message))) out.error = 'Not sent: the connection dropped. Retry when back online.';
    c.outbox = [...c.outbox];
  }
  changed();
}

/** Why a send with `reply_to` was refused because of it, if it was: 409 the message
 * was deleted, 404 it does not exist, 422 it is not of this conversation. */
function replyRefusal(e: unknown): string | undefined {
  if (!(e instanceof ApiError)) return undefined;
  switch (e.code) {
    case 'conflict': return 'that message was deleted';
    case 'not_found': return 'that message no longer exists';
    case 'validation_failed': {
      const fields = e.details?.fields;
      // Over REST the refusal names its field; an error frame has no details.
      if (fields && !fields.reply_to) return undefined;
      return fields?.reply_to ?? 'that message is not part of this conversation';
    }
    default: return undefined;
  }
}

export function discard(c: Conv, clientId: string): void {
  c.outbox = c.outbox.filter((o) => o.client_id !== clientId);
  changed();
}

// One typing notice per conversation every 2 s, as the server throttles them (a
// notice in one conversation must not hold back the next one in another).
const lastTyping = new Map<string, number>();
// ---- drafts -------------------------------------------------------------------------
/**
 * What is typed in the composer, per conversation. Text belongs to the conversation
 * that is active when it is typed (`state.activeId`), not to the one drawn on screen:
 * a click on another conversation sets `activeId` at once, while the screen follows on
 * the next frame, so a person who clicks and types straight away types into the new
 * conversation. A switch never discards a draft, and a draft is only ever sent to its
 * own conversation.
 */
const drafts = new Map<string, string>();
export function draft(id: string): string { return drafts.get(id) ?? ''; }
export function setDraft(text: string): void {
  const id = state.activeId;
  if (!id) return;
  if (text) drafts.set(id, text); else drafts.delete(id);
  const c = state.convs.get(id);
  if (c && text) typing(c);
}
/** Sends the active conversation's draft, if any, as a reply when one is being
 * written, and empties both; true when sent. */
export function sendDraft(): boolean {
  const c = active();
  const body = c ? draft(c.id).trim() : '';
  if (!c || !body) return false;
  drafts.delete(c.id);
  const r = replying.get(c.id);
  replying.delete(c.id);
  changed();
  void send(c, body, undefined, r && quoteNow(c, r));
  return true;
}

// ---- replying -----------------------------------------------------------------------
/** The message being answered in the composer, per conversation (like drafts). */
const replying = new Map<string, Quote>();

/** Starts a reply to `m` in its conversation's composer. */
export function replyTo(c: Conv, m: Msg): void {
  if (m.deleted) return;
  replying.set(c.id, { id: m.id, seq: m.seq, sender: m.sender, excerpt: excerptOf(m.body), deleted: false });
  changed();
}
/** What the composer of `c` answers, as the loaded original says now. */
export function replyingTo(c: Conv): Quote | undefined {
  const r = replying.get(c.id);
  return r && quoteNow(c, r);
}
export function cancelReply(c: Conv): boolean {
  const had = replying.delete(c.id);
  if (had) changed();
  return had;
}

export function typing(c: Conv): void {
  const now = Date.now();
  if (now - (lastTyping.get(c.id) ?? 0) < 2000 || !rt || state.conn !== 'online') return;
  lastTyping.set(c.id, now);
  try { rt.typing(c.id); } catch { /* not connected */ }
}

export async function edit(c: Conv, m: Msg, body: string): Promise<boolean> {
  try {
    const updated = await call<Message>((client) => editMessage({ client, path: { id: m.id }, body: { body } }));
    merge(c, [toMsg(updated)]);
    changed();
    return true;
  } catch (e) {
    toast(`Could not edit: ${errorText(e)}`);
    return false;
  }
}

export async function remove(c: Conv, m: Msg): Promise<void> {
  try {
    await call((client) => deleteMessage({ client, path: { id: m.id } }));
    tombstone(c, m.seq);
    changed();
  } catch (e) {
    toast(`Could not delete: ${errorText(e)}`);
  }
}

// ---- reactions ----------------------------------------------------------------------
/** Reactions sent over the socket in the last 15 s, by message id: the emoji last
 * sent (a refusal comes back as an `error` frame whose `ref` is the message id; a
 * toggle that changed nothing gets no answer at all). */
const reacting = new Map<string, string>();

function reactionError(emoji: string, e: unknown): string {
  // Over REST a refusal names its reason (`details.fields.emoji`); an error frame has
  // no details, and the picker's emoji are all valid: the refusal is the cap.
  const why = e instanceof ApiError && e.code === 'validation_failed'
    ? e.details?.fields?.emoji ?? 'this message has as many different reactions as it can take; react with one already there'
    : errorText(e);
  return `Could not react with ${emoji}: ${why}`;
}

/**
 * Adds (`on`) or removes my `emoji` reaction. Over the socket when connected, else
 * REST; the message changes when the server says so: by the `reaction` frame, or
 * (REST) by reading the message again.
 */
export async function react(c: Conv, m: Msg, emoji: string, on: boolean): Promise<void> {
  if (rt && state.conn === 'online') {
    try {
      rt.react(c.id, m.id, emoji, on);
      reacting.set(m.id, emoji);
      setTimeout(() => { if (reacting.get(m.id) === emoji) reacting.delete(m.id); }, 15_000);
      return;
    } catch { /* not connected after all: REST */ }
  }
  try {
    await call((client) => (on ? addReaction : removeReaction)({ client, path: { id: m.id, emoji } }));
    const h = await call<{ items: Message[] }>((client) => listMessages({ client, path: { id: c.id }, query: { after: m.seq - 1, limit: 1 } }));
    if (c.loaded) merge(c, h.items.filter((x) => x.seq === m.seq).map(toMsg));
    changed();
  } catch (e) {
    toast(reactionError(emoji, e));
  }
}

/** The first page of who reacted with `emoji`. */
export async function reactors(m: Msg, emoji: string): Promise<{ items: { id: string; username: string }[]; next_cursor?: string }> {
  return call((client) => listReactors({ client, path: { id: m.id, emoji }, query: { limit: 10 } }));
}

// ---- groups, members, DMs -----------------------------------------------------------
export async function discoverGroups(): Promise<Group[]> {
  return allPages((cursor) => call<{ items: Group[]; next_cursor?: string }>((client) => listGroups({ client, query: { discover: true, limit: 100, cursor } })), 5);
}

export async function newGroup(name: string, description: string, visibility: 'public' | 'private'): Promise<void> {
  const g = await call<Group>((client) => createGroup({ client, body: { name, description, visibility } }));
  joinOne(rt, upsertGroup(g));
  await open(g.id);
}

export async function join(g: Group): Promise<void> {
  const joined = await call<Group>((client) => joinGroup({ client, path: { id: g.id } }));
  joinOne(rt, upsertGroup(joined));
  await open(joined.id);
}

export async function users(q: string): Promise<User[]> {
  const page = await call<{ items: User[] }>((client) => searchUsers({ client, query: { q, limit: 20 } }));
  return page.items.filter((u) => u.id !== me().id);
}

export async function dmWith(u: User): Promise<void> {
  const d = await call<Conversation>((client) => openDm({ client, body: { user_id: u.id } }));
  const c = upsertDm(d);
  joinOne(rt, c);
  await open(c.id);
}

export async function members(c: Conv): Promise<Member[]> {
  return allPages((cursor) => call<{ items: Member[]; next_cursor?: string }>((client) => listGroupMembers({ client, path: { id: c.id }, query: { limit: 100, cursor } })));
}

export async function setRole(c: Conv, userId: string, role: 'member' | 'admin'): Promise<Member> {
  return call<Member>((client) => putGroupMember({ client, path: { id: c.id, user_id: userId }, body: { role } }));
}

export async function kick(c: Conv, userId: string): Promise<void> {
  await call((client) => removeGroupMember({ client, path: { id: c.id, user_id: userId } }));
}

export async function leave(c: Conv): Promise<void> {
  await call((client) => leaveGroup({ client, path: { id: c.id } }));
  drop(c);
}

export async function destroy(c: Conv): Promise<void> {
  await call((client) => deleteGroup({ client, path: { id: c.id } }));
  drop(c);
}

function drop(c: Conv): void {
  try { rt?.leave(c.id); } catch { /* not connected */ }
  state.convs.delete(c.id);
  if (state.activeId === c.id) state.activeId = undefined;
  state.panel = 'none';
  changed();
}
