"""A scripted Jupyter kernel on real zmq sockets, for hostile-kernel tests.

``FakeKernel`` binds shell, control and stdin (ROUTER), iopub (PUB) and hb (ROUTER) on
127.0.0.1, writes a 0600 connection file for the daemon to ``kernelbridge/connect`` to, and
serves from a thread of the test process. It signs with plain ``hmac`` (not kernelbridge's
codec, which is what is under test) and refuses requests whose signature does not verify.

What an ``execute_request`` does depends on its code:

``fuzz <seed> <n> [<kind>,...]``
    Publishes ``n`` events drawn with ``random.Random(seed)`` (hostile ones of the kinds
    listed, by default all of ``DROP_COUNTER``'s): legitimate ``stream`` output
    of the request (text ``LEGIT-<i>\\n``), output of another client's execution
    (``OTHER-<i>\\n``), and hostile traffic on iopub, shell and stdin whose text, where it
    has one, is ``EVIL-<kind>-<i>``. ``sent`` counts the hostile messages by kind and
    ``expected_drops()`` says which daemon counter each must land in.
``input <prompt>``
    Asks for input on stdin and prints ``got <value>`` when the reply comes.
``hang``
    Reports ``busy`` and never answers (the kernel itself keeps serving).
anything else
    Prints the code back as ``stdout``.

Every execution is ``busy``, ``execute_input``, outputs, ``execute_reply``, ``idle``, as
ipykernel does. ``hb_paused`` stops the heartbeat (a kernel that is alive but does not
answer). Messages are never sent from two threads: everything runs on the kernel's thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zmq

DELIMITER = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"

KERNEL_INFO = {
    "status": "ok",
    "protocol_version": PROTOCOL_VERSION,
    "implementation": "fake",
    "implementation_version": "0",
    "language_info": {"name": "python", "version": "3", "mimetype": "text/x-python",
                      "file_extension": ".py"},
    "banner": "a scripted kernel (kernelbridge reliability tests)",
    "help_links": [],
}

# Hostile kinds and the counter of ``kernelbridge/kernels``' ``messages.dropped`` that
# each must increase by exactly one per message (protocol.md §3.1).
DROP_COUNTER = {
    "bad_signature": "signature",  # HMAC with another key
    "flipped_signature": "signature",  # one hex digit of a valid HMAC changed
    "tampered": "signature",  # signed, then the content changed
    "unsigned": "signature",  # empty signature frame
    "forged_reply": "signature",  # shell: execute_reply for our request, wrong key
    "forged_input": "signature",  # stdin: input_request for our request, wrong key
    "replay": "replay",  # a legitimate output of this execution, sent again
    "replay_status": "replay",  # the execution's busy status, sent again
    "replay_reply": "replay",  # shell: the first kernel_info_reply, sent again
    "truncated": "truncated",  # a valid message cut after the delimiter
    "no_delimiter": "truncated",  # frames without <IDS|MSG>
    "random_frames": "truncated",  # random bytes, random frame count
    "shell_truncated": "truncated",
    "garbage_json": "json",  # validly signed frames that are not JSON objects
    "bad_header": "header",  # validly signed, header without msg_id/msg_type
    "stray_reply": "unmatchedReply",  # shell: signed reply to a request never sent
    "stray_input": "unmatchedReply",  # stdin: signed input_request for no request of ours
    "unknown_type": "unknownType",  # signed, parent ours, msg_type not in the spec
    "wrong_parent": "unrelatedOutput",  # signed stream whose parent is no execute_request
    "bad_content": "badContent",  # signed output of ours whose fields have wrong types
}
# Output contents with the right msg_type but fields of the wrong JSON type.
BAD_CONTENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("stream", {"name": "stdout", "text": ["{evil}"]}),
    ("stream", {"name": 5, "text": "{evil}"}),
    ("stream", {"name": "stdout", "text": {"evil": "{evil}"}}),
    ("display_data", {"data": "{evil}", "metadata": {}}),
    ("display_data", {"data": {"text/plain": "{evil}"}, "metadata": "{evil}"}),
    ("execute_result", {"data": ["{evil}"], "metadata": {}, "execution_count": 1}),
    ("update_display_data", {"data": {"text/plain": "{evil}"}, "metadata": {},
                             "transient": "{evil}"}),
    ("error", {"ename": "E", "evalue": "{evil}", "traceback": "{evil}"}),
    ("error", {"ename": 5, "evalue": "{evil}", "traceback": []}),
    ("error", {"ename": "E", "evalue": "v", "traceback": ["ok", {"evil": "{evil}"}]}),
    ("clear_output", {"wait": "{evil}"}),
)
HOSTILE_KINDS = tuple(DROP_COUNTER)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class FakeKernel:
    """Start with ``with FakeKernel(directory) as kernel:``; ``kernel.connection_file``
    is what the daemon connects to."""

    def __init__(self, directory: Path, *, key: str | None = None) -> None:
        self.key = key if key is not None else secrets.token_hex(32)
        self.session = uuid.uuid4().hex
        self._mac = hmac.new(self.key.encode(), digestmod=hashlib.sha256)
        self._wrong_mac = hmac.new(b"not-the-key", digestmod=hashlib.sha256)
        self._n = 0
        self.ctx = zmq.Context()
        self.shell = self._bind(zmq.ROUTER)
        self.control = self._bind(zmq.ROUTER)
        self.stdin = self._bind(zmq.ROUTER)
        self.iopub = self._bind(zmq.PUB)
        self.hb = self._bind(zmq.ROUTER)
        self.ports = {name: int(sock.last_endpoint.rsplit(b":", 1)[1])
                      for name, sock in (("shell", self.shell), ("control", self.control),
                                         ("stdin", self.stdin), ("iopub", self.iopub),
                                         ("hb", self.hb))}
        self.connection_file = directory / f"fake-kernel-{uuid.uuid4().hex[:12]}.json"
        fd = os.open(self.connection_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"transport": "tcp", "ip": "127.0.0.1", "key": self.key,
                       "signature_scheme": "hmac-sha256", "kernel_name": "fake",
                       **{f"{name}_port": port for name, port in self.ports.items()}}, f)
        # Hostile messages sent, by kind; requests refused for their signature.
        self.sent: Counter[str] = Counter()
        self.refused_requests = 0
        self.requests: list[str] = []  # msg_types of the requests served
        # The text a fuzz run published as its own stream output, and as another
        # client's, by seed: what the editor must receive, exactly once, in order.
        self.legit_text: dict[int, str] = {}
        self.other_text: dict[int, str] = {}
        self.hb_paused = threading.Event()
        self._first_info_reply: list[bytes] | None = None
        self._waiting_input: tuple[list[bytes], bytes, bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-kernel", daemon=True)

    def _bind(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 0  # unlimited: a PUB drops what does not fit
        sock.bind("tcp://127.0.0.1:*")
        return sock

    def __enter__(self) -> FakeKernel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in (self.shell, self.control, self.stdin, self.iopub, self.hb):
            sock.close(linger=0)
        self.ctx.term()
        self.connection_file.unlink(missing_ok=True)

    def expected_drops(self) -> Counter[str]:
        """The daemon's ``messages.dropped`` counts the hostile messages sent must give."""
        expected: Counter[str] = Counter()
        for kind, n in self.sent.items():
            expected[DROP_COUNTER[kind]] += n
        return expected

    # -- building messages ----------------------------------------------------------------

    def header(self, msg_type: str, session: str | None = None) -> dict[str, Any]:
        self._n += 1
        return {"msg_id": f"{self.session}_{self._n}", "msg_type": msg_type,
                "session": session or self.session, "username": "fake", "date": _now(),
                "version": PROTOCOL_VERSION}

    def sign(self, parts: list[bytes], mac: Any = None) -> bytes:
        h = (mac or self._mac).copy()
        for part in parts:
            h.update(part)
        return h.hexdigest().encode()

    def frames(self, idents: list[bytes], header: dict[str, Any], parent: bytes,
               content: dict[str, Any], *, mac: Any = None) -> list[bytes]:
        parts = [json.dumps(header).encode(), parent, b"{}", json.dumps(content).encode()]
        return [*idents, DELIMITER, self.sign(parts, mac), *parts]

    def stream(self, parent: bytes, text: str, *, session: str | None = None) -> list[bytes]:
        return self.frames([b"stream.stdout"], self.header("stream", session), parent,
                           {"name": "stdout", "text": text})

    def status(self, state: str, parent: bytes) -> list[bytes]:
        return self.frames([b"status"], self.header("status"), parent,
                           {"execution_state": state})

    # -- serving ------------------------------------------------------------------------

    def _serve(self) -> None:
        poller = zmq.Poller()
        for sock in (self.shell, self.control, self.stdin, self.hb):
            poller.register(sock, zmq.POLLIN)
        while not self._stop.is_set():
            for sock, _ in poller.poll(50):
                frames = sock.recv_multipart()
                if sock is self.hb:
                    if not self.hb_paused.is_set():
                        sock.send_multipart(frames)
                elif sock is self.stdin:
                    self._on_stdin(frames)
                else:
                    self._on_request(sock, frames)

    def _verify(self, frames: list[bytes]) -> tuple[list[bytes], bytes, dict[str, Any],
                                                    dict[str, Any]] | None:
        """(idents, raw header, header, content) of a validly signed request, or None."""
        try:
            i = frames.index(DELIMITER)
        except ValueError:
            return None
        if len(frames) < i + 6 or not hmac.compare_digest(
                self.sign(frames[i + 2 : i + 6]), frames[i + 1]):
            return None
        return frames[:i], frames[i + 2], json.loads(frames[i + 2]), json.loads(frames[i + 5])

    def _on_request(self, sock: zmq.Socket, frames: list[bytes]) -> None:
        parsed = self._verify(frames)
        if parsed is None:
            self.refused_requests += 1
            return
        idents, parent, header, content = parsed
        msg_type = header["msg_type"]
        self.requests.append(msg_type)
        if msg_type == "execute_request":
            self._execute(idents, parent, content.get("code", ""))
            return
        self.iopub.send_multipart(self.status("busy", parent))
        if msg_type == "kernel_info_request":
            reply: dict[str, Any] = KERNEL_INFO
        elif msg_type in ("shutdown_request", "interrupt_request"):
            reply = {"status": "ok", "restart": bool(content.get("restart"))}
        else:
            reply = {"status": "error", "ename": "NotImplemented", "evalue": msg_type,
                     "traceback": []}
        reply_type = msg_type.removesuffix("_request") + "_reply"
        out = self.frames(idents, self.header(reply_type), parent, reply)
        if msg_type == "kernel_info_request" and self._first_info_reply is None:
            self._first_info_reply = out
        sock.send_multipart(out)
        self.iopub.send_multipart(self.status("idle", parent))

    def _execute(self, idents: list[bytes], parent: bytes, code: str) -> None:
        self.iopub.send_multipart(busy := self.status("busy", parent))
        self.iopub.send_multipart(self.frames(
            [b"execute_input"], self.header("execute_input"), parent,
            {"code": code, "execution_count": 1}))
        words = code.split()
        if words[:1] == ["fuzz"]:
            kinds = tuple(words[3].split(",")) if len(words) > 3 else HOSTILE_KINDS
            self._fuzz(idents, parent, busy, int(words[1]), int(words[2]), kinds)
        elif words[:1] == ["hang"]:
            return  # busy for ever: no output, no reply, no idle
        elif words[:1] == ["input"]:
            prompt = code.removeprefix("input").strip()
            self.stdin.send_multipart(self.frames(
                idents, self.header("input_request"), parent,
                {"prompt": prompt, "password": False}))
            self._waiting_input = (idents, parent, busy)
            return  # finished when the input_reply comes
        else:
            self.iopub.send_multipart(self.stream(parent, code))
        self._finish(idents, parent)

    def _finish(self, idents: list[bytes], parent: bytes) -> None:
        self.shell.send_multipart(self.frames(
            idents, self.header("execute_reply"), parent,
            {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []}))
        self.iopub.send_multipart(self.status("idle", parent))

    def _on_stdin(self, frames: list[bytes]) -> None:
        parsed = self._verify(frames)
        if parsed is None:
            self.refused_requests += 1
            return
        _, _, header, content = parsed
        if header["msg_type"] != "input_reply" or self._waiting_input is None:
            return
        idents, parent, _ = self._waiting_input
        self._waiting_input = None
        self.iopub.send_multipart(self.stream(parent, f"got {content.get('value')}\n"))
        self._finish(idents, parent)

    # -- hostile traffic ------------------------------------------------------------------

    def _fuzz(self, idents: list[bytes], parent: bytes, busy: list[bytes],
              seed: int, n: int, kinds: tuple[str, ...]) -> None:
        rng = random.Random(seed)
        legit: list[list[bytes]] = []
        legit_text: list[str] = []
        other_text: list[str] = []
        other_parent = json.dumps(self.header("execute_request", session="another-client"))
        for i in range(n):
            roll = rng.random()
            if roll < 0.35:
                legit.append(self.stream(parent, f"LEGIT-{i}\n"))
                legit_text.append(f"LEGIT-{i}\n")
                self.iopub.send_multipart(legit[-1])
            elif roll < 0.40:
                self.iopub.send_multipart(self.stream(other_parent.encode(), f"OTHER-{i}\n"))
                other_text.append(f"OTHER-{i}\n")
            else:
                kind = rng.choice(kinds)
                for sock, frames in self._hostile(kind, i, idents, parent, busy, legit, rng):
                    sock.send_multipart(frames)
                    self.sent[kind] += 1
        self.legit_text[seed] = "".join(legit_text)
        self.other_text[seed] = "".join(other_text)

    def _hostile(self, kind: str, i: int, idents: list[bytes], parent: bytes,
                 busy: list[bytes], legit: list[list[bytes]], rng: random.Random
                 ) -> Iterator[tuple[zmq.Socket, list[bytes]]]:
        evil = f"EVIL-{kind}-{i}\n"
        iopub = self.iopub
        if kind == "bad_signature":
            yield iopub, self.frames([b"x"], self.header("stream"), parent,
                                     {"name": "stdout", "text": evil}, mac=self._wrong_mac)
        elif kind == "flipped_signature":
            frames = self.stream(parent, evil)
            sig = bytearray(frames[2])
            pos = rng.randrange(len(sig))
            sig[pos] = ord("0") if sig[pos] != ord("0") else ord("1")
            frames[2] = bytes(sig)
            yield iopub, frames
        elif kind == "tampered":
            frames = self.stream(parent, f"LEGIT-{i}\n")
            frames[-1] = json.dumps({"name": "stdout", "text": evil}).encode()
            yield iopub, frames
        elif kind == "unsigned":
            frames = self.stream(parent, evil)
            frames[2] = b""
            yield iopub, frames
        elif kind == "forged_reply":
            yield self.shell, self.frames(
                idents, self.header("execute_reply"), parent,
                {"status": "error", "ename": "EVIL", "evalue": evil, "traceback": [evil],
                 "execution_count": 666}, mac=self._wrong_mac)
        elif kind == "forged_input":
            yield self.stdin, self.frames(idents, self.header("input_request"), parent,
                                          {"prompt": evil, "password": False},
                                          mac=self._wrong_mac)
        elif kind == "replay":
            if legit:
                yield iopub, rng.choice(legit)
        elif kind == "replay_status":
            yield iopub, busy
        elif kind == "replay_reply":
            if self._first_info_reply is not None:
                yield self.shell, self._first_info_reply
        elif kind in ("truncated", "shell_truncated"):
            frames = self.stream(parent, evil)
            cut = rng.randrange(2, 6)  # delimiter, signature, up to 3 of the 4 parts
            sock = iopub if kind == "truncated" else self.shell
            yield sock, ([] if sock is iopub else idents) + frames[1 : 1 + cut]
        elif kind == "no_delimiter":
            frames = self.stream(parent, evil)
            yield iopub, [f for f in frames if f != DELIMITER]
        elif kind == "random_frames":
            count = rng.randrange(1, 8)
            yield iopub, [rng.randbytes(rng.randrange(0, 64)) for _ in range(count)]
        elif kind == "garbage_json":
            parts = [json.dumps(self.header("stream")).encode(), parent, b"{}",
                     json.dumps({"name": "stdout", "text": evil}).encode()]
            which = rng.randrange(4)
            parts[which] = rng.choice([b"{not json", b"[1, 2]", b'"a string"', b"\xff\xfe{}",
                                       b"", b"null", evil.encode()])
            yield iopub, [b"x", DELIMITER, self.sign(parts), *parts]
        elif kind == "bad_header":
            header = self.header("stream")
            del header[rng.choice(["msg_id", "msg_type"])]
            yield iopub, self.frames([b"x"], header, parent, {"name": "stdout", "text": evil})
        elif kind == "stray_reply":
            stray_parent = json.dumps(self.header("execute_request", session="nobody"))
            yield self.shell, self.frames(
                idents, self.header("execute_reply"), stray_parent.encode(),
                {"status": "error", "ename": "EVIL", "evalue": evil, "traceback": [],
                 "execution_count": 666})
        elif kind == "stray_input":
            stray_parent = json.dumps(self.header("execute_request", session="nobody"))
            yield self.stdin, self.frames(idents, self.header("input_request"),
                                          stray_parent.encode(),
                                          {"prompt": evil, "password": False})
        elif kind == "unknown_type":
            yield iopub, self.frames([b"x"], self.header(f"evil_type_{i}"), parent,
                                     {"name": "stdout", "text": evil, "data": {
                                         "text/plain": evil}})
        elif kind == "wrong_parent":
            if rng.random() < 0.5:
                bad_parent = b"{}"
            else:
                bad_parent = json.dumps(self.header("kernel_info_request")).encode()
            yield iopub, self.frames([b"x"], self.header("stream"), bad_parent,
                                     {"name": "stdout", "text": evil})
        elif kind == "bad_content":
            msg_type, content = rng.choice(BAD_CONTENTS)
            text = json.dumps(content).replace("{evil}", evil.strip())
            yield iopub, self.frames([b"x"], self.header(msg_type), parent, json.loads(text))
        else:  # pragma: no cover - a kind added to DROP_COUNTER but not here
            raise AssertionError(kind)
