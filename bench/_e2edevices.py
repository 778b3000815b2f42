"""Device worker for bench/e2e.py: many lean simulated buzzers in one process, one epoll loop.

Usage: python bench/_e2edevices.py SPEC.json

SPEC: {"host", "port", "root", "game", "boot", "clients": [[device_id, username, password], ...]}.

Each device speaks as much of the device protocol (DESIGN §3) as the hub needs: it connects with its device id as
client id and username, subscribes to `{root}/devices/{id}/cmd`, `{root}/devices/{id}/sync` and the game's
`{root}/games/{game}/buzzers` (it is told the game up front instead of waiting for `config`), publishes
`{root}/devices/{id}/status` `{"state":"online","boot":B}` (retained, QoS 1), answers every sync ping at once with
`{"n","t1","t2","t3","boot"}` read off CLOCK_MONOTONIC (an ideal device clock: offset 0, no drift), and publishes
buzzes `{"seq","boot","t_us"}` (QoS 1) when told to.

Stdin commands (one line each) and stdout answers:
- `expect K` -> `expecting K`: from now on count arm and lock messages for trial K (any word).
- once every device here has the arm: `armed K`; once every device has the lock:
  `done K <last_rx> <first_rx> <last_kernel> <first_kernel>` (CLOCK_MONOTONIC ns, as bench/_subscribers.py).
- `press K DEV` -> `pressed K <t0>`: DEV publishes one buzz; t0 is taken just before the send.
- `storm RATE SECONDS SEED` -> `stormed <presses> <t_first> <t_last>`: this worker's devices press at random
  (Poisson, RATE per second in total here) for SECONDS.
Stdin EOF ends it. Stamps as in bench/_subscribers.py (`rx`: epoll return; `kernel`: SO_TIMESTAMPNS).
"""

from __future__ import annotations

import json
import os
import random
import select
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

import _mqttraw as mq

KEEPALIVE = 60
CONNECT_BATCH = 32
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("@qq")


class Device:
    __slots__ = ("buzz_topic", "dev", "reader", "reply_topic", "seq", "sock")

    def __init__(self, dev: str, sock: socket.socket, root: str) -> None:
        self.dev = dev
        self.sock = sock
        self.reader = mq.PacketReader(dev)
        self.seq = 0
        self.buzz_topic = f"{root}/devices/{dev}/buzz"
        self.reply_topic = f"{root}/devices/{dev}/sync/reply"


