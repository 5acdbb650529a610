"""A synthetic Jupyter kernel that floods IOPub, for the daemon's output benchmark.

    python bench/_daemon_kernel.py CONNECTION_FILE COUNT

It binds the five sockets of CONNECTION_FILE (shell, control and stdin ROUTERs, an iopub
PUB, a heartbeat ROUTER echoed in C like ipykernel's) and prints ``ready``. It answers
``kernel_info_request`` between a ``busy`` and an ``idle`` status, so that a client's
kernel_info-until-iopub loop ends. On every ``execute_request`` it publishes ``busy``,
then COUNT signed ``stream`` messages whose parent is that request (``output line <n>``,
numbered from 0), then ``idle``, then sends the ``execute_reply``.

Publishing must outrun the daemon, or the benchmark measures this process. So the flood
is built and signed first, queued on an inproc pipe, and only then forwarded to the PUB
socket by ``zmq.proxy_steerable`` in a thread, i.e. from C at libzmq speed; the proxy's
statistics say when the queue is empty, and ``TERMINATE`` hands the PUB socket back.
Other requests (complete, inspect, ...) get a ``status: error`` reply.

It prints one JSON line per flood on stdout (``{"count": N, "publish_s": ...}``) and exits
when its stdin closes or after LIFETIME seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import zmq

DELIMITER = b"<IDS|MSG>"
LIFETIME = 600.0  # never outlive a benchmark whose parent vanished
FLOOD_DEADLINE = 120.0
PROTOCOL_VERSION = "5.3"

KERNEL_INFO = {
    "status": "ok",
    "protocol_version": PROTOCOL_VERSION,
    "implementation": "synthetic",
    "implementation_version": "0",
    "language_info": {"name": "python", "version": "3", "mimetype": "text/x-python",
                      "file_extension": ".py"},
    "banner": "a synthetic kernel (kernelbridge benchmarks)",
    "help_links": [],
}


class SyntheticKernel:
    def __init__(self, connection: dict[str, Any], count: int) -> None:
        self.count = count
        self.session = uuid.uuid4().hex
        self.key = str(connection["key"]).encode()
        self.mac = hmac.new(self.key, digestmod=hashlib.sha256)
        self.n_sent = 0
        ip = connection["ip"]
        self.ctx = zmq.Context()

        def bind(kind: int, channel: str) -> zmq.Socket:
            sock = self.ctx.socket(kind)
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = 0  # unlimited (a PUB drops what does not fit)
            sock.bind(f"tcp://{ip}:{connection[channel + '_port']}")
            return sock

        self.shell = bind(zmq.ROUTER, "shell")
        self.control = bind(zmq.ROUTER, "control")
        self.stdin = bind(zmq.ROUTER, "stdin")
        self.iopub = bind(zmq.PUB, "iopub")
        hb = bind(zmq.ROUTER, "hb")
        threading.Thread(target=self._echo, args=(hb,), daemon=True).start()

    @staticmethod
    def _echo(sock: zmq.Socket) -> None:
        try:
            zmq.proxy(sock, sock)  # returns when the context is terminated
        except zmq.ZMQError:
            pass
        finally:
            sock.close(linger=0)

    # -- messages ----------------------------------------------------------------------

    def header(self, msg_type: str) -> bytes:
        self.n_sent += 1
        return orjson.dumps({
            "msg_id": f"{self.session}_{self.n_sent}", "msg_type": msg_type,
            "session": self.session, "username": "synthetic",
            "date": datetime.now(UTC).isoformat(), "version": PROTOCOL_VERSION,
        })

    def frames(self, idents: list[bytes], header: bytes, parent: bytes, content: bytes
               ) -> list[bytes]:
        h = self.mac.copy()
        for part in (header, parent, b"{}", content):
            h.update(part)
        return [*idents, DELIMITER, h.hexdigest().encode(), header, parent, b"{}", content]

    def status(self, state: str, parent: bytes) -> list[bytes]:
        return self.frames([b"status"], self.header("status"), parent,
                           orjson.dumps({"execution_state": state}))

    def reply(self, idents: list[bytes], msg_type: str, parent: bytes,
              content: dict[str, Any]) -> list[bytes]:
        return self.frames(idents, self.header(msg_type), parent, orjson.dumps(content))

    def parse(self, frames: list[bytes]) -> tuple[list[bytes], bytes, dict[str, Any]] | None:
        """(idents, raw header, header) of a signed request, or None if it is not one."""
        try:
            i = frames.index(DELIMITER)
        except ValueError:
            return None
        if len(frames) < i + 6:
            return None
        h = self.mac.copy()
        for part in frames[i + 2 : i + 6]:
            h.update(part)
        if not hmac.compare_digest(h.hexdigest().encode(), frames[i + 1]):
            return None
        return frames[:i], frames[i + 2], orjson.loads(frames[i + 2])

    # -- serving -------------------------------------------------------------------------

    def handle(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        parsed = self.parse(frames)
        if parsed is None:
            return
        idents, parent, header = parsed
        msg_type = header.get("msg_type", "")
        if msg_type == "execute_request":
            self.flood(idents, parent)
            return
        self.iopub.send_multipart(self.status("busy", parent))
        reply_type = msg_type.removesuffix("_request") + "_reply"
        if msg_type == "kernel_info_request":
            content: dict[str, Any] = KERNEL_INFO
        elif msg_type == "shutdown_request":
            content = {"status": "ok", "restart": False}
        else:
            content = {"status": "error", "ename": "NotImplemented", "evalue": msg_type,
                       "traceback": []}
        sock.send_multipart(self.reply(idents, reply_type, parent, content))
        self.iopub.send_multipart(self.status("idle", parent))

    def flood(self, idents: list[bytes], parent: bytes) -> None:
        self.iopub.send_multipart(self.status("busy", parent))
        # Build and sign everything first; only the forwarding below is timed by the
        # reader (from the first output to the last).
        session = self.session.encode()
        date = datetime.now(UTC).isoformat().encode()
        base = self.n_sent
        messages = []
        for n in range(self.count):
            header = (b'{"msg_id":"%b_s%d","msg_type":"stream","session":"%b",'
                      b'"username":"synthetic","date":"%b","version":"5.3"}'
                      % (session, base + n, session, date))
            content = orjson.dumps({"name": "stdout", "text": f"output line {n}\n"})
            messages.append(self.frames([b"stream.stdout"], header, parent, content))
        self.n_sent += self.count
        messages.append(self.status("idle", parent))
        total_frames = sum(len(m) for m in messages)

        queue_in, queue_out = self.ctx.socket(zmq.PAIR), self.ctx.socket(zmq.PAIR)
        control, steer = self.ctx.socket(zmq.REP), self.ctx.socket(zmq.REQ)
        name = uuid.uuid4().hex
        for sock in (queue_in, queue_out):
            sock.linger = 0
            sock.sndhwm = sock.rcvhwm = 0
        queue_in.bind(f"inproc://queue-{name}")
        queue_out.connect(f"inproc://queue-{name}")
        control.bind(f"inproc://control-{name}")
        steer.connect(f"inproc://control-{name}")
        more = int(zmq.SNDMORE)  # a plain int: send_multipart ORs IntFlags per frame
        for frames in messages:
            for frame in frames[:-1]:
                queue_out.send(frame, more)
            queue_out.send(frames[-1])
        del messages

        def command(cmd: bytes) -> list[bytes]:
            steer.send(cmd)
            if not steer.poll(10_000):
                raise RuntimeError(f"the proxy did not answer {cmd!r}")
            return steer.recv_multipart()

        # From here until TERMINATE the PUB socket belongs to the proxy thread.
        proxy = threading.Thread(target=zmq.proxy_steerable,
                                 args=(queue_in, self.iopub, None, control), daemon=True)
        t0 = time.perf_counter()
        proxy.start()
        deadline = time.monotonic() + FLOOD_DEADLINE
        while True:
            stats = command(b"STATISTICS")
            # The 7th value counts the frames the proxy sent to the backend (PUB).
            if int.from_bytes(stats[6], "little") >= total_frames:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the flood was not forwarded in time")
            time.sleep(0.001)
        publish_s = time.perf_counter() - t0
        command(b"TERMINATE")
        proxy.join(10)
        for sock in (queue_in, queue_out, control, steer):
            sock.close(linger=0)
        self.shell.send_multipart(self.reply(idents, "execute_reply", parent, {
            "status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}))
        print(json.dumps({"count": self.count, "publish_s": publish_s}), flush=True)

    def serve(self) -> None:
        poller = zmq.Poller()
        for sock in (self.shell, self.control, self.stdin):
            poller.register(sock, zmq.POLLIN)
        stdin_fd = sys.stdin.fileno()
        poller.register(stdin_fd, zmq.POLLIN)
        print("ready", flush=True)
        end = time.monotonic() + LIFETIME
        while time.monotonic() < end:
            for sock, _ in poller.poll(1000):
                if sock == stdin_fd:
                    return  # the benchmark closed our stdin (or died): stop
                assert isinstance(sock, zmq.Socket)
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if sock is not self.stdin:
                        self.handle(sock, frames)

    def close(self) -> None:
        for sock in (self.shell, self.control, self.stdin, self.iopub):
            sock.close(linger=0)
        self.ctx.term()  # ends the heartbeat thread's proxy (ETERM)


def main() -> int:
    with open(sys.argv[1], "rb") as f:
        connection = json.load(f)
    kernel = SyntheticKernel(connection, int(sys.argv[2]))
    try:
        kernel.serve()
    finally:
        kernel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
