// Realtime (WebSocket) client for confab, hand-written over the generated REST SDK.
//
// Frames are those of openapi/asyncapi.yaml (JSON text frames with a `type`). A
// `Realtime` session
//  - authenticates with an access token (Authorization header: Node, via the `ws`
//    package) or a single-use ticket (`?ticket=`: browsers; pass a function that
//    fetches a fresh one with `createWsTicket`, so every reconnect gets its own);
//  - `join`s a conversation with `since` and `since_rev` (missed messages are replayed,
//    then the older ones changed meanwhile as they are now, then `joined`);
//  - `send`s with a `client_id` and resolves with the `ack` (rejects with the `error`);
//  - reconnects when the connection drops (not on 4001/4003: bad credentials) and rejoins
//    every room with `since` = the last seq and `since_rev` = the last rev it saw there,
//    so nothing is missed: neither a new message nor an edit or deletion of an old one.
//
// In browsers the global `WebSocket` is used; in Node (20 has no global WebSocket) the
// `ws` package is loaded, unless you pass `WebSocket` yourself.

import type { ClientFrame, ServerFrame, UserRef } from './generated/types.gen.js';

// The frame unions are generated from the spec's `ClientFrame` / `ServerFrame` (one-of,
// discriminated by `type`); the names below pick their variants.
export type { ClientFrame, ServerFrame, UserRef };

// ---- server -> client --------------------------------------------------------------
export type ServerFrameType = ServerFrame['type'];
/** The frame type(s) whose `type` is T. */
export type FrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
export type JoinedFrame = FrameOf<'joined'>;
export type AckFrame = FrameOf<'ack'>;
export type MessageFrame = FrameOf<'message' | 'message_updated'>;
export type MessageDeletedFrame = FrameOf<'message_deleted'>;
export type PresenceFrame = FrameOf<'presence'>;
export type TypingFrame = FrameOf<'typing'>;
export type ReadFrame = FrameOf<'read'>;
export type MembershipFrame = FrameOf<'membership'>;
export type ErrorFrame = FrameOf<'error'>;
export type PongFrame = FrameOf<'pong'>;

/** Close codes (openapi/asyncapi.yaml). */
export const CloseCode = {
  goingAway: 1001,
  unauthorized: 4001,
  forbidden: 4003,
  rateLimited: 4008,
  tooSlow: 4009,
} as const;
const FATAL = new Set<number>([CloseCode.unauthorized, CloseCode.forbidden]);

/** The server answered a frame with an `error` frame. */
export class RealtimeError extends Error {
  constructor(readonly frame: ErrorFrame) {
    super(`${frame.code}: ${frame.message}`);
    this.name = 'RealtimeError';
  }
  get code(): string { return this.frame.code; }
}

/** The session is over (closed by us, or credentials refused). */
export class RealtimeClosed extends Error {
  constructor(readonly code: number | undefined, readonly reason = '') {
    super(`WebSocket closed (${code ?? 'no code'}${reason ? `: ${reason}` : ''})`);
    this.name = 'RealtimeClosed';
  }
}

