// REST access for the web client: the generated SDK (clients/typescript) with a session
// that keeps its tokens fresh.
//
// - The refresh token never reaches a script: the web-session calls
//   (`/api/v1/auth/web/*`) keep it in an HttpOnly, Secure, SameSite=Strict cookie
//   scoped to that path, and answer with the access token only, which lives in
//   memory. localStorage (`confab.session`) holds only the signed-in user's profile,
//   as a hint that a cookie may exist: a reload or a new tab resumes by refreshing
//   (docs/security.md explains the choice).
// - The access token is refreshed a minute before it expires, and at once when a
//   request answers 401 `invalid_token`/`token_expired` (then the request is retried
//   once). Refresh tokens rotate on every use and replaying a spent one revokes the
//   whole login, so tabs refresh one at a time under a Web Lock; each request carries
//   the cookie as it is after the previous rotation.
// - Every failure becomes an ApiError carrying the API's `code`, and errorText() turns
//   it into a sentence for people.
import { createClient, webLogin, webLogout, logoutAll, webRefresh, register, getMe } from '@confab/client';
import type { WebSession, User } from '@confab/client';

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

/** The header every web-session call carries (the server refuses the call without it). */
const WEB = { 'X-Confab-Web': '1' } as const;

interface Current { user: User; access: string; expiresAt: number }

/** The profile stored as a hint that a session cookie may exist (never a token). */
function hint(): User | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? 'null') as { user?: User } | null;
    return v?.user?.id ? v.user : undefined;
  } catch {
    return undefined;
  }
}

function remember(user: User): void {
  localStorage.setItem(KEY, JSON.stringify({ user }));
}

function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? (locks.request('confab-refresh', fn) as Promise<T>) : fn();
}

/** Rotates the cookie (one tab at a time) and returns the new access token. */
function rotate(): Promise<WebSession> {
  return withLock(() => unwrap(webRefresh({ client: anon, headers: WEB })));
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
  /** Set while signing out: whatever ends the session then (our own socket closed by
   *  logout-all, a refresh refused) ends it with this message. */
  private leaving: string | undefined;

  private constructor(private s: Current) {
    this.client = createClient({ baseUrl, auth: () => this.s.access });
    this.schedule();
  }

  get user(): User { return this.s.user; }
  get access(): string { return this.s.access; }

  /** The session of an earlier page load, if its cookie is still good. */
  static async resume(): Promise<Session | undefined> {
    if (!hint()) return undefined;
    try {
      return await Session.start(await rotate());
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) localStorage.removeItem(KEY);
      return undefined;
    }
  }

  static async login(username: string, password: string): Promise<Session> {
    const t = await unwrap(webLogin({ client: anon, headers: WEB, body: { username, password } }));
    return Session.start(t);
  }

  static async register(username: string, password: string, display_name?: string): Promise<Session> {
    await unwrap(register({ client: anon, body: display_name ? { username, password, display_name } : { username, password } }));
    return Session.login(username, password);
  }

  private static async start(t: WebSession): Promise<Session> {
    const c = createClient({ baseUrl, auth: t.access_token });
    const user = await unwrap(getMe({ client: c }));
    remember(user);
    return new Session({ user, access: t.access_token, expiresAt: Date.now() + t.expires_in * 1000 });
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const due = Math.max(this.s.expiresAt - Date.now() - 60_000, 5_000);
    this.timer = setTimeout(() => void this.refresh().catch(() => {}), due);
  }

  /** Rotates the tokens (one refresh at a time, across tabs). */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      let t: WebSession;
      try {
        t = await rotate();
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) this.end('Your session ended. Please sign in again.');
        throw e;
      }
      this.s = { ...this.s, access: t.access_token, expiresAt: Date.now() + t.expires_in * 1000 };
      this.schedule();
      this.onToken(this.s.access);
    })().finally(() => { this.refreshing = undefined; });
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
    remember(user);
  }

  private end(why: string): void {
    if (this.ended) return;
    why = this.leaving ?? why;
    this.ended = true;
    clearTimeout(this.timer);
    if (hint()?.id === this.s.user.id) localStorage.removeItem(KEY);
    this.onEnded(why);
  }

  /** Local end (e.g. the server closed our socket with 4001 and refresh failed). */
  forget(why: string): void { this.end(why); }

  async logout(everywhere: boolean): Promise<void> {
    this.leaving = everywhere ? 'Signed out on every device.' : 'Signed out.';
    try {
      if (everywhere) await this.call((client) => logoutAll({ client }));
      // Revokes this login (the cookie is the proof) and clears the cookie.
      await unwrap(webLogout({ client: anon, headers: WEB }));
    } catch (e) {
      if (!this.ended) this.leaving = undefined; // still signed in: say so later
      throw e;
    }
    localStorage.removeItem(KEY);
    this.end(this.leaving ?? 'Signed out.');
  }
}
