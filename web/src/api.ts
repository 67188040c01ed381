// REST access for the web client: the generated SDK (clients/typescript) with a session
// that keeps its tokens fresh.
//
// - Tokens live in localStorage (`confab.session`), so a reload or a new tab stays
//   signed in. The access token is refreshed a minute before it expires, and at once
//   when a request answers 401 `invalid_token`/`token_expired` (then the request is
//   retried once).
// - Refresh tokens rotate on every use, and replaying a spent one revokes the whole
//   login. Tabs therefore refresh under a Web Lock and re-read storage inside it: a
//   tab that finds a token newer than its own adopts it instead of spending its own.
// - Every failure becomes an ApiError carrying the API's `code`, and errorText() turns
//   it into a sentence for people.
import { createClient, login, logout, logoutAll, refresh, register, getMe } from '@confab/client';
import type { TokenPair, User } from '@confab/client';

export type Client = ReturnType<typeof createClient>;

export const baseUrl = location.origin;
const anon = createClient({ baseUrl });
const KEY = 'confab.session';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: { fields?: Record<string, string>; retry_after_secs?: number },
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What to tell a person about an error (any thrown value). */
export function errorText(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  const fields = e.details?.fields;
  const detail = fields ? ': ' + Object.entries(fields).map(([k, v]) => `${k.replace(/_/g, ' ')} ${v}`).join('; ') : '';
  switch (e.code) {
    case 'network': return 'Cannot reach the server. Check your connection and try again.';
    case 'rate_limited': return `Too many requests. Try again in ${e.details?.retry_after_secs ?? 'a few'} seconds.`;
    case 'invalid_credentials': return 'Wrong username or password.';
    case 'username_taken': return 'That username is taken. Pick another one.';
    case 'forbidden': return `Not allowed: ${e.message}`;
    case 'not_found': return 'Not found (it may have been deleted, or you may not see it).';
    case 'validation_failed': return `Please check the form${detail}.`;
    default: return e.message + (detail && e.code !== 'validation_failed' ? detail : '');
  }
}

type Result<T> = { data?: T; error?: unknown; response?: Response };

/** Unwraps an SDK result: its data, or an ApiError. */
export async function unwrap<T>(p: Promise<Result<T>>): Promise<T> {
  let r: Result<T>;
  try {
    r = await p;
  } catch (e) {
    throw new ApiError(0, 'network', String(e));
  }
  if (!r.response) throw new ApiError(0, 'network', 'network error');
  if (r.response.ok) return r.data as T;
  const body = r.error as { error?: { code?: string; message?: string; details?: ApiError['details'] } } | undefined;
  const err = body?.error;
  throw new ApiError(r.response.status, err?.code ?? `http_${r.response.status}`, err?.message ?? r.response.statusText, err?.details);
}

interface Stored { user: User; access: string; refresh: string; expiresAt: number }

function load(): Stored | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Stored | null;
    return v && v.refresh && v.user ? v : undefined;
  } catch {
    return undefined;
  }
}

function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? (locks.request('confab-refresh', fn) as Promise<T>) : fn();
}

export class Session {
  readonly client: Client;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> | undefined;
  /** Called with the new access token after every refresh (the socket re-authenticates). */
  onToken: (token: string) => void = () => {};
  /** Called once when the session cannot continue (refresh refused). */
  onEnded: (why: string) => void = () => {};
  ended = false;

  private constructor(private s: Stored) {
    this.client = createClient({ baseUrl, auth: () => this.s.access });
    this.schedule();
  }

  get user(): User { return this.s.user; }
  get access(): string { return this.s.access; }

  static resume(): Session | undefined {
    const s = load();
    return s ? new Session(s) : undefined;
  }

  static async login(username: string, password: string): Promise<Session> {
    const tokens = await unwrap(login({ client: anon, body: { username, password } }));
    return Session.start(tokens);
  }

  static async register(username: string, password: string, display_name?: string): Promise<Session> {
    await unwrap(register({ client: anon, body: display_name ? { username, password, display_name } : { username, password } }));
    return Session.login(username, password);
  }

  private static async start(t: TokenPair): Promise<Session> {
    const c = createClient({ baseUrl, auth: t.access_token });
    const user = await unwrap(getMe({ client: c }));
    const s: Stored = { user, access: t.access_token, refresh: t.refresh_token, expiresAt: Date.now() + t.expires_in * 1000 };
    localStorage.setItem(KEY, JSON.stringify(s));
    return new Session(s);
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const due = Math.max(this.s.expiresAt - Date.now() - 60_000, 5_000);
    this.timer = setTimeout(() => void this.refresh().catch(() => {}), due);
  }

  /** Rotates the tokens (one refresh at a time, across tabs). */
  refresh(): Promise<void> {
    this.refreshing ??= withLock(async () => {
      const stored = load();
      if (stored && stored.refresh !== this.s.refresh && stored.user.id === this.s.user.id) {
        this.s = stored; // another tab rotated already
      } else {
        let t: TokenPair;
        try {
          t = await unwrap(refresh({ client: anon, body: { refresh_token: this.s.refresh } }));
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) this.end('Your session ended. Please sign in again.');
          throw e;
        }
        this.s = { ...this.s, access: t.access_token, refresh: t.refresh_token, expiresAt: Date.now() + t.expires_in * 1000 };
        localStorage.setItem(KEY, JSON.stringify(this.s));
      }
      this.schedule();
      this.onToken(this.s.access);
    }).finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  /** Runs an SDK call with this session's client; refreshes and retries once on 401. */
  async call<T>(fn: (client: Client) => Promise<Result<T>>): Promise<T> {
    try {
      return await unwrap(fn(this.client));
    } catch (e) {
      if (!(e instanceof ApiError) || !['invalid_token', 'token_expired'].includes(e.code) || this.ended) throw e;
      await this.refresh();
      return unwrap(fn(this.client));
    }
  }

  setUser(user: User): void {
    this.s = { ...this.s, user };
    localStorage.setItem(KEY, JSON.stringify(this.s));
  }

  private end(why: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    if (load()?.refresh === this.s.refresh) localStorage.removeItem(KEY);
    this.onEnded(why);
  }

  /** Local end (e.g. the server closed our socket with 4001 and refresh failed). */
  forget(why: string): void { this.end(why); }

  async logout(everywhere: boolean): Promise<void> {
    if (everywhere) await this.call((client) => logoutAll({ client }));
    else await this.call((client) => logout({ client, body: { refresh_token: this.s.refresh } }));
    localStorage.removeItem(KEY);
    this.end(everywhere ? 'Signed out on every device.' : 'Signed out.');
  }
}
