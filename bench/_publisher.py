"""A synthetic kernel IOPub: signed ``stream`` messages published at full speed.

As a module it builds the frames (``stream_frames``), so that the decode loops of the
benchmark work on the same messages. As a script it is the publisher process::

    python bench/_publisher.py < config

with one JSON line on stdin: ``{"url": "tcp://127.0.0.1:PORT", "key": "...", "count": N}``.
It binds an XPUB (a PUB that also sees subscriptions, so it knows when to start) with an
unlimited send HWM, builds and signs ``count`` distinct messages (distinct signatures: a
client refuses replays), prints ``ready``, and at the first subscription sends them all
back to back. It then closes the socket with an infinite linger, so that everything has
left the process, prints ``{"sent": N, "seconds": T}`` (T: the send loop) and exits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
import uuid

import orjson
import zmq

DELIMITER = b"<IDS|MSG>"
TOPIC = b"stream.stdout"  # what ipykernel's stdout publishes on
DATE = "2025-01-01T00:00:00.000000+00:00"
SUBSCRIBE_TIMEOUT_MS = 30_000
FLUSH_TIMEOUT_MS = 60_000


def stream_frames(key: bytes, count: int, start: int = 0) -> list[list[bytes]]:
    """``count`` distinct, signed ``stream`` messages (numbered from ``start``), each the
    frames a kernel sends: topic, delimiter, signature, header, parent, metadata, content.
    Shaped like ipykernel's (the same header fields, a real execute_request parent)."""
    session = uuid.uuid4().hex
    parent = orjson.dumps({
        "msg_id": uuid.uuid4().hex, "session": uuid.uuid4().hex, "username": "bench",
        "date": DATE, "msg_type": "execute_request", "version": "5.3",
    })
    metadata = b"{}"
    mac = hmac.new(key, digestmod=hashlib.sha256)
    out = []
    for n in range(start, start + count):
        header = orjson.dumps({
            "date": DATE, "msg_id": f"{session}_1_{n}", "msg_type": "stream",
            "session": session, "username": "bench", "version": "5.3",
        })
        content = orjson.dumps({"name": "stdout", "text": f"output line {n}\n"})
        h = mac.copy()
        for frame in (header, parent, metadata, content):
            h.update(frame)
        out.append([TOPIC, DELIMITER, h.hexdigest().encode(), header, parent, metadata, content])
    return out


def main() -> int:
    config = json.loads(sys.stdin.readline())
    messages = stream_frames(config["key"].encode(), int(config["count"]))
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.sndhwm = 0  # unlimited: a PUB drops what does not fit
    pub.bind(config["url"])
    print("ready", flush=True)
    if not pub.poll(SUBSCRIBE_TIMEOUT_MS):
        print("publisher: no subscriber", file=sys.stderr, flush=True)
        return 2
    pub.recv()  # the subscription
    # Frame by frame with a plain int flag: send_multipart ORs IntFlag enums in Python for
    # every frame, which costs more than the send itself.
    send = pub.send
    more = int(zmq.SNDMORE)
    t0 = time.perf_counter()
    for frames in messages:
        for frame in frames[:-1]:
            send(frame, more)
        send(frames[-1])
    seconds = time.perf_counter() - t0
    pub.close(linger=FLUSH_TIMEOUT_MS)
    ctx.term()  # returns once everything queued has been handed to the connection
    print(json.dumps({"sent": len(messages), "seconds": seconds}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
