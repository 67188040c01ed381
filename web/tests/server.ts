// Starts the real confab binary for the browser tests: its own database on the
// test MongoDB (CONFAB_TEST_MONGO_URI), a free port, throttles on sign-up and login
// lifted (as scripts/api-fuzz does), and a fixed JWT secret so that tokens outlive a
// restart, as in production. `restart()` stops it with SIGTERM and starts it again on
// the same port and database.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const ARTIFACTS = join(ROOT, 'target', 'web-artifacts');
mkdirSync(join(ARTIFACTS, 'pids'), { recursive: true });

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export class Server {
  private proc: ChildProcess | undefined;
  private readonly secret = randomBytes(48).toString('base64');
  readonly url: string;

  private constructor(readonly port: number, readonly db: string, private readonly env: Record<string, string>) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(name: string, env: Record<string, string> = {}): Promise<Server> {
    const db = `web_${name}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
    const s = new Server(await freePort(), db, env);
    await s.boot();
    return s;
  }

  private async boot(): Promise<void> {
    const base = (process.env.CONFAB_TEST_MONGO_URI ?? 'mongodb://127.0.0.1:27117').replace(/\/+$/, '');
    const log = openSync(join(ARTIFACTS, `server-${this.db}.log`), 'a');
    this.proc = spawn(join(ROOT, 'target', 'debug', 'confab'), [], {
      stdio: ['ignore', log, log],
      env: {
        PATH: process.env.PATH ?? '',
        CONFAB_ENV: 'dev',
        JWT_SECRET: this.secret,
        MONGO_URI: `${base}/${this.db}`,
        CONFAB_BIND: `127.0.0.1:${this.port}`,
        RUST_LOG: 'warn',
        REGISTER_MAX_PER_IP: '100000',
        LOGIN_MAX_FAILURES_PER_USER: '100000',
        LOGIN_MAX_FAILURES_PER_IP: '100000',
        WS_TICKET_MAX_PER_SEC: '50',
        WS_TICKET_BURST: '100',
        ...this.env,
      },
    });
    // scripts/web-test kills whatever is listed here if the run dies half-way.
    writeFileSync(join(ARTIFACTS, 'pids', `${this.db}.pid`), `${this.proc.pid}\n`);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`confab exited with ${this.proc.exitCode}; see target/web-artifacts/server-${this.db}.log`);
      try {
        if ((await fetch(`${this.url}/readyz`)).ok) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('confab did not become ready in 20 s');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await exited;
    rmSync(join(ARTIFACTS, 'pids', `${this.db}.pid`), { force: true });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.boot();
  }

  /** Registers a user over REST (fast setup); the browser signs in through the page. */
  async user(prefix: string): Promise<{ username: string; password: string; id: string; token: string }> {
    const username = `${prefix}_${randomBytes(3).toString('hex')}`;
    const password = 'correct horse battery staple 42';
    const r = await fetch(`${this.url}/api/v1/auth/register`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
    });
    if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${await r.text()}`);
    const { id } = (await r.json()) as { id: string };
    const l = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
    });
    const { access_token } = (await l.json()) as { access_token: string };
    return { username, password, id, token: access_token };
  }

  /** An authenticated REST call for test setup. */
  async api<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return (r.status === 204 ? undefined : await r.json()) as T;
  }
}