def handshake(spec: dict[str, Any], batch: list[list[Any]]) -> list[Device]:
    """Connect, subscribe and say online, pipelined (everything sent before any reply is read)."""
    root, game, boot = spec["root"], spec["game"], int(spec["boot"])
    devices = []
    for dev, username, password in batch:
        s = socket.create_connection((spec["host"], int(spec["port"])), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        status = json.dumps({"state": "online", "boot": boot, "fw": "bench-1.0.0"}).encode()
        s.sendall(
            mq.encode_connect(dev, username, password, KEEPALIVE)
            + mq.encode_subscribe(1, f"{root}/devices/{dev}/cmd", 1)
            + mq.encode_subscribe(2, f"{root}/devices/{dev}/sync", 0)
            + mq.encode_subscribe(3, f"{root}/games/{game}/buzzers", 1)
            + mq.encode_publish(f"{root}/devices/{dev}/status", status, 1, 4, retain=True)
        )
        devices.append(Device(dev, s, root))
    for d in devices:
        subacks = 0
        while subacks < 3:
            data = d.sock.recv(4096)
            if not data:
                raise ConnectionError(f"{d.dev}: closed during handshake")
            for ptype, _flags, body in d.reader.feed(data):
                if ptype == mq.CONNACK and body[1] != 0:
                    raise ConnectionRefusedError(f"{d.dev}: CONNACK return code {body[1]}")
                if ptype == mq.SUBACK:
                    if body[2] == 0x80:
                        raise PermissionError(f"{d.dev}: a SUBSCRIBE was refused")
                    subacks += 1
    return devices


def main(spec: dict[str, Any]) -> None:
    boot = int(spec["boot"])
    entries = spec["clients"]
    devices: list[Device] = []
    for i in range(0, len(entries), CONNECT_BATCH):
        devices += handshake(spec, entries[i : i + CONNECT_BATCH])
    n = len(devices)
    by_fd = {d.sock.fileno(): d for d in devices}
    by_name = {d.dev: d for d in devices}
    ep = select.epoll()
    for fd, d in by_fd.items():
        d.sock.settimeout(0.0)
        ep.register(fd, select.EPOLLIN)
    stdin = sys.stdin.fileno()
    ep.register(stdin, select.EPOLLIN)
    out = sys.stdout
    out.write(f"ready {n}\n")
    out.flush()

    trial = "-"
    armed: set[int] = set()
    locked: set[int] = set()
    stats = [0, 0, 0, 0]  # last_rx, first_rx, last_kernel, first_kernel
    pending = b""
    storm_until = 0
    storm_next = 0
    storm_rate = 0.0
    storm_count = 0
    storm_first = storm_last = 0
    rng = random.Random()
    monotonic_ns, time_ns = time.monotonic_ns, time.time_ns
    level_type = (socket.SOL_SOCKET, SO_TIMESTAMPNS)

    def press(d: Device) -> int:
        d.seq += 1
        now = monotonic_ns()
        payload = b'{"seq":%d,"boot":%d,"t_us":%d}' % (d.seq, boot, now // 1000)
        d.sock.send(mq.encode_publish(d.buzz_topic, payload, 1, d.seq % 65535 + 1))
        return now

    while True:
        timeout = KEEPALIVE / 3
        if storm_until:
            timeout = max(0.0, (storm_next - monotonic_ns()) / 1e9)
        events = ep.poll(timeout)
        rx = monotonic_ns()
        if storm_until:
            while storm_until and storm_next <= rx:
                t = press(rng.choice(devices))
                storm_first = storm_first or t
                storm_last = t
                storm_count += 1
                storm_next += int(rng.expovariate(storm_rate) * 1e9)
                if storm_next > storm_until:
                    storm_until = 0
                    out.write(f"stormed {storm_count} {storm_first} {storm_last}\n")
                    out.flush()
        if not events:
            if not storm_until:
                for d in devices:
                    d.sock.send(mq.PINGREQ_BYTES)
            continue
        realtime_offset = time_ns() - monotonic_ns()
        for fd, _ev in events:
            if fd == stdin:
                chunk = os.read(stdin, 4096)
                if not chunk:
                    for d in devices:
                        d.sock.close()
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    cmd = line.decode().split()
                    if not cmd:
                        continue
                    if cmd[0] == "expect":
                        trial = cmd[1]
                        armed.clear()
                        locked.clear()
                        out.write(f"expecting {trial}\n")
                    elif cmd[0] == "press":
                        t0 = press(by_name[cmd[2]])
                        out.write(f"pressed {cmd[1]} {t0}\n")
                    elif cmd[0] == "storm":
                        storm_rate = float(cmd[1])
                        storm_until = monotonic_ns() + int(float(cmd[2]) * 1e9)
                        rng.seed(int(cmd[3]))
                        storm_next = monotonic_ns()
                        storm_count = storm_first = storm_last = 0
                    out.flush()
                continue
            d = by_fd[fd]
            data, ancdata, _flags, _addr = d.sock.recvmsg(65536, 64)
            if not data:
                out.write(f"error connection of {d.dev} closed by the broker\n")
                out.flush()
                return
            kernel = rx
            for level, ctype, cdata in ancdata:
                if (level, ctype) == level_type:
                    sec, nsec = TIMESPEC.unpack_from(cdata)
                    kernel = sec * 1_000_000_000 + nsec - realtime_offset
            for ptype, flags, body in d.reader.feed(data):
                if ptype != mq.PUBLISH:
                    continue
                topic, packet_id, payload = mq.parse_publish(flags, body)
                if packet_id:
                    d.sock.send(mq.encode_puback(packet_id))
                if topic.endswith(b"/sync"):
                    ping = json.loads(payload)
                    now_us = monotonic_ns() // 1000
                    reply = b'{"n":%d,"t1":%d,"t2":%d,"t3":%d,"boot":%d}' % (
                        ping["n"], ping["t1"], now_us, now_us, boot)
                    d.sock.send(mq.encode_publish(d.reply_topic, reply, 0))
                    continue
                if not topic.endswith(b"/buzzers"):
                    continue  # config / win / identify on cmd: nothing to do for a bench device
                what = json.loads(payload).get("cmd")
                if what == "arm" and fd not in armed:
                    armed.add(fd)
                    if len(armed) == n:
                        out.write(f"armed {trial}\n")
                        out.flush()
                elif what == "lock" and fd not in locked:
                    if not locked:
                        stats = [rx, rx, kernel, kernel]
                    locked.add(fd)
                    stats[0] = max(stats[0], rx)
                    stats[1] = min(stats[1], rx)
                    stats[2] = max(stats[2], kernel)
                    stats[3] = min(stats[3], kernel)
                    if len(locked) == n:
                        out.write(f"done {trial} {stats[0]} {stats[1]} {stats[2]} {stats[3]}\n")
                        out.flush()


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
