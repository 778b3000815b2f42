"""An experiment, not product code: a leaner `broker.connection.Connection.deliver` for QoS > 0.

bench/broker.py's `embedded-fastpath` variant applies it in the broker process to measure what the change
proposed in docs/broker-performance.md ("encode the PUBLISH once per fan-out") is worth. Behaviour is
unchanged: same frames, same in-flight bookkeeping; only the per-subscriber encoding work goes.

Per subscriber the current `deliver` re-encodes the whole PUBLISH (`wire.encode_publish`: two struct.pack
calls, the remaining-length loop and four concatenations) although only the two packet-id bytes differ
between subscribers. Here the bytes before the packet id are built once per message (a one-entry cache on the
payload object, which `_route` passes unchanged to every subscriber) and each frame is one concatenation.
"""

# The imports are deferred: this module is loaded into the broker process only for one bench variant.
# ruff: noqa: PLC0415
from __future__ import annotations

import struct
import sys
from typing import Any


def install() -> bool:
    try:
        from amqtt.session import OutgoingApplicationMessage

        from broker import connection, wire
    except ImportError as exc:
        print(f"fastpath not installed: {exc}", file=sys.stderr)
        return False
    if hasattr(wire, "publish_prefix"):
        # The broker now builds the prefix once per fan-out itself (the change this experiment measured).
        print("fastpath not installed: broker.wire.publish_prefix exists, the broker does this already",
              file=sys.stderr)
        return False
    cls = connection.Connection
    original = cls.deliver
    max_inflight = connection.MAX_INFLIGHT
    publish = wire.PUBLISH
    remaining_length_bytes = wire.remaining_length_bytes
    cache: list[Any] = [None, None, -1, False, b""]  # payload, topic_bytes, qos, retain, prefix

    def deliver(self: Any, topic: str, topic_bytes: bytes, payload: bytes, qos: int, retain: bool,
                qos0_frame: bytes | None = None) -> None:
        stream = self._stream
        session = self.session
        if qos == 0 or stream is None or session is None or len(session.inflight_out) >= max_inflight:
            original(self, topic, topic_bytes, payload, qos, retain, qos0_frame)
            return
        c = cache
        if c[0] is not payload or c[1] is not topic_bytes or c[2] != qos or c[3] != retain:
            first = (publish << 4) | (qos << 1) | (1 if retain else 0)
            length = 2 + len(topic_bytes) + 2 + len(payload)
            c[:] = [payload, topic_bytes, qos, retain,
                    bytes((first,)) + remaining_length_bytes(length) + struct.pack("!H", len(topic_bytes))
                    + topic_bytes]
        packet_id = session.next_packet_id
        session.inflight_out[packet_id] = OutgoingApplicationMessage(packet_id, topic, qos, payload, retain)
        transport = stream.transport
        if not transport.is_closing():
            transport.write(c[4] + packet_id.to_bytes(2, "big") + payload)

    cls.deliver = deliver
    return True
