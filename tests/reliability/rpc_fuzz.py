"""A bytes-level driver of the real daemon, and the bookkeeping that checks its answers.

Used by ``test_jsonrpc_fuzz.py`` (part 1 of the reliability suite) and ``test_integrity.py``
(part 4). Nothing here trusts kernelbridge's own code: the daemon is a subprocess
(``python -m kernelbridge --stdio``), bytes go to its stdin as they are, and its stdout is
parsed by ``wire_check.StrictFrameReader``, written for these tests from protocol.md §1 —
not the client library's decoder — and stricter than a client needs to be.

Threads, not an event loop: hypothesis drives plain functions, and a reader thread that
drains stdout continuously cannot deadlock against a test that writes a lot. Every wait
has a deadline (``RawDaemon.wait_for``).

The accounting rule of the fuzzer (:class:`FuzzRunner`), from protocol.md §1 to §1.2:

- Every message with a valid id (integer or string) and a method, or that is rejected with
  its id echoed, must be answered exactly once with that id (result or error). Ids keep
  their JSON type: ``8`` and ``"8"`` are different ids.
- Input that is not a message — framing errors, bodies that are not JSON or not an object,
  batches, invalid ids — is answered with ``id: null``; each case states exactly how many
  such answers it causes.
- Notifications and responses are never answered.
- A case is followed by a *probe*: a request whose params are rejected (``-32602``) at
  once, before anything runs. The daemon reads its input in order and answers errors of
  framing, envelopes and params in that order, so the ``id: null`` answers received
  between the probe of case k-1 and the probe of case k belong to case k. Answers of
  requests that run (results, kernel errors) may come later; they are matched by id.
- Framing corruption does not swallow the probe: a case ends at a frame boundary or with a
  bad header (after which the daemon resynchronises on the probe's ``Content-Length``),
  and its bytes never contain the text ``content-length`` where the daemon is skipping
  garbage (a resynchronising reader cannot tell it from a header; protocol.md §1).
- ``-32603`` (InternalError, "a bug in the daemon") is never a correct answer to input.

A daemon that exits is a crash; a traceback in its stderr is a bug (the reader logs and
swallows exceptions so the daemon keeps serving: the message that caused it was probably
not answered).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .probes import DAEMON, daemon_env, figures_path, update_figures
from .wire_check import IdKey, StrictFrameReader, WireViolation, id_key

# -- the daemon as a subprocess -----------------------------------------------------------


class RawDaemon:
    """``kernelbridge --stdio`` with raw pipes.

    - ``send(bytes)`` queues bytes for a writer thread (the test never blocks on a full
      pipe; ``flush`` waits, bounded, until they are written).
    - A reader thread parses stdout strictly and appends every message to ``messages``
      (arrival order); ``wait_for`` waits on it. It answers the daemon's own requests
      (``kernelbridge/input``) with an empty line, so a fuzzed ``input()`` cannot hang.
    - A slow client: ``read_delay`` seconds of sleep after each read of at most
      ``read_chunk`` bytes, and ``pause_reading()``/``resume_reading()``, which stop
      reading altogether (the pipe fills and the daemon must hold its output).
    - stderr goes to a file: ``stderr_text()``; ``tracebacks()`` lists the logged ones.
    """

    def __init__(self, *, cwd: str | None = None, read_chunk: int = 1 << 16,
                 read_delay: float = 0.0, env: dict[str, str] | None = None) -> None:
        # Closed in ``close`` (the daemon writes to it for its whole life).
        self._stderr = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="kb-daemon-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            DAEMON, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=cwd, env=env or daemon_env(), bufsize=0)
        self.read_chunk = read_chunk
        self.read_delay = read_delay
        self.reader = StrictFrameReader()
        self.messages: list[dict[str, Any]] = []
        self.responses: dict[IdKey, list[dict[str, Any]]] = {}
        self.null_responses = 0
        self.eof = False
        self.violation: BaseException | None = None
        self.read_bytes = 0
        self._cond = threading.Condition()
        self._reading = threading.Event()
        self._reading.set()
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        self._written = threading.Condition()
        self._unwritten = 0
        self.write_error: BaseException | None = None
        self._next_id = 0
        # Requests this driver sent itself (``request``): each must be answered once.
        self.sent: Counter[IdKey] = Counter()
        self._threads = [threading.Thread(target=self._read_loop, daemon=True),
                         threading.Thread(target=self._write_loop, daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- writing --

    def send(self, data: bytes) -> None:
        if not data:
            return
        with self._written:
            self._unwritten += 1
        self._writes.put(data)

    def send_message(self, message: Any) -> None:
        self.send(frame(orjson.dumps(message)))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything sent so far is in the pipe."""
        with self._written:
            if not self._written.wait_for(
                    lambda: self._unwritten == 0 or self.write_error is not None, timeout):
                raise TimeoutError(f"could not write to the daemon within {timeout} s "
                                   f"({self.describe()})")

    def _write_loop(self) -> None:
        assert self.process.stdin is not None
        fd = self.process.stdin.fileno()
        while True:
            data = self._writes.get()
            if data is None:
                return
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:  # the daemon is gone: reported by the checks
                self.write_error = exc
            with self._written:
                self._unwritten -= 1
                self._written.notify_all()

    def close_stdin(self) -> None:
        """End of input (after what was sent so far)."""
        self.flush()
        self._writes.put(None)
        self._threads[1].join(10)
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()

    # -- reading --

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def _read_loop(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        try:
            while True:
                self._reading.wait(600)
                chunk = os.read(fd, self.read_chunk)
                if not chunk:
                    break
                self.read_bytes += len(chunk)
                messages = self.reader.feed(chunk)
                answers = []
                with self._cond:
                    for message in messages:
                        self.messages.append(message)
                        if "method" not in message:
                            if message["id"] is None:
                                self.null_responses += 1
                            else:
                                self.responses.setdefault(id_key(message["id"]), []).append(
                                    message)
                        elif "id" in message:
                            answers.append(message["id"])
                    self._cond.notify_all()
                for msg_id in answers:  # the daemon asks (kernelbridge/input): answer ""
                    self.send_message({"jsonrpc": "2.0", "id": msg_id,
                                       "result": {"value": ""}})
                if self.read_delay:
                    time.sleep(self.read_delay)  # the slow client: deliberate
            if self.reader.pending:
                raise WireViolation(f"stdout ended inside a frame "
                                    f"({self.reader.pending} bytes pending)")
        except BaseException as exc:
            self.violation = exc
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` (called under the lock) holds; raise on the deadline,
        on a wire violation, or when the daemon's output ended first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self.violation is not None:
                    raise WireViolation(f"while waiting for {what}: {self.violation!r}")
                if predicate():
                    return
                if self.eof:
                    raise DaemonCrashed(f"the daemon's output ended while waiting for {what} "
                                        f"({self.describe()})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s ({self.describe()})")
                self._cond.wait(min(left, 1.0))

    def request(self, method: str, params: Any = None, *, timeout: float = 30.0,
                msg_id: int | str | None = None) -> dict[str, Any]:
        """Send a request and wait for its one answer (the whole response message)."""
        if msg_id is None:
            self._next_id += 1
            msg_id = f"raw-{self._next_id}"
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        key = id_key(msg_id)
        with self._cond:
            before = len(self.responses.get(key, ()))
            self.sent[key] += 1
        self.send_message(message)
        self.wait_for(lambda: len(self.responses.get(key, ())) > before, timeout,
                      f"the answer to {method} {msg_id!r}")
        with self._cond:
            return self.responses[key][before]

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send_message(message)

    def initialize(self, options: dict[str, Any] | None = None, timeout: float = 60) -> None:
        params: dict[str, Any] = {"capabilities": {}, "processId": None}
        if options is not None:
            params["initializationOptions"] = options
        answer = self.request("initialize", params, timeout=timeout)
        assert "result" in answer, answer
        self.notify("initialized", {})

    # -- state --

    def alive(self) -> bool:
        return self.process.poll() is None and not self.eof

    def describe(self) -> str:
        code = self.process.poll()
        state = "running" if code is None else f"exited with {code}"
        tail = self.stderr_text()[-1500:]
        return f"daemon {state}; stderr tail: {tail!r}"

    def stderr_text(self) -> str:
        try:
            return Path(self._stderr.name).read_text(errors="replace")
        except OSError:
            return ""

    def tracebacks(self) -> list[str]:
        """Exceptions the daemon logged (each one a bug that was swallowed to keep serving)."""
        text = self.stderr_text()
        return [part[:3000] for part in re.split(r"(?m)^(?=kernelbridge \w+ )", text)
                if "Traceback (most recent call last)" in part]

    def shutdown_and_exit(self, timeout: float = 60.0) -> int:
        """``shutdown``, ``exit``; the exit status (0 expected)."""
        answer = self.request("shutdown", timeout=timeout)
        assert answer.get("result", "missing") is None, answer
        self.notify("exit")
        self.close_stdin()
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"the daemon did not exit within {timeout} s") from None
        self.wait_for(lambda: self.eof, 10, "the end of stdout")
        self._threads[0].join(10)
        return code

    def close(self) -> None:
        """Make sure the process and its threads are gone (test teardown)."""
        self._reading.set()  # a paused reader would leave the daemon blocked on its stdout
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.close_stdin()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._writes.put(None)
        for thread in self._threads:
            thread.join(5)
        self._stderr.close()
        with contextlib.suppress(OSError):
            os.unlink(self._stderr.name)


class DaemonCrashed(AssertionError):
    """The daemon exited (or closed its stdout) while it should have been serving."""


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


# -- the fuzzer's bookkeeping -------------------------------------------------------------


@dataclass
class Case:
    """One fuzz input: bytes and what protocol.md says they must cause.

    ``answers``: ids that must each get one answer, with the error code it must carry
    (``None``: any result or error except -32603; ``VALID``: that, and no invalid-params
    error either). ``nulls``: exact number of ``id:
    null`` error answers; ``null_codes``: their allowed codes. ``silent``: ids in the
    bytes that must never be answered (requests inside a batch).
    """

    category: str
    data: bytes
    answers: list[tuple[IdKey, int | None]] = field(default_factory=list)
    nulls: int = 0
    null_codes: frozenset[int] = frozenset({-32700, -32600})
    note: str = ""
    silent: list[IdKey] = field(default_factory=list)

    def show(self) -> str:
        data = self.data if len(self.data) <= 600 else (
            self.data[:400] + b"...<%d bytes>..." % len(self.data) + self.data[-150:])
        return f"[{self.category}] {self.note} {data!r}"


@dataclass
class Figures:
    """What a fuzz run did: reported by the tests (figures for the reliability note)."""

    inputs: Counter[str] = field(default_factory=Counter)
    bytes_sent: int = 0
    requests_answered: int = 0
    null_answers: int = 0
    notifications: Counter[str] = field(default_factory=Counter)
    # Answers to the cases (not the probes) by error code, "result" for results.
    codes: Counter[int | str] = field(default_factory=Counter)
    probes: int = 0
    alive_checks: int = 0
    crashes: int = 0
    unanswered: int = 0
    over_answered: int = 0
    wrong_answers: int = 0
    server_errors: int = 0
    daemons: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputs": sum(self.inputs.values()), "inputs_by_category": dict(self.inputs),
            "bytes_sent": self.bytes_sent, "requests_answered": self.requests_answered,
            "null_id_answers": self.null_answers, "probes": self.probes,
            "alive_checks": self.alive_checks, "crashes": self.crashes,
            "unanswered": self.unanswered, "answered_more_than_once": self.over_answered,
            "wrong_answers": self.wrong_answers, "server_errors": self.server_errors,
            "daemons_started": self.daemons,
            "answers": {str(k): v for k, v in sorted(self.codes.items(), key=str)},
            "notifications": dict(self.notifications),
            "daemon_seconds": round(self.seconds, 1),  # sending and checking, not generating
        }


class FuzzFailure(AssertionError):
    pass


# The code of an answer that may be anything but an error about the params' types: the
# params were valid (protocol.md §1.2: -32602 "invalid params: ..." only for params that
# do not fit).
VALID = 0


def _params_error(answer: dict[str, Any]) -> bool:
    error = answer.get("error") or {}
    return error.get("code") == -32602 and error.get("message", "").startswith(
        ("invalid params", "invalid arguments", "params:"))


class FuzzRunner:
    """Streams cases through one daemon and checks every answer (rules: module docstring).

    ``setup`` brings a fresh daemon to the state the cases expect (initialize, a kernel,
    ...). After a failure or a crash the next batch starts on a fresh daemon, so that
    hypothesis can replay and shrink the failing batch from a known state.
    """

    PROBE = "~probe-%d"

    def __init__(self, figures: Figures, setup: Callable[[RawDaemon], None] | None = None,
                 alive: Callable[[RawDaemon], None] | None = None,
                 answer_timeout: float = 60.0, cwd: str | None = None) -> None:
        self.figures = figures
        self._setup = setup
        self._alive = alive or alive_kernels
        self.answer_timeout = answer_timeout
        self.cwd = cwd
        self.daemon: RawDaemon | None = None
        # Per daemon: how often each id was sent in a message that must be answered.
        self.expected: Counter[IdKey] = Counter()
        self._cursor = 0  # messages of the daemon already attributed to cases
        self._probes = 0
        self._tracebacks_seen = 0
        self._shown: dict[IdKey, Case] = {}  # the case of each id of the batch

    # -- daemon lifetime --

    def ensure_daemon(self) -> RawDaemon:
        if self.daemon is not None and self.daemon.alive():
            return self.daemon
        self.discard_daemon()
        self.daemon = RawDaemon(cwd=self.cwd)
        self.figures.daemons += 1
        self.expected = Counter()
        self._tracebacks_seen = 0
        if self._setup is not None:
            self._setup(self.daemon)
        with self.daemon._cond:
            self._cursor = len(self.daemon.messages)
        return self.daemon

    def discard_daemon(self) -> None:
        if self.daemon is not None:
            self.daemon.close()
            self.daemon = None

    def close(self) -> None:
        """Final accounting: the daemon shuts down cleanly, and with everything it wrote
        read, every id was answered exactly as often as it was sent."""
        daemon = self.daemon
        if daemon is None:
            return
        try:
            code = daemon.shutdown_and_exit()
            if code != 0:
                raise FuzzFailure(f"exit status {code} after shutdown/exit "
                                  f"({daemon.describe()})")
            self._check_over(daemon, list(daemon.responses))
            self._check_stderr(daemon)
        finally:
            self.discard_daemon()

    # -- running cases --

    def run(self, cases: Iterable[Case]) -> None:
        """Send a batch (each case followed by a probe), then check it."""
        cases = list(cases)
        daemon = self.ensure_daemon()
        try:
            self._run(daemon, cases)
        except DaemonCrashed as exc:
            self.figures.crashes += 1
            shown = "\n".join(c.show() for c in cases)
            self.discard_daemon()
            raise FuzzFailure(f"the daemon crashed on this batch:\n{shown}\n{exc}") from None
        except BaseException:
            # Leave no half-checked state behind: the next batch gets a fresh daemon.
            self.discard_daemon()
            raise

    def _run(self, daemon: RawDaemon, cases: list[Case]) -> None:
        start = time.monotonic()
        probes = []
        batch: dict[IdKey, int | None] = {}
        silent: list[IdKey] = []
        for case in cases:
            self._probes += 1
            probe = self.PROBE % self._probes
            probes.append(probe)
            self.expected[id_key(probe)] += 1
            for key, code in case.answers:
                self.expected[key] += 1
                batch[key] = code
                self._shown[key] = case
            silent.extend(case.silent)
            self.figures.inputs[case.category] += 1
            self.figures.bytes_sent += len(case.data)
            daemon.send(case.data + probe_frame(probe))
        self.figures.probes += len(probes)
        last = id_key(probes[-1])
        daemon.wait_for(lambda: last in daemon.responses, self.answer_timeout,
                        f"probe {probes[-1]!r}")
        self._attribute(daemon, cases, probes)
        keys = list(batch) + [id_key(p) for p in probes]
        self._wait_answers(daemon, keys)
        self._check_over(daemon, keys + silent)
        self._check_codes(daemon, batch)
        self.figures.requests_answered += sum(1 for c in cases for _ in c.answers)
        self._shown.clear()
        self._alive(daemon)
        self.figures.alive_checks += 1
        self._check_stderr(daemon)
        self.figures.seconds += time.monotonic() - start

    def _attribute(self, daemon: RawDaemon, cases: list[Case], probes: list[str]) -> None:
        """Split the answers up to the last probe by case (the module docstring's rule)."""
        with daemon._cond:
            messages = daemon.messages[self._cursor :]
        index = 0
        nulls: list[list[dict[str, Any]]] = [[] for _ in cases]
        for position, message in enumerate(messages):
            if "method" in message:
                kind = _notification_kind(message)
                self.figures.notifications[kind] += 1
                if kind == "window/showMessage type 1":  # "Error in server": a handler raised
                    self.figures.server_errors += 1
                    raise FuzzFailure(f"{message['params']['message']} after "
                                      f"{cases[min(index, len(cases) - 1)].show()}")
                continue
            msg_id = message["id"]
            if msg_id is None:
                self.figures.codes[message["error"]["code"]] += 1
                nulls[index].append(message)
            elif msg_id == probes[index]:
                # -32602 (-32002 before initialize): rejected at once, as intended.
                if message.get("error", {}).get("code") not in (-32602, -32002):
                    raise FuzzFailure(f"the probe after {cases[index].show()} was answered "
                                      f"{message}")
                index += 1
                if index == len(probes):
                    self._cursor += position + 1
                    break
            elif isinstance(msg_id, str) and msg_id.startswith("~probe-"):
                raise FuzzFailure(f"probe answered out of order: {message}, expected "
                                  f"{probes[index]!r}")
        else:
            raise FuzzFailure(f"only {index} of {len(probes)} probes answered in order")
        for case, got in zip(cases, nulls, strict=True):
            self.figures.null_answers += len(got)
            if len(got) != case.nulls or any(
                    m["error"]["code"] not in case.null_codes for m in got):
                self.figures.wrong_answers += 1
                raise FuzzFailure(
                    f"expected {case.nulls} id-null answers (codes {sorted(case.null_codes)})"
                    f", got {len(got)}: {got}\nfor {case.show()}")

    def _wanted(self, daemon: RawDaemon, key: IdKey) -> int:
        return self.expected[key] + daemon.sent[key]

    def _wait_answers(self, daemon: RawDaemon, keys: list[IdKey]) -> None:
        """Every id of the batch answered (those that run may answer after the probes)."""

        def missing() -> dict[IdKey, tuple[int, int]]:
            return {k: (self._wanted(daemon, k), len(daemon.responses.get(k, ())))
                    for k in keys
                    if len(daemon.responses.get(k, ())) < self._wanted(daemon, k)}

        try:
            daemon.wait_for(lambda: not missing(), self.answer_timeout,
                            "answers to every request of the batch")
        except TimeoutError:
            with daemon._cond:
                gone = missing()
            self.figures.unanswered += sum(n - r for n, r in gone.values())
            raise FuzzFailure(f"requests never answered (id: (sent, answered)): "
                              f"{dict(list(gone.items())[:20])}\n{self._cases(gone)}"
                              ) from None

    def _check_over(self, daemon: RawDaemon, keys: list[IdKey]) -> None:
        with daemon._cond:
            over = {k: (self._wanted(daemon, k), len(daemon.responses.get(k, ())))
                    for k in keys
                    if len(daemon.responses.get(k, ())) > self._wanted(daemon, k)}
        if over:
            self.figures.over_answered += sum(r - n for n, r in over.values())
            raise FuzzFailure(f"ids answered more often than sent (id: (sent, answered)): "
                              f"{dict(list(over.items())[:20])}\n{self._cases(over)}")

    def _check_codes(self, daemon: RawDaemon, batch: dict[IdKey, int | None]) -> None:
        """No answer is -32603; an id sent once with an expected code answers that code."""
        for key, code in batch.items():
            with daemon._cond:
                answers = list(daemon.responses.get(key, ()))
            for answer in answers:
                got = answer.get("error", {}).get("code")
                self.figures.codes["result" if got is None else got] += 1
                single = self._wanted(daemon, key) == 1
                if code == VALID:
                    wrong = single and _params_error(answer)
                else:
                    wrong = single and code is not None and got != code
                if got == -32603 or wrong:
                    self.figures.wrong_answers += 1
                    want = {None: "an answer", VALID: "no invalid-params error"}.get(
                        code, f"error {code}")
                    raise FuzzFailure(f"id {key[1]!r}: expected {want} (never -32603), "
                                      f"got {answer}\n{self._cases([key])}")

    def _cases(self, keys: Iterable[IdKey]) -> str:
        return "\n".join(self._shown[k].show() for k in list(keys)[:5] if k in self._shown)

    def _check_stderr(self, daemon: RawDaemon) -> None:
        tracebacks = daemon.tracebacks()
        if len(tracebacks) > self._tracebacks_seen:
            new = tracebacks[self._tracebacks_seen:]
            self._tracebacks_seen = len(tracebacks)
            raise FuzzFailure("the daemon logged an exception (a swallowed bug):\n"
                              + "\n".join(new[:3]))


def _notification_kind(message: dict[str, Any]) -> str:
    method = message["method"]
    if method == "window/showMessage":
        kind = message.get("params", {}).get("type")
        return f"window/showMessage type {kind}"
    return method


def probe_frame(probe: str) -> bytes:
    # kernelbridge/bind without its required params: -32602, decided while structuring the
    # params, before anything runs (a check inside a handler would answer later).
    return frame(b'{"jsonrpc":"2.0","id":"%b","method":"kernelbridge/bind","params":{}}'
                 % probe.encode())


def alive_kernels(daemon: RawDaemon) -> None:
    """A valid request is still served: ``kernelbridge/kernels`` answers a list."""
    answer = daemon.request("kernelbridge/kernels", timeout=60)
    if not isinstance(answer.get("result"), list):
        raise FuzzFailure(f"kernelbridge/kernels after the batch answered {answer}")


# -- reporting ----------------------------------------------------------------------------


LONG = os.environ.get("KERNELBRIDGE_RELIABILITY_LONG") == "1"


def report_figures(config: Any, module: str, test: str, figures: dict[str, Any]) -> Path:
    """Record a test's figures under its name in its module's figures file, and write them
    to the terminal whatever the capture mode."""
    path = update_figures(module, test, figures)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        line = f"[reliability] {module}.{test}: {json.dumps(figures, sort_keys=True)} ({path})"
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line("")
                reporter.write_line(line)
        else:
            reporter.write_line(line)
    return path


__all__ = [
    "DAEMON", "LONG", "VALID", "Case", "DaemonCrashed", "Figures", "FuzzFailure", "FuzzRunner",
    "RawDaemon", "alive_kernels", "daemon_env", "figures_path", "frame", "probe_frame",
    "report_figures",
]
