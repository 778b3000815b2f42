"""Drive `host_buzzer` (the firmware core built for the host) from tests: build it, run it, read its JSON lines.

Reusable by the end-to-end test against the real hub (issue 7 item 4): `build_host(dir)` once per session,
then `HostBuzzer.start(...)` per device, `press_at(host_us)` with a known true time (host CLOCK_MONOTONIC µs,
which is what `time.monotonic_ns() // 1000` reads), and `wait_event(...)` on what the device did.

Nothing here sleeps to synchronise: every wait is on an output line or a message, with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIRMWARE_HOST_DIR = Path(__file__).resolve().parents[2] / "firmware" / "esp32" / "host"
MOSQUITTO_BIN = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def host_us() -> int:
    """Host CLOCK_MONOTONIC in µs: the clock host_buzzer derives its device clock from."""
    return time.monotonic_ns() // 1000


def device_clock(host: int, offset_us: int, drift_ppm: float) -> int:
    """The device time host_buzzer reports for host instant `host` (same rounding as host_buzzer.cpp)."""
    return host + round(host * drift_ppm * 1e-6) + offset_us


def _run(cmd: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def build_host(build_dir: Path) -> Path:
    """Configure and build the host targets into build_dir; returns the host_buzzer path. Raises with output."""
    build_dir.mkdir(parents=True, exist_ok=True)
    steps = [
        ["cmake", "-S", str(FIRMWARE_HOST_DIR), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
        ["cmake", "--build", str(build_dir), "-j", str(max(1, min(4, os.cpu_count() or 1)))],
    ]
    for cmd in steps:
        proc = _run(cmd)
        if proc.returncode != 0:
            msg = f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-8000:]}"
            raise RuntimeError(msg)
    exe = build_dir / "host_buzzer"
    if not exe.exists():
        raise RuntimeError(f"build succeeded but {exe} is missing")
    return exe


@dataclass
class HostBuzzer:
    """One running host_buzzer process. Its stdout is read by a thread into `events` (parsed JSON lines)."""

    proc: subprocess.Popen[str]
    device_id: str
    offset_us: int
    drift_ppm: float
    events: list[dict[str, Any]] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _stderr: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        exe: Path,
        *,
        device_id: str,
        port: int,
        root: str,
        host: str = "127.0.0.1",
        password: str | None = None,
        offset_us: int = 0,
        drift_ppm: float = 0.0,
        boot: int | None = None,
        boot_file: Path | None = None,
        extra: list[str] | None = None,
    ) -> HostBuzzer:
        cmd = [
            str(exe),
            "--id",
            device_id,
            "--host",
            host,
            "--port",
            str(port),
            "--root",
            root,
            "--offset-us",
            str(offset_us),
            "--drift-ppm",
            repr(drift_ppm),
        ]
        if password is not None:
            cmd += ["--password", password]
        if boot is not None:
            cmd += ["--boot", str(boot)]
        if boot_file is not None:
            cmd += ["--boot-file", str(boot_file)]
        cmd += extra or []
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self = cls(proc=proc, device_id=device_id, offset_us=offset_us, drift_ppm=drift_ppm)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        return self

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                ev = {"event": "unparsable", "line": line}
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()
        with self._cond:
            self.events.append({"event": "_eof"})
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    # ---- control
    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def press(self) -> None:
        self.send("press")

    def press_at(self, at_host_us: int) -> int:
        """Press at host instant at_host_us; returns the device timestamp the buzz must carry."""
        self.send(f"press-at {at_host_us}")
        return device_clock(at_host_us, self.offset_us, self.drift_ppm)

    def quit(self, timeout: float = 10) -> int:
        self.send("quit")
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    # ---- observation
    def wait_event(
        self,
        event: str,
        timeout: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first event named `event` (at index >= after) matching `where`; fails with the log on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[after:]:
                    if ev.get("event") == event and (where is None or where(ev)):
                        return ev
                remaining = deadline - time.monotonic()
                if remaining <= 0 or any(ev.get("event") == "_eof" for ev in self.events[after:]):
                    break
                self._cond.wait(remaining)
        log = "\n".join(json.dumps(e) for e in self.events[-40:])
        msg = f"{self.device_id}: no {event!r} within {timeout}s. Last events:\n{log}\nstderr:\n{''.join(self._stderr)}"
        raise AssertionError(msg)

    def mark(self) -> int:
        """An index for wait_event(after=...): only events from now on."""
        with self._cond:
            return len(self.events)


class Mosquitto:
    """A private Mosquitto on a free loopback port (anonymous allowed), killed by its own PID on close."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\n"
        )
        if not Path(MOSQUITTO_BIN).exists():
            raise RuntimeError("Mosquitto is not installed: apt-get install -y mosquitto")
        self.proc = subprocess.Popen(
            [MOSQUITTO_BIN, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited at start: {err}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)  # polling a port that is coming up, not synchronising on a guess
        raise RuntimeError(f"mosquitto did not listen on {port} within 10 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class LinkCutter:
    """A TCP proxy between a buzzer and the broker that can drop the link: Wi-Fi loss without killing anyone.

    While `cut`, every connection is closed and new ones are refused (accepted and closed at once).
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self.listener.close()


class HubSide:
    """The hub's half of the device protocol, played from Python with paho-mqtt (a real client, real broker)."""

    def __init__(self, port: int, root: str, client_id: str = "test-hub") -> None:
        import paho.mqtt.client as mqtt  # noqa: PLC0415 - test-only dependency, imported where used

        self.root = root
        self._q: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.seen: list[tuple[str, bytes, bool]] = []
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda _c, _u, m: self._q.put((m.topic, bytes(m.payload), bool(m.retain)))
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        connected = threading.Event()
        self.client.on_connect = lambda *_a: connected.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not connected.wait(10):
            raise RuntimeError("hub-side client did not connect")
        self.client.subscribe(f"{root}/#", qos=1)
        if not self._subscribed.wait(10):
            raise RuntimeError("hub-side client did not get its SUBACK")

    def publish(self, topic: str, payload: dict[str, Any] | str, qos: int = 1, retain: bool = False) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        self.client.publish(f"{self.root}/{topic}", data, qos=qos, retain=retain).wait_for_publish(10)

    def wait(
        self, topic: str, timeout: float = 10.0, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> tuple[dict[str, Any], bool]:
        """The next message on root/topic (JSON-decoded) matching `where`, and its retain flag."""
        full = f"{self.root}/{topic}"
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                t, payload, retained = self._q.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append((t, payload, retained))
            if t != full:
                continue
            body = json.loads(payload)
            if where is None or where(body):
                return body, retained
        shown = "\n".join(f"{t} {p!r}" for t, p, _ in self.seen[-20:])
        raise AssertionError(f"no message on {full} within {timeout}s; seen:\n{shown}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained_on(port: int, topic: str, timeout: float = 10.0) -> dict[str, Any]:
    """What a NEW subscriber gets as the retained message on topic (fails if nothing is retained)."""
    import paho.mqtt.client as mqtt  # noqa: PLC0415

    got: queue.Queue[tuple[bytes, bool]] = queue.Queue()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda _c, _u, m: got.put((bytes(m.payload), bool(m.retain)))
    c.on_connect = lambda cl, *_a: cl.subscribe(topic, qos=1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        payload, retained = got.get(timeout=timeout)
    finally:
        c.loop_stop()
        c.disconnect()
    assert retained, f"{topic}: message was not retained"
    return dict(json.loads(payload))


def iter_events(b: HostBuzzer, name: str) -> Iterator[dict[str, Any]]:
    return (e for e in list(b.events) if e.get("event") == name)
