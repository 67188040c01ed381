"""Processes of one chaos run: a private database, a private Redis, 2-3 confab nodes.

Every process is started in its own session (its own process group), with
PR_SET_PDEATHSIG so that it dies with the harness even if the harness is
SIGKILLed, and is registered in LIVE so that `kill_everything` can end it on any
exit path. Only processes started here are ever signalled, by their own pgid.
"""

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import httpx

LIVE = set()

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def _child_setup():
    # PR_SET_PDEATHSIG (1): the kernel SIGKILLs the child when the harness dies.
    if _LIBC is not None:
        try:
            _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)
        except Exception:
            pass


_PORTS_GIVEN = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (never one given before)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise RuntimeError("no free port")


class Proc:
    """One child process (restartable with the same argv, env and log file)."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.popen = None
        self.stopped = False
        self.starts = 0

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"\n--- chaos: start #{self.starts + 1} of {self.name} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_child_setup,
            )
        self.starts += 1
        self.stopped = False
        LIVE.add(self)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def _signal(self, sig):
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def sigkill(self):
        self._signal(signal.SIGKILL)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.stopped = False
        LIVE.discard(self)

    def sigstop(self):
        self._signal(signal.SIGSTOP)
        self.stopped = True

    def sigcont(self):
        self._signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, grace=3.0):
        """SIGCONT + SIGTERM, then SIGKILL after `grace` seconds."""
        if self.popen is None:
            return
        if self.alive():
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        LIVE.discard(self)


def kill_everything():
    for proc in list(LIVE):
        proc._signal(signal.SIGCONT)
        proc._signal(signal.SIGKILL)
        LIVE.discard(proc)


# --- a minimal RESP client (no Redis library needed) -------------------------

async def _read_reply(reader):
    line = await reader.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("redis error: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = await reader.readexactly(n + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [await _read_reply(reader) for _ in range(n)]
    raise RuntimeError(f"unexpected redis reply {line!r}")


async def redis_cmd(port, *args, timeout=2.0):
    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            parts = [f"*{len(args)}\r\n".encode()]
            for a in args:
                b = str(a).encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
            writer.write(b"".join(parts))
            await writer.drain()
            return await _read_reply(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(go(), timeout)


# --- the cluster under test -------------------------------------------------

class Cluster:
    """FerretDB (or mongod), Redis and N confab nodes, all private to one seed."""

    def __init__(self, seed, nodes, outdir, db_binary, confab_binary, redis_binary, secret):
        self.seed = seed
        self.n = nodes
        self.outdir = outdir
        self.db_binary = db_binary
        self.confab_binary = confab_binary
        self.redis_binary = redis_binary
        self.secret = secret
        self.datadir = tempfile.mkdtemp(prefix=f"confab-chaos-{seed}-")
        self.db_port = free_port()
        self.redis_port = free_port()
        self.node_ports = [free_port() for _ in range(nodes)]
        self.namespace = f"chaos{seed}"
        self.db = None
        self.redis = None
        self.nodes = []
        # per node: "up", "starting", "stopped", "down"
        self.state = ["down"] * nodes
        self.redis_up = False
        self._ready_waiters = {}

    # -- construction
    def _db_proc(self):
        name = os.path.basename(self.db_binary)
        if name == "mongod":
            argv = [self.db_binary, "--dbpath", self.datadir, "--bind_ip", "127.0.0.1",
                    "--port", str(self.db_port), "--quiet"]
        else:
            argv = [self.db_binary, "--handler=sqlite", f"--sqlite-url=file:{self.datadir}/",
                    f"--state-dir={self.datadir}", f"--listen-addr=127.0.0.1:{self.db_port}",
                    "--debug-addr=127.0.0.1:0", "--telemetry=disable", "--log-level=error"]
        return Proc("database", argv, dict(os.environ), os.path.join(self.outdir, "database.log"))

    def _redis_proc(self):
        argv = [self.redis_binary, "--bind", "127.0.0.1", "--port", str(self.redis_port),
                "--save", "", "--appendonly", "no", "--daemonize", "no"]
        return Proc("redis", argv, dict(os.environ), os.path.join(self.outdir, "redis.log"))

    def _node_proc(self, i):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "CONFAB_ENV": "dev",
            "JWT_SECRET": self.secret,
            "MONGO_URI": f"mongodb://127.0.0.1:{self.db_port}/chaos_{self.seed}",
            "CONFAB_BIND": f"127.0.0.1:{self.node_ports[i]}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}",
            "REDIS_NAMESPACE": self.namespace,
            "RUST_LOG": "warn",
            "LOG_FORMAT": "pretty",
            "DB_TIMEOUT_MS": "2000",
        }
        for key in ("REGISTER_MAX_PER_IP", "LOGIN_MAX_FAILURES_PER_USER", "LOGIN_MAX_FAILURES_PER_IP",
                    "WS_MAX_MSGS_PER_SEC", "WS_BURST", "MEMBERSHIP_MAX_PER_SEC", "MEMBERSHIP_BURST",
                    "HISTORY_MAX_PER_SEC", "HISTORY_BURST", "JOIN_MAX_PER_SEC", "JOIN_BURST",
                    "WS_TICKET_MAX_PER_SEC", "WS_TICKET_BURST", "READ_MAX_PER_SEC", "READ_BURST"):
            env[key] = "100000"
        return Proc(f"node{i}", [self.confab_binary], env, os.path.join(self.outdir, f"node{i}.log"))

    def base(self, i):
        return f"http://127.0.0.1:{self.node_ports[i]}"

    def ws_base(self, i):
        return f"ws://127.0.0.1:{self.node_ports[i]}"

    # -- readiness
    async def db_answers(self):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.db_port), 1.0)
            w.close()
            return True
        except (OSError, asyncio.TimeoutError):
            return False

    async def redis_answers(self):
        try:
            return await redis_cmd(self.redis_port, "PING", timeout=1.0) == "PONG"
        except Exception:
            return False

    async def node_ready(self, i, http):
        try:
            r = await http.get(self.base(i) + "/readyz", timeout=2.0)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def wait_until(self, what, check, deadline_s, proc=None):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if await check():
                return True
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{what} exited during start; see {proc.log_path}")
            await asyncio.sleep(0.1)
        return False

    # -- lifecycle
    async def start(self, http):
        self.db = self._db_proc()
        self.db.start()
        if not await self.wait_until("the database", self.db_answers, 60, self.db):
            raise RuntimeError(f"the database did not answer within 60 s; see {self.db.log_path}")
        self.redis = self._redis_proc()
        self.redis.start()
        if not await self.wait_until("redis", self.redis_answers, 20, self.redis):
            raise RuntimeError(f"redis did not answer within 20 s; see {self.redis.log_path}")
        self.redis_up = True
        self.nodes = [self._node_proc(i) for i in range(self.n)]
        for i in range(self.n):
            self.nodes[i].start()
            self.state[i] = "starting"
        for i in range(self.n):
            ok = await self.wait_until(f"node{i}", lambda i=i: self.node_ready(i, http), 90, self.nodes[i])
            if not ok:
                raise RuntimeError(f"node{i} was not ready within 90 s; see {self.nodes[i].log_path}")
            self.state[i] = "up"

    def up_nodes(self):
        return [i for i in range(self.n) if self.state[i] == "up"]

    def kill_node(self, i):
        self.nodes[i].sigkill()
        self.state[i] = "down"

    def restart_node(self, i):
        if self.nodes[i].alive():
            self.nodes[i].sigkill()
        self.nodes[i].start()
        self.state[i] = "starting"

    async def wait_node_ready(self, i, http, deadline_s=60):
        ok = await self.wait_until(f"node{i}", lambda: self.node_ready(i, http), deadline_s)
        if ok and self.nodes[i].alive() and not self.nodes[i].stopped:
            self.state[i] = "up"
        return ok

    def stop_node(self, i):
        self.nodes[i].sigstop()
        self.state[i] = "stopped"

    def cont_node(self, i):
        self.nodes[i].sigcont()
        self.state[i] = "up"

    def kill_redis(self):
        self.redis.sigkill()
        self.redis_up = False

    async def start_redis_again(self):
        self.redis.start()
        ok = await self.wait_until("redis", self.redis_answers, 20)
        self.redis_up = ok
        return ok

    async def heal(self, http, deadline_s=90):
        """Everything up again: continue the stopped, restart the dead; wait for readiness."""
        notes = []
        crashed = []
        if self.db.stopped:
            self.db.sigcont()
            notes.append("database continued")
        if not self.db.alive():
            raise RuntimeError("the database process died (it is never killed on purpose)")
        if not self.redis.alive():
            crashed.append("redis")
            notes.append("redis restarted (it had exited by itself: see its log)")
            await self.start_redis_again()
        for i in range(self.n):
            if self.nodes[i].stopped:
                self.cont_node(i)
                notes.append(f"node{i} continued")
            if not self.nodes[i].alive():
                # the nemesis restarts what it kills: this one exited by itself
                crashed.append(f"node{i}")
                notes.append(f"node{i} restarted (it had exited by itself with status "
                             f"{self.nodes[i].popen.returncode}: see its log)")
                self.restart_node(i)
        unready = []
        for i in range(self.n):
            if not await self.wait_node_ready(i, http, deadline_s):
                unready.append(i)
        return notes, unready, crashed

    def close(self):
        for node in self.nodes:
            node.terminate(grace=3.0)
        for proc in (self.redis, self.db):
            if proc is not None:
                proc.terminate(grace=2.0)
        shutil.rmtree(self.datadir, ignore_errors=True)
