"""Lock fan-out latency: the embedded broker against a private Mosquitto, in one run.

    .venv/bin/python bench/broker.py [--sizes 16,64,256] [--trials 200] [--quick] [--no-tuning]
                                     [--variants mosquitto,embedded,...] [--pin] [--py-spy DIR]

Scenario (DESIGN §3): N buzzers subscribe to `quizhub/games/bench/buzzers` (QoS 1). Per trial one buzzer
publishes a buzz (QoS 1) on `quizhub/devices/{id}/buzz`; an arbiter (a plain client with the service role)
answers it with one lock publish (QoS 1) on the game topic; we time from the buzz until the LAST of the N
subscribers has the lock. Reported: p50/p99 over the trials, for each broker variant, and the ratio against
Mosquitto measured in the same run; a table on stdout, everything in bench/results/broker.json.
Method, figures and findings: docs/broker-performance.md.

How it keeps the measurement about the broker:
- each broker runs in its own process: a private Mosquitto on a free port, and the embedded broker through
  bench/_brokerproc.py (EmbeddedBroker with authentication, then serve's web app in the same process, as
  `quizhub serve` runs it); subscribers live in worker processes (bench/_subscribers.py, one epoll loop over
  up to 128 raw sockets each), the buzzer and arbiter (raw asyncio protocols, bench/_mqttraw.py) in this one,
  so client CPU never runs on a broker's loop; every client socket has TCP_NODELAY;
- a receipt is stamped with the time its worker's epoll returned, on CLOCK_MONOTONIC, which all processes on
  the host share; a second stamp, the kernel's receive timestamp, leaves subscriber CPU out entirely;
- all variants are up at once and trials rotate between them in a shuffled order, so load from anything
  else on this machine (2 cores, shared) hits every variant alike; that is also why the figures to quote are
  the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import _mqttraw as mq

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PY = sys.executable
MOSQUITTO = "/usr/sbin/mosquitto"
GAME_TOPIC = "quizhub/games/bench/buzzers"
BUZZ_FILTER = "quizhub/devices/+/buzz"
SUBS_PER_WORKER = 128
TRIAL_TIMEOUT_S = 5.0
# Ratio targets from issue 2: embedded p99 against Mosquitto p99.
TARGETS = {64: 1.5, 256: 2.0}


# --pin: CPU sets for "broker" and "clients" processes, so a broker never shares its core with its load.
PIN: dict[str, set[int]] = {}


def pinned(role: str) -> Any:
    """A preexec_fn that pins the child to the CPUs chosen for `role`, or None."""
    cpus = PIN.get(role)
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary_ms(values_ns: list[int]) -> dict[str, float]:
    v = sorted(x / 1e6 for x in values_ns)
    if not v:
        return {}
    return {
        "p50": round(percentile(v, 50), 3),
        "p90": round(percentile(v, 90), 3),
        "p99": round(percentile(v, 99), 3),
        "max": round(v[-1], 3),
        "mean": round(sum(v) / len(v), 3),
    }


# ---------------------------------------------------------------- brokers


@dataclass
class Variant:
    name: str
    kind: str  # "mosquitto" | "embedded" | "amqtt"
    tuning: bool = True
    refreeze: bool = False  # apply() once more after serve's web app is loaded
    fastpath: bool = False  # bench/_fastpath.py: the proposed leaner deliver(), an experiment
    uvloop: bool = False  # the broker process on uvloop, an experiment


class BrokerProcess:
    """A broker in its own process on a free port, with a password for every client name."""

    def __init__(self, variant: Variant, workdir: Path, clients: list[tuple[str, str]]) -> None:
        self.variant = variant
        self.workdir = workdir
        self.clients = clients
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.passwords: dict[str, str] = {}
        self.kind = variant.kind
        self.pid = 0

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.variant.kind == "mosquitto":
            await self._start_mosquitto()
        else:
            await self._start_embedded()

    async def _start_mosquitto(self) -> None:
        self.passwords = {name: secrets.token_urlsafe(24) for name, _ in self.clients}
        pwfile = self.workdir / "passwd"
        pwfile.write_text("".join(f"{n}:{p}\n" for n, p in self.passwords.items()))
        # -U hashes the plaintext file in place (PBKDF2); logins are cheap, and the data path never sees it.
        subprocess.run(["/usr/bin/mosquitto_passwd", "-U", str(pwfile)], check=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {pwfile}\n"
            "persistence false\n"
            # Started as root, Mosquitto would switch to user `mosquitto`, who cannot read our private tmp dir.
            f"user {getpass.getuser()}\n"
            # asyncio sets TCP_NODELAY on every socket, Mosquitto only when asked: same footing for both.
            "set_tcp_nodelay true\n"
            "max_queued_messages 10000\n"
            "log_dest stderr\n"
            "log_type error\n"
        )
        self.proc = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(conf), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "mosquitto.log").open("wb"), preexec_fn=pinned("broker"),
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"private mosquitto did not start, see {self.workdir / 'mosquitto.log'}")
            await asyncio.sleep(0.05)

    async def _start_embedded(self) -> None:
        spec = self.workdir / "clients.json"
        spec.write_text(json.dumps([[n, r] for n, r in self.clients]))
        cmd = [PY, str(BENCH_DIR / "_brokerproc.py"), "--port", str(self.port), "--data-dir",
               str(self.workdir / "data"), "--clients", str(spec)]
        (self.workdir / "data").mkdir(exist_ok=True)
        if not self.variant.tuning:
            cmd.append("--no-tuning")
        if self.variant.kind == "amqtt":
            cmd.append("--plain-amqtt")
        if self.variant.refreeze:
            cmd.append("--refreeze")
        if self.variant.fastpath:
            cmd.append("--fastpath")
        if self.variant.uvloop:
            # -O: broker/server.py asserts the transport is an asyncio.Transport, which uvloop's is not.
            cmd[1:1] = ["-O"]
            cmd.append("--uvloop")
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=(self.workdir / "broker.log").open("wb"), preexec_fn=pinned("broker"),
        )
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=300)
        if not line.startswith(b"ready "):
            raise RuntimeError(f"embedded broker did not start, see {self.workdir / 'broker.log'}")
        info = json.loads(line[6:])
        self.kind = info["kind"]
        if self.variant.fastpath and not info.get("fastpath"):
            self.kind += " (fastpath not applied)"
        self.passwords = info["passwords"]

    async def command(self, cmd: str) -> dict[str, Any] | None:
        if self.variant.kind == "mosquitto" or self.proc is None:
            return None
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        if cmd != "gc-stats":
            return None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
        return dict(json.loads(line[3:])) if line.startswith(b"gc ") else None

    def credentials(self, name: str) -> tuple[str | None, str | None]:
        if name in self.passwords:
            return name, self.passwords[name]
        return None, None  # plain amqtt: anonymous

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# ---------------------------------------------------------------- one broker under load


@dataclass
class Samples:
    total: list[int] = field(default_factory=list)  # buzz sent -> last subscriber's epoll saw the lock
    kernel: list[int] = field(default_factory=list)  # buzz sent -> lock in the last subscriber's socket
    fanout: list[int] = field(default_factory=list)  # lock sent -> last subscriber has it
    buzz_leg: list[int] = field(default_factory=list)  # buzz sent -> arbiter has it
    spread: list[int] = field(default_factory=list)  # first -> last subscriber receipt
    lost: int = 0


class Rig:
    """One broker, its N subscribers (in worker processes), one buzzer and one arbiter."""

    def __init__(self, variant: Variant, n: int, workdir: Path, qos: int) -> None:
        self.variant = variant
        self.n = n
        self.workdir = workdir
        self.qos = qos
        self.subscribers = [f"dev{i:03d}" for i in range(n)]
        self.buzzer_id = "devbuzz"
        self.arbiter_id = "benchhub"
        clients = [(s, "device") for s in self.subscribers]
        clients += [(self.buzzer_id, "device"), (self.arbiter_id, "service")]
        self.broker = BrokerProcess(variant, workdir, clients)
        self.workers: list[asyncio.subprocess.Process] = []
        self.reader_tasks: list[asyncio.Task[None]] = []
        self.pending: dict[int, list[asyncio.Future[tuple[int, ...]]]] = {}
        self.buzzer: mq.MqttClient | None = None
        self.arbiter: mq.MqttClient | None = None
        self.arbiter_rx: dict[int, tuple[int, int]] = {}  # trial -> (buzz received, lock sent)
        self.samples = Samples()
        self.gc: dict[str, Any] | None = None

    async def start(self) -> None:
        await self.broker.start()
        log(f"  {self.variant.name}: {self.broker.kind} broker pid {self.broker.pid} on port {self.broker.port}")
        n_workers = max(1, math.ceil(self.n / SUBS_PER_WORKER))
        per = math.ceil(self.n / n_workers)
        ready: list[asyncio.Future[int]] = []
        for w in range(n_workers):
            names = self.subscribers[w * per : (w + 1) * per]
            spec = self.workdir / f"subscribers-{w}.json"
            spec.write_text(json.dumps({
                "host": "127.0.0.1", "port": self.broker.port, "topic": GAME_TOPIC, "qos": self.qos,
                "clients": [[name, *self.broker.credentials(name)] for name in names],
            }))
            proc = await asyncio.create_subprocess_exec(
                PY, str(BENCH_DIR / "_subscribers.py"), str(spec), cwd=ROOT, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=(self.workdir / f"subscribers-{w}.log").open("wb"),
                preexec_fn=pinned("clients"),
            )
            fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            ready.append(fut)
            self.workers.append(proc)
            self.reader_tasks.append(asyncio.create_task(self._read_worker(len(self.workers) - 1, proc, fut)))
        t = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*ready), timeout=600)
        log(f"  {self.variant.name}: {self.n} subscribers connected in {time.monotonic() - t:.1f} s")

        self.arbiter = await mq.connect("127.0.0.1", self.broker.port, self.arbiter_id,
                                        *self.broker.credentials(self.arbiter_id), on_publish=self._on_buzz)
        await self.arbiter.subscribe(BUZZ_FILTER, 1)
        self.buzzer = await mq.connect("127.0.0.1", self.broker.port, self.buzzer_id,
                                       *self.broker.credentials(self.buzzer_id))

    async def _read_worker(self, index: int, proc: asyncio.subprocess.Process, ready: asyncio.Future[int]) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            parts = line.decode().split()
            if parts[0] == "ready":
                ready.set_result(int(parts[1]))
            elif parts[0] == "done":
                futs = self.pending.get(int(parts[1]))
                if futs is not None and not futs[index].done():
                    futs[index].set_result(tuple(int(p) for p in parts[2:6]))
            else:
                log(f"  {self.variant.name} worker {index}: {line.decode().strip()}")
        if not ready.done():
            logfile = self.workdir / f"subscribers-{index}.log"
            tail = logfile.read_text(errors="replace").strip().splitlines()[-3:] if logfile.exists() else []
            ready.set_exception(RuntimeError(f"subscriber worker {index} exited: {' | '.join(tail)}"))

    def _on_buzz(self, client: mq.MqttClient, _topic: bytes, payload: bytes, stamp: int) -> None:
        # The arbiter's whole job: one lock publish per buzz, at once.
        trial = int(json.loads(payload)["seq"])
        lock = json.dumps({"cmd": "lock", "q": trial, "winner": self.buzzer_id}).encode()
        # Stamped before the send: on 2 cores the broker may preempt us inside send() and finish the fan-out
        # before the call returns.
        self.arbiter_rx[trial] = (stamp, time.monotonic_ns())
        client.publish_nowait(GAME_TOPIC, lock, self.qos)

    async def trial(self, k: int, record: bool) -> None:
        assert self.buzzer is not None
        loop = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in self.workers]
        self.pending[k] = futs
        payload = json.dumps({"seq": k, "boot": 1, "t_us": time.monotonic_ns() // 1000}).encode()
        t0 = time.monotonic_ns()
        self.buzzer.publish_nowait(f"quizhub/devices/{self.buzzer_id}/buzz", payload, 1)
        try:
            results = await asyncio.wait_for(asyncio.gather(*futs), timeout=TRIAL_TIMEOUT_S)
        except TimeoutError:
            if record:
                self.samples.lost += 1
            log(f"  {self.variant.name} N={self.n}: trial {k} timed out")
            return
        finally:
            del self.pending[k]
        last = max(r[0] for r in results)
        first = min(r[1] for r in results)
        last_kernel = max(r[2] for r in results)
        arb_rx, lock_tx = self.arbiter_rx.pop(k)
        if record:
            self.samples.total.append(last - t0)
            self.samples.kernel.append(last_kernel - t0)
            self.samples.fanout.append(last - lock_tx)
            self.samples.buzz_leg.append(arb_rx - t0)
            self.samples.spread.append(last - first)

    async def stop(self) -> None:
        for c in (self.buzzer, self.arbiter):
            if c is not None:
                c.disconnect()
        for proc in self.workers:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.workers:
            try:
                await asyncio.wait_for(proc.wait(), timeout=10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for t in self.reader_tasks:
            t.cancel()
        await self.broker.stop()


# ---------------------------------------------------------------- run


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "loadavg_start": list(os.getloadavg()),
    }


def versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in ("amqtt", "quizhub"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        res = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=5, check=False)
        out["mosquitto"] = (res.stdout or res.stderr).splitlines()[0].replace("mosquitto version ", "")
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        res = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5, check=False)
        out["git"] = res.stdout.strip()
        # Other work in progress changes what the embedded broker runs: record whether broker/ and web/ differ
        # from that commit.
        res = subprocess.run(["git", "status", "--porcelain", "--", "broker", "web"], cwd=ROOT,
                             capture_output=True, text=True, timeout=5, check=False)
        out["uncommitted_in_broker_web"] = str(len(res.stdout.splitlines()))
    return out


async def run_size(n: int, variants: list[Variant], args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    log(f"N={n}: starting {', '.join(v.name for v in variants)}")
    rigs = [Rig(v, n, tmp / f"{v.name}-{n}", args.qos) for v in variants]
    spies: list[subprocess.Popen[bytes]] = []
    failed: dict[str, str] = {}
    try:
        for rig in list(rigs):
            try:
                await rig.start()
            except Exception as exc:
                # One broken variant (e.g. an experiment) must not cost the whole run.
                if rig.variant.kind == "mosquitto":
                    raise
                log(f"  {rig.variant.name}: FAILED to start, left out of N={n}: {exc}")
                failed[rig.variant.name] = str(exc)
                await rig.stop()
                rigs.remove(rig)
        rounds = args.warmup + args.trials
        for k in range(rounds):
            if k == args.warmup:
                for rig in rigs:
                    await rig.broker.command("gc-reset")
                if args.py_spy:
                    spies = start_spies(rigs, Path(args.py_spy), n)
            order = rigs[:]
            random.shuffle(order)
            for rig in order:
                await rig.trial(k, record=k >= args.warmup)
                # A jittered pause, so trials do not phase-lock with timers in the brokers.
                await asyncio.sleep(random.uniform(0.5, 1.5) * args.gap_ms / 1000)
            done = k - args.warmup + 1
            if done > 0 and (done % 50 == 0 or done == args.trials):
                log(f"N={n}: {done}/{args.trials} trials; " + "; ".join(
                    f"{r.variant.name} p50 {summary_ms(r.samples.total).get('p50', math.nan):.2f} ms"
                    for r in rigs))
        for rig in rigs:
            rig.gc = await rig.broker.command("gc-stats")
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
        for rig in rigs:
            await rig.stop()

    load = round(os.getloadavg()[0], 2)
    base = next((r for r in rigs if r.variant.kind == "mosquitto"), None)
    base_total = summary_ms(base.samples.total) if base else {}
    rows = []
    for rig in rigs:
        total = summary_ms(rig.samples.total)
        row: dict[str, Any] = {
            "broker": rig.variant.name,
            "kind": rig.broker.kind,
            "tuning": rig.variant.tuning if rig.variant.kind != "mosquitto" else None,
            "n": n,
            "trials": len(rig.samples.total),
            "lost": rig.samples.lost,
            "total_ms": total,
            "kernel_ms": summary_ms(rig.samples.kernel),
            "fanout_ms": summary_ms(rig.samples.fanout),
            "buzz_leg_ms": summary_ms(rig.samples.buzz_leg),
            "spread_ms": summary_ms(rig.samples.spread),
        }
        if base_total and total:
            row["ratio_vs_mosquitto"] = {q: round(total[q] / base_total[q], 2) for q in ("p50", "p99")}
            kernel, base_kernel = row["kernel_ms"], summary_ms(base.samples.kernel) if base else {}
            if kernel and base_kernel:
                row["kernel_ratio_vs_mosquitto"] = {
                    q: round(kernel[q] / base_kernel[q], 2) for q in ("p50", "p99")}
        if rig.gc is not None:
            call = rig.gc.pop("fanout_call", None)
            if call:
                row["fanout_call"] = call  # inside the broker: the lock's routing call, wall and CPU time
            row["gc_during_trials"] = rig.gc
        row["loadavg_1min"] = load
        rows.append(row)
    rows += [{"broker": name, "n": n, "error": err, "trials": 0, "lost": 0, "total_ms": {}, "kernel_ms": {},
              "fanout_ms": {}} for name, err in failed.items()]
    return rows


def start_spies(rigs: list[Rig], outdir: Path, n: int) -> list[subprocess.Popen[bytes]]:
    spy_bin = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    outdir.mkdir(parents=True, exist_ok=True)
    spies = []
    for rig in rigs:
        if rig.variant.kind == "mosquitto":
            continue
        out = outdir / f"{rig.variant.name}-{n}.txt"
        log(f"  py-spy recording pid {rig.broker.pid} -> {out}")
        spies.append(subprocess.Popen(
            [spy_bin, "record", "--pid", str(rig.broker.pid), "--rate", "250", "--format", "raw",
             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
    return spies


def print_table(rows: list[dict[str, Any]]) -> None:
    """Latency until the last subscriber's epoll saw the lock (rx), its ratio to Mosquitto, and the same ratio
    on kernel receive stamps (free of subscriber-side CPU)."""
    head = (f"{'N':>4}  {'broker':<18} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p50 x':>6} {'p99 x':>6} "
            f"{'kern p50 x':>10} {'kern p99 x':>10} {'lost':>4} {'full GC ms':>10} {'fan-out CPU ms':>14}")
    print(head)
    print("-" * len(head))
    nan = math.nan
    for r in rows:
        if r.get("error"):
            print(f"{r['n']:>4}  {r['broker']:<18} did not start: {r['error'][:80]}")
            continue
        t = r["total_ms"]
        ratio = r.get("ratio_vs_mosquitto", {})
        kratio = r.get("kernel_ratio_vs_mosquitto", {})
        gc_info = r.get("gc_during_trials")
        full = f"{gc_info['full_collection_ms']:.1f}" if gc_info else "-"
        call = r.get("fanout_call")
        cpu = f"{call['cpu_p50_ms']:.2f}" if call else "-"
        print(f"{r['n']:>4}  {r['broker']:<18} {t.get('p50', nan):>7.2f} {t.get('p99', nan):>7.2f} "
              f"{t.get('max', nan):>7.2f} {ratio.get('p50', nan):>6.2f} {ratio.get('p99', nan):>6.2f} "
              f"{kratio.get('p50', nan):>10.2f} {kratio.get('p99', nan):>10.2f} {r['lost']:>4} {full:>10} "
              f"{cpu:>14}")


async def amain(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--pin needs at least two CPUs")
        PIN["broker"], PIN["clients"] = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, PIN["clients"])
    known = {
        "mosquitto": Variant("mosquitto", "mosquitto"),
        "embedded": Variant("embedded", "embedded", tuning=True),
        "embedded-untuned": Variant("embedded-untuned", "embedded", tuning=False),
        "embedded-refreeze": Variant("embedded-refreeze", "embedded", tuning=True, refreeze=True),
        "embedded-fastpath": Variant("embedded-fastpath", "embedded", tuning=True, fastpath=True),
        "embedded-uvloop": Variant("embedded-uvloop", "embedded", tuning=True, uvloop=True),
        "amqtt": Variant("amqtt", "amqtt", tuning=False),
    }
    names = args.variants.split(",") if args.variants else ["mosquitto", "embedded", "embedded-untuned"]
    if args.no_tuning:
        names = [n for n in names if n != "embedded"]
        names += [] if "embedded-untuned" in names else ["embedded-untuned"]
    if "mosquitto" not in names:
        names.insert(0, "mosquitto")  # the baseline every ratio needs
    unknown = set(names) - set(known)
    if unknown:
        raise SystemExit(f"unknown variant(s) {sorted(unknown)}; choose from {sorted(known)}")
    variants = [known[n] for n in names]
    started = datetime.now(UTC)
    info = machine_info()
    log(f"bench/broker.py: sizes {sizes}, {args.trials} trials (+{args.warmup} warm-up) per variant, "
        f"QoS {args.qos}, load average {info['loadavg_start']}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="quizhub-bench-") as tmp:
        for n in sizes:
            rows += await run_size(n, variants, args, Path(tmp))
    info["loadavg_end"] = list(os.getloadavg())

    print()
    print_table(rows)
    verdict = {}
    for n, limit in TARGETS.items():
        row = next((r for r in rows if r["n"] == n and r["broker"] == "embedded"), None)
        if row and "ratio_vs_mosquitto" in row:
            verdict[str(n)] = {"p99_ratio": row["ratio_vs_mosquitto"]["p99"], "target": limit,
                               "met": row["ratio_vs_mosquitto"]["p99"] <= limit}
    if verdict:
        print("\ntargets (embedded p99 / mosquitto p99): " + ", ".join(
            f"N={n}: {v['p99_ratio']:.2f}x (<= {v['target']}x {'met' if v['met'] else 'NOT met'})"
            for n, v in verdict.items()))
    result = {
        "benchmark": "lock fan-out: buzz -> arbiter -> lock publish -> all N subscribers",
        "timestamp": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
        "command": " ".join([Path(PY).name, *sys.argv]),
        "machine": info,
        "versions": versions(),
        "config": {"sizes": sizes, "trials": args.trials, "warmup": args.warmup, "qos": args.qos,
                   "pin": {k: sorted(v) for k, v in PIN.items()},
                   "gap_ms": args.gap_ms, "subscribers_per_worker": SUBS_PER_WORKER,
                   "variants": [v.__dict__ for v in variants]},
        "note": "Two shared cores: quote the ratios against Mosquitto measured in the same run, not the ms.",
        "results": rows,
        "targets": verdict,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="16,64,256", help="subscriber counts, comma-separated")
    parser.add_argument("--trials", type=int, default=200, help="measured trials per broker and size")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured trials first")
    parser.add_argument("--quick", action="store_true", help="sizes 16,64 and 50 trials: a smoke run")
    parser.add_argument("--no-tuning", action="store_true",
                        help="run the embedded broker only without broker.tuning (QUIZHUB_BROKER_TUNING=off)")
    parser.add_argument("--variants", help=(
        "comma-separated, from: mosquitto, embedded, embedded-untuned, embedded-refreeze (tuning applied again "
        "after the web app loaded), embedded-fastpath (the leaner deliver() of bench/_fastpath.py, an "
        "experiment), embedded-uvloop (the broker process on uvloop), amqtt (stock amqtt 0.12 Broker, "
        "anonymous, no quizhub code); default: the first three"))
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1), help="QoS of the lock subscription/publish")
    parser.add_argument("--gap-ms", type=float, default=20, help="mean pause between trials")
    parser.add_argument("--py-spy", metavar="DIR", help="record py-spy profiles of the embedded brokers here")
    parser.add_argument("--pin", action="store_true",
                        help="pin each broker to the first CPU and all clients (and this process) to the others")
    parser.add_argument("--out", default=str(BENCH_DIR / "results" / "broker.json"))
    args = parser.parse_args()
    if args.quick:
        if args.sizes == parser.get_default("sizes"):
            args.sizes = "16,64"
        if args.trials == parser.get_default("trials"):
            args.trials = 50
        args.warmup = min(args.warmup, 5)
    with asyncio.Runner(loop_factory=mq.new_event_loop) as runner:
        return runner.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