/** The subset of the WebSocket API used here (browser WebSocket and `ws` both fit). */
interface Socket {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketLike = new (url: string, protocols?: string | string[], options?: { headers?: Record<string, string> }) => Socket;

type Credential = () => string | Promise<string>;

export interface RealtimeOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8000` (http -> ws, https -> wss). */
  baseUrl: string;
  /** Access token (or a function returning the current one): sent as a header (Node only). */
  token?: string | Credential;
  /** Fetches a single-use ticket (`createWsTicket`); works in browsers. */
  ticket?: Credential;
  /** Reconnect when the connection drops (default true). */
  reconnect?: boolean;
  maxBackoffMs?: number;
  /** A WebSocket class; default: the global one, else the `ws` package. */
  WebSocket?: WebSocketLike;
}

interface Pending<T> { resolve: (v: T) => void; reject: (e: Error) => void }
type Waiter = { match: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void; reject: (e: Error) => void };

export class Realtime {
  readonly url: string;
  /** conversation -> highest message seq seen (drives `since` on rejoin). */
  readonly lastSeq = new Map<string, number>();
  /** conversation -> highest change counter seen (drives `since_rev` on rejoin). */
  readonly lastRev = new Map<string, number>();
  /** Joined conversations, rejoined after a reconnect. */
  readonly rooms = new Set<string>();
  /** Successful connections (1 + reconnects). */
  connects = 0;
  closeCode: number | undefined;

  private ws: Socket | undefined;
  private readonly opts: RealtimeOptions;
  private readonly buffer: ServerFrame[] = [];
  private waiters: Waiter[] = [];
  private readonly acks = new Map<string, Pending<AckFrame>>();
  private readonly joins = new Map<string, Pending<JoinedFrame>>();
  private closed: RealtimeClosed | undefined;
  private closing = false;
  private listeners = new Set<(f: ServerFrame) => void>();
  private endedResolve!: (c: RealtimeClosed) => void;
  /** Resolves when the session is over for good (our close, or 4001/4003, or reconnect
   * refused), with the close code; a dropped connection that reconnects does not count. */
  readonly ended: Promise<RealtimeClosed> = new Promise((r) => { this.endedResolve = r; });

  constructor(opts: RealtimeOptions) {
    if ((opts.token === undefined) === (opts.ticket === undefined)) throw new Error('give exactly one of token and ticket');
    this.opts = opts;
    const base = opts.baseUrl.replace(/\/+$/, '');
    this.url = base.replace(/^http(s?):/i, (_m, s: string) => `ws${s}:`) + '/api/v1/ws';
  }

  /** Connect (rejects if the upgrade is refused, e.g. 401). */
  static async connect(opts: RealtimeOptions): Promise<Realtime> {
    const rt = new Realtime(opts);
    await rt.open();
    return rt;
  }

  private async socketClass(): Promise<WebSocketLike> {
    if (this.opts.WebSocket) return this.opts.WebSocket;
    const g = (globalThis as { WebSocket?: WebSocketLike }).WebSocket;
    if (g && this.opts.ticket) return g;
    const mod = await import('ws');
    return mod.default as unknown as WebSocketLike;
  }

  private async open(): Promise<void> {
    const WS = await this.socketClass();
    let url = this.url;
    const headers: Record<string, string> = {};
    if (this.opts.ticket) {
      url += `?ticket=${encodeURIComponent(await this.opts.ticket())}`;
    } else {
      const t = this.opts.token!;
      headers.Authorization = `Bearer ${typeof t === 'string' ? t : await t()}`;
    }
    const ws = Object.keys(headers).length ? new WS(url, undefined, { headers }) : new WS(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = (ev) => reject(new RealtimeClosed(undefined, `connect failed: ${(ev as { message?: string }).message ?? 'error'}`));
      ws.onclose = (ev) => reject(new RealtimeClosed(ev.code, ev.reason || 'closed while connecting'));
    });
    this.ws = ws;
    this.connects += 1;
    ws.onerror = () => {};
    ws.onmessage = (ev) => this.dispatch(JSON.parse(String(ev.data)) as ServerFrame);
    ws.onclose = (ev) => void this.dropped(ev.code, ev.reason);
  }

  private async dropped(code: number, reason: string): Promise<void> {
    this.closeCode = code;
    if (this.closing || this.opts.reconnect === false || FATAL.has(code)) {
      this.fail(new RealtimeClosed(code, reason));
      return;
    }
    let backoff = 200;
    while (!this.closing) {
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 5000);
      try {
        await this.open();
      } catch (e) {
        // A refused upgrade surfaces as a close during connect; 401/403 will not get better.
        if (e instanceof RealtimeClosed && e.code !== undefined && FATAL.has(e.code)) { this.fail(e); return; }
        continue;
      }
      for (const room of [...this.rooms].sort()) {
        const sinceRev = this.lastRev.get(room);
        this.raw(sinceRev === undefined
          ? { type: 'join', conversation: room, since: this.lastSeq.get(room) ?? 0 }
          : { type: 'join', conversation: room, since: this.lastSeq.get(room) ?? 0, since_rev: sinceRev });
      }
      return;
    }
    this.fail(new RealtimeClosed(code, reason));
  }

  private fail(closed: RealtimeClosed): void {
    this.closed = closed;
    this.endedResolve(closed);
    for (const p of [...this.acks.values(), ...this.joins.values()]) p.reject(closed);
    this.acks.clear();
    this.joins.clear();
    for (const w of this.waiters) w.reject(closed);
    this.waiters = [];
  }

  private dispatch(frame: ServerFrame): void {
    if ((frame.type === 'message' || frame.type === 'message_updated' || frame.type === 'message_deleted')) {
      this.lastSeq.set(frame.conversation, Math.max(this.lastSeq.get(frame.conversation) ?? 0, frame.seq));
      this.lastRev.set(frame.conversation, Math.max(this.lastRev.get(frame.conversation) ?? 0, frame.rev));
    }
    if (frame.type === 'reaction') {
      this.lastRev.set(frame.conversation, Math.max(this.lastRev.get(frame.conversation) ?? 0, frame.rev));
    }
    if (frame.type === 'ack' && frame.client_id) {
      this.acks.get(frame.client_id)?.resolve(frame);
      this.acks.delete(frame.client_id);
    } else if (frame.type === 'joined') {
      if (!this.lastSeq.has(frame.conversation)) this.lastSeq.set(frame.conversation, 0);
      this.lastRev.set(frame.conversation, Math.max(this.lastRev.get(frame.conversation) ?? 0, frame.last_rev));
      this.joins.get(frame.conversation)?.resolve(frame);
      this.joins.delete(frame.conversation);
    } else if (frame.type === 'error' && frame.ref) {
      const err = new RealtimeError(frame);
      const p = this.acks.get(frame.ref) ?? this.joins.get(frame.ref);
      p?.reject(err);
      this.acks.delete(frame.ref);
      this.joins.delete(frame.ref);
    }
    for (const l of this.listeners) l(frame);
    const i = this.waiters.findIndex((w) => w.match(frame));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w.resolve(frame);
    } else {
      this.buffer.push(frame);
      if (this.buffer.length > 1000) this.buffer.shift(); // untaken frames: keep the newest 1000
    }
  }

  private raw(frame: ClientFrame): void {
    if (!this.ws || this.ws.readyState !== 1) throw this.closed ?? new RealtimeClosed(this.closeCode, 'not connected');
    this.ws.send(JSON.stringify(frame));
  }

  private pending<T>(map: Map<string, Pending<T>>, key: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { map.delete(key); reject(new Error(`timed out after ${timeoutMs} ms`)); }, timeoutMs);
      map.set(key, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
    });
  }

  /** Join a room; resolves with `joined` after the replay of messages with seq > since
   * (default: the last seq this session saw there, else none) and of the older ones
   * changed after sinceRev (default: the last rev this session saw there, else none). */
  async join(conversation: string, since?: number, timeoutMs = 10_000, sinceRev?: number): Promise<JoinedFrame> {
    const s = since ?? this.lastSeq.get(conversation);
    const r = sinceRev ?? this.lastRev.get(conversation);
    const joined = this.pending(this.joins, conversation, timeoutMs);
    const request: Extract<ClientFrame, { type: 'join' }> = { type: 'join', conversation };
    if (s !== undefined) request.since = s;
    if (r !== undefined) request.since_rev = r;
    this.raw(request);
    const frame = await joined;
    this.rooms.add(conversation);
    return frame;
  }

  leave(conversation: string): void {
    this.rooms.delete(conversation);
    this.raw({ type: 'leave', conversation });
  }

  /**
   * Send a message; resolves with its `ack`, rejects with RealtimeError if refused. `replyTo`: the id
   * of the message (of this conversation) it answers.
   */
  async send(conversation: string, body: string, clientId: string = globalThis.crypto.randomUUID(), timeoutMs = 10_000, replyTo?: string): Promise<AckFrame> {
    const ack = this.pending(this.acks, clientId, timeoutMs);
    this.raw({ type: 'send', conversation, body, client_id: clientId, ...(replyTo === undefined ? {} : { reply_to: replyTo }) });
    return ack;
  }

  typing(conversation: string): void { this.raw({ type: 'typing', conversation }); }
  markRead(conversation: string, seq: number): void { this.raw({ type: 'read', conversation, seq }); }
  ping(): void { this.raw({ type: 'ping' }); }
  /**
   * Add (`on`) or remove your `emoji` reaction (an emoji or `:shortcode:`) to a message. The room
   * (you included, if joined) gets a `reaction` frame when it changed something; a refusal comes
   * back as an `error` frame whose `ref` is the message id.
   */
  react(conversation: string, message: string, emoji: string, on = true): void {
    this.raw({ type: 'react', conversation, message, emoji, on });
  }
  /** Hand the connection a fresh access token before the current one expires. */
  reauth(token: string): void {
    if (typeof this.opts.token === 'string') this.opts.token = token;
    this.raw({ type: 'reauth', token });
  }

  /** Called with every frame as it arrives (returns an unsubscribe function). */
  on(listener: (f: ServerFrame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next frame of `type` (matching `where`), including ones that arrived before
   * this call and were not yet taken. Rejects with RealtimeClosed once the session ended. */
  next<T extends ServerFrameType>(type: T, where: (f: FrameOf<T>) => boolean = () => true, timeoutMs = 10_000): Promise<FrameOf<T>> {
    const match = (f: ServerFrame): boolean => f.type === type && where(f as FrameOf<T>);
    const i = this.buffer.findIndex(match);
    if (i >= 0) return Promise.resolve(this.buffer.splice(i, 1)[0] as FrameOf<T>);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<FrameOf<T>>((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (f) => { clearTimeout(timer); resolve(f as FrameOf<T>); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${type} frame within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Drop the current connection without ending the session (it reconnects). For tests
   * and for callers that know the network changed. */
  dropConnection(): void { this.ws?.close(4000, 'client reconnect'); }

  async close(): Promise<void> {
    this.closing = true;
    const ws = this.ws;
    if (!ws || ws.readyState === 3) return;
    await new Promise<void>((resolve) => {
      ws.onclose = (ev) => { this.closeCode = ev.code; this.fail(new RealtimeClosed(ev.code, 'closed by client')); resolve(); };
      ws.close(1000);
    });
  }
}
