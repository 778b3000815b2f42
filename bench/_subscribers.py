"""Subscriber worker for bench/broker.py: many raw MQTT subscribers in one process, one epoll loop.

Usage: python bench/_subscribers.py SPEC.json

SPEC: {"host", "port", "topic", "qos", "clients": [[client_id, username, password], ...]}.
Stdout protocol (one line each): `ready <n>` once every client is subscribed; then, per trial, when all n
clients have the lock message whose payload carries `"q": <trial>`:
`done <trial> <last_rx> <first_rx> <last_kernel> <first_kernel>` (CLOCK_MONOTONIC ns). Stdin EOF ends it.

Two stamps per receipt:
- `rx`: when this process's epoll_wait returned with the socket readable. It includes our own lag when a
  burst arrives faster than this loop drains it, but never the time spent on earlier sockets of the same batch.
- `kernel`: the kernel's software receive timestamp (SO_TIMESTAMPNS) of the segment. On loopback it is taken
  in the sender's context, so it is when the broker handed the lock to the kernel for this subscriber:
  broker latency with no subscriber-side CPU in it. It is CLOCK_REALTIME; we map it onto CLOCK_MONOTONIC
  with an offset read at the same moment as `rx`, so NTP slewing cannot skew it.

Not asyncio: a bare epoll loop costs a few microseconds per ready socket, a third of what a Protocol costs,
and asyncio cannot hand over recvmsg's ancillary data.
"""

from __future__ import annotations

import json
import os
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
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; the constant is missing in some builds
TIMESPEC = struct.Struct("@qq")


def handshake(host: str, port: int, batch: list[list[Any]], topic: str, qos: int) -> list[socket.socket]:
    """Connect and subscribe a batch of clients, pipelined (CONNECT and SUBSCRIBE before any reply)."""
    socks = []
    for client_id, username, password in batch:
        s = socket.create_connection((host, port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.sendall(mq.encode_connect(client_id, username, password, KEEPALIVE)
                  + mq.encode_subscribe(1, topic, qos))
        socks.append(s)
    for s, (client_id, *_) in zip(socks, batch, strict=True):
        reader = mq.PacketReader(client_id)
        got: dict[int, bytes] = {}
        while mq.SUBACK not in got:
            data = s.recv(4096)
            if not data:
                raise ConnectionError(f"{client_id}: closed during handshake (got {sorted(got)})")
            for ptype, _flags, body in reader.feed(data):
                got[ptype] = body
                if ptype == mq.CONNACK and body[1] != 0:
                    raise ConnectionRefusedError(f"{client_id}: CONNACK return code {body[1]}")
        if got[mq.SUBACK][2] == 0x80:
            raise PermissionError(f"{client_id}: SUBSCRIBE {topic} refused")
    return socks


def main(spec: dict[str, Any]) -> None:
    host, port, topic, qos = spec["host"], int(spec["port"]), spec["topic"], int(spec["qos"])
    entries = spec["clients"]
    socks: list[socket.socket] = []
    for i in range(0, len(entries), CONNECT_BATCH):
        socks += handshake(host, port, entries[i : i + CONNECT_BATCH], topic, qos)
    n = len(socks)
    by_fd = {s.fileno(): s for s in socks}
    readers = {s.fileno(): mq.PacketReader(str(s.fileno())) for s in socks}
    ep = select.epoll()
    for fd, s in by_fd.items():
        s.settimeout(0.0)  # non-blocking
        ep.register(fd, select.EPOLLIN)
    stdin = sys.stdin.fileno()
    ep.register(stdin, select.EPOLLIN)
    out = sys.stdout
    out.write(f"ready {n}\n")
    out.flush()

    trials: dict[int, list[int]] = {}  # trial -> [count, last_rx, first_rx, last_kernel, first_kernel]
    monotonic_ns, time_ns = time.monotonic_ns, time.time_ns
    level_type = (socket.SOL_SOCKET, SO_TIMESTAMPNS)
    while True:
        events = ep.poll(KEEPALIVE / 3)
        rx = monotonic_ns()
        if not events:
            for s in socks:
                s.send(mq.PINGREQ_BYTES)
            continue
        realtime_offset = time_ns() - monotonic_ns()
        for fd, _ev in events:
            if fd == stdin:
                if not os.read(stdin, 4096):
                    for s in socks:
                        s.close()
                    return
                continue
            s = by_fd[fd]
            data, ancdata, _flags, _addr = s.recvmsg(65536, 64)
            if not data:
                out.write(f"error connection {fd} closed by the broker\n")
                out.flush()
                return
            kernel = rx
            for level, ctype, cdata in ancdata:
                if (level, ctype) == level_type:
                    sec, nsec = TIMESPEC.unpack_from(cdata)
                    kernel = sec * 1_000_000_000 + nsec - realtime_offset
            for ptype, flags, body in readers[fd].feed(data):
                if ptype != mq.PUBLISH:
                    continue
                _topic, packet_id, payload = mq.parse_publish(flags, body)
                if packet_id:
                    s.send(mq.encode_puback(packet_id))
                trial = int(json.loads(payload)["q"])
                entry = trials.get(trial)
                if entry is None:
                    entry = trials[trial] = [0, rx, rx, kernel, kernel]
                entry[0] += 1
                entry[1] = max(entry[1], rx)
                entry[2] = min(entry[2], rx)
                entry[3] = max(entry[3], kernel)
                entry[4] = min(entry[4], kernel)
                if entry[0] == n:
                    del trials[trial]
                    out.write(f"done {trial} {entry[1]} {entry[2]} {entry[3]} {entry[4]}\n")
                    out.flush()


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")))
