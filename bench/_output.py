"""Stream output of a real ipykernel through the daemon to an editor, against the raw client.

One ipykernel (python3 kernelspec) started through ``kernelbridge --stdio``; the raw pyzmq
client (``bench/_rawclient.py``) connects to the same kernel with its connection file.
The editor end is this process: it writes requests on the daemon's stdin and reads its
stdout straight from the pipe's fd (``os.read``, no stream buffer in between), at most
``RATE`` bytes/s when throttled (a token bucket without burst credit: after each read it
sleeps until that read's bytes are paid for, so the pipe fills whenever the daemon has
more to say than the editor takes).

1. Flood: ``for i in range(N): print(i)`` (N = 1M, 200k with --quick), executed through the
   daemon and read by the editor at ~3 MiB/s, alternated with the same code executed by the
   raw client, which reads iopub at full speed (the same execute_request content: the
   daemon is sent allowStdin false). Times: execute sent -> response at the
   editor (the daemon answers after the kernel's idle, all output before it), and
   execute_request -> idle at the raw client. Goal: daemon p50 <= 1.02x raw p50. The raw
   client's SUB also watches the daemon's own executions at full speed (counting their
   kernel stream messages and noting their idle): the same-execution ratio (same goal) has no
   run-to-run kernel noise. Checked: the editor's text equals the printed text exactly, seq
   has no gaps (over every output notification of the run, the daemon's forwarding of the
   raw client's floods included). Daemon peak RSS: VmHWM, reset before each flood (writing
   5 to /proc/PID/clear_refs) where the kernel allows it. Goal: <= 100 MiB.
2. ``print(i, flush=True)`` x 20,000 (one kernel message per line), editor at full speed:
   only the daemon's coalescing window merges them. Goal: <= 1 notification per 10 lines.
3. One 40 MB stream message (``sys.stdout.write('x' * 40_000_000)``), editor at full speed
   (and, without --quick, again at ~3 MiB/s, the whole message queued in the daemon): the
   text arrives whole in notifications of <= maxChunkChars characters; the daemon's peak
   RSS growth over it. The issue asks only that RSS "stays bounded"; the goal used here is
   growth <= 5x the message size.

Every process started here (the daemon, its kernel) is gone at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import orjson
import zmq

from bench._common import Context, Figure, Goal, bootstrap, median
from bench._daemon import (
    DAEMON,
    KERNEL,
    START_TIMEOUT,
    STOP_TIMEOUT,
    LeanFramer,
    _tail,
    cpu_seconds,
    ensure_gone,
    peak_rss_mib,
    rss_mib,
    stop_process,
)
from bench._rawclient import RawClient, decode, recv
from kernelbridge.bridge import OutputOptions
from kernelbridge.client import encode_message

TITLE = "stream output of a real ipykernel through the daemon to a slow editor, against raw pyzmq"

RATE = 3 * 1024 * 1024  # bytes/s of the throttled editor
FAST_CHUNK = 1 << 20  # read size of the full-speed editor (the pipe holds less)
MAX_CHUNK_CHARS = OutputOptions().max_chunk_chars  # the daemon's default (no options sent)
BIG_CHARS = 40_000_000
FLUSH_LINES = 20_000
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)

FLOOD_TIMEOUT = 600.0  # one execution, request to response (1M prints take ipykernel ~20 s)
STATUS_TIMEOUT = 120.0  # the daemon's forwarding of the raw client's flood, after its idle

FLOOD_RATIO_GOAL = Goal("<=", 1.02)
PEAK_RSS_GOAL = Goal("<=", 100)  # MiB, absolute
EXACT_GOAL = Goal(">=", 1)  # fraction of executions delivered exactly
FLUSH_GOAL = Goal("<=", 0.1)  # notifications per line
BIG_GROWTH_GOAL = Goal("<=", 5)  # peak RSS growth over the message size


@dataclass(frozen=True, slots=True)
class Plan:
    lines: int  # print() calls per flood
    rounds: int  # timed floods of each client, alternated
    warmup_lines: int  # one untimed flood of each first
    slow_big: bool  # also send the 40 MB message to the throttled editor


FULL = Plan(lines=1_000_000, rounds=5, warmup_lines=20_000, slow_big=True)
QUICK = Plan(lines=200_000, rounds=2, warmup_lines=20_000, slow_big=False)


def flood_code(lines: int) -> str:
    return f"for i in range({lines}): print(i)"


def flood_text(lines: int) -> str:
    return "".join(f"{i}\n" for i in range(lines))


# -- memory -----------------------------------------------------------------------------


def reset_peak(pid: int) -> bool:
    """Reset ``pid``'s VmHWM to its current RSS (``5 > /proc/PID/clear_refs``, Linux 4.0+,
    needs the right to write there). True if the peak is now the current RSS."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return peak_rss_mib(pid) <= rss_mib(pid) + 1.0


@dataclass(slots=True)
class Memory:
    """The daemon's RSS before a phase and its peak during it."""

    before: float
    peak: float = 0.0
    reset: bool = False  # False: the peak is the process's lifetime VmHWM

    @classmethod
    def start(cls, pid: int) -> Memory:
        reset = reset_peak(pid)
        return cls(rss_mib(pid), reset=reset)

    def stop(self, pid: int) -> None:
        self.peak = peak_rss_mib(pid)

    @property
    def growth(self) -> float:
        return self.peak - self.before


def _peak_note(memories: list[Memory]) -> str:
    if all(m.reset for m in memories):
        return "VmHWM reset before each phase"
    return "VmHWM could not be reset: peaks are the daemon's lifetime peak so far"


# -- the editor ---------------------------------------------------------------------------


class _Reply:
    __slots__ = ("at", "event", "message")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.message: dict[str, Any] = {}
        self.at = 0.0  # perf_counter when the chunk that carried it was read


@dataclass(slots=True)
class ReadStats:
    """What the editor's reader saw since ``Editor.begin``."""

    reads: int = 0
    full_reads: int = 0  # reads that found a full pipe (the daemon was blocked on it)
    bytes: int = 0
    first: float = 0.0
    last: float = 0.0

    @property
    def rate_mib(self) -> float:
        elapsed = self.last - self.first
        return self.bytes / elapsed / (1 << 20) if elapsed > 0 else 0.0


class Editor:
    """The editor end of a daemon: requests on its stdin, its stdout read from the pipe's
    fd at full speed or at most ``rate`` bytes/s. Output notification bodies are kept as
    they are (``framer.outputs``, decoded after the phase); responses and statuses are
    timestamped when the chunk that carried them was read. Server requests are answered
    null."""

    def __init__(self, process: anyio.abc.Process, fd: int) -> None:
        assert process.stdin is not None
        self.process = process
        self.pid = process.pid
        self._stdin = process.stdin
        self._fd = fd
        self.pipe_size = fcntl.fcntl(fd, F_GETPIPE_SZ)
        self.rate: float | None = None
        self.framer = LeanFramer(self._on_message)
        self.statuses: list[tuple[float, dict[str, Any]]] = []
        self.stats = ReadStats()
        self._status_event = anyio.Event()
        self._pending: dict[int, _Reply] = {}
        self._answers: list[bytes] = []
        self._next_id = 1
        self._now = 0.0
        self._paid_until = 0.0
        self._lock = anyio.Lock()

    def begin(self, rate: float | None) -> None:
        """A new phase: forget the outputs and read statistics, read at ``rate``."""
        self.rate = rate
        self.framer.reset()
        self.stats = ReadStats()

    def _on_message(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if "id" in message:
                self._answers.append(encode_message(
                    {"jsonrpc": "2.0", "id": message["id"], "result": None}))
            elif message["method"] == "kernelbridge/status":
                self.statuses.append((self._now, message["params"]))
                self._status_event.set()
            return
        reply = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if reply is not None:
            reply.message = message
            reply.at = self._now
            reply.event.set()

    async def read_loop(self) -> None:
        fd = self._fd
        clock = time.perf_counter
        feed = self.framer.feed
        while True:
            chunk = self.pipe_size if self.rate else FAST_CHUNK
            try:
                data = os.read(fd, chunk)
            except BlockingIOError:
                await anyio.wait_readable(fd)
                continue
            if not data:
                break
            now = self._now = clock()
            stats = self.stats
            if not stats.reads:
                stats.first = now
            stats.reads += 1
            stats.bytes += len(data)
            stats.last = now
            if len(data) >= self.pipe_size:
                stats.full_reads += 1
            feed(data, now)
            if self._answers:
                answers, self._answers = self._answers, []
                await self._send(b"".join(answers))
            if self.rate:
                self._paid_until = max(self._paid_until, now) + len(data) / self.rate
                delay = self._paid_until - clock()
                if delay > 0:
                    await anyio.sleep(delay)
        for reply in self._pending.values():
            reply.message = {"error": {"message": "the daemon closed its output"}}
            reply.event.set()

    async def _send(self, data: bytes) -> None:
        async with self._lock:
            await self._stdin.send(data)

    async def request(self, method: str, params: Any, timeout: float) -> tuple[Any, float]:
        """The result of ``method`` and when its response was read."""
        msg_id = self._next_id
        self._next_id += 1
        reply = self._pending[msg_id] = _Reply()
        await self._send(encode_message(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        try:
            with anyio.fail_after(timeout):
                await reply.event.wait()
        except TimeoutError:
            raise RuntimeError(f"{method}: no response within {timeout} s") from None
        finally:
            self._pending.pop(msg_id, None)
        if "error" in reply.message:
            raise RuntimeError(f"{method}: {reply.message['error']}")
        return reply.message.get("result"), reply.at

    async def notify(self, method: str, params: Any = None) -> None:
        await self._send(encode_message({"jsonrpc": "2.0", "method": method, "params": params}))

    async def wait_status(self, since: int, match: Callable[[dict[str, Any]], bool],
                          timeout: float) -> float:
        """When the first status notification from index ``since`` on that ``match``es
        was read."""
        with anyio.fail_after(timeout):
            while True:
                for at, params in self.statuses[since:]:
                    if match(params):
                        return at
                since = len(self.statuses)
                self._status_event = anyio.Event()
                await self._status_event.wait()


@contextlib.asynccontextmanager
async def spawn_daemon() -> AsyncIterator[Editor]:
    """``kernelbridge --stdio`` with its stdout on a pipe this process reads from the fd,
    initialized (no initializationOptions: every output option at its default). On exit:
    ``shutdown`` + ``exit``, and the process is gone."""
    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as stderr, contextlib.ExitStack() as fds:
        fds.callback(os.close, read_fd)
        try:
            process = await anyio.open_process(DAEMON, stdin=subprocess.PIPE, stdout=write_fd,
                                               stderr=stderr)
        finally:
            os.close(write_fd)  # the daemon has it; EOF on read_fd when it exits
        os.set_blocking(read_fd, False)
        try:
            async with anyio.create_task_group() as tg:
                editor = Editor(process, read_fd)
                tg.start_soon(editor.read_loop)
                await editor.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                                    "capabilities": {}}, START_TIMEOUT)
                await editor.notify("initialized", {})
                try:
                    yield editor
                finally:
                    editor.begin(None)  # drain whatever is left at full speed
                    with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_TIMEOUT), \
                            contextlib.suppress(Exception):
                        await editor.request("shutdown", None, STOP_TIMEOUT)
                        await editor.notify("exit")
                    tg.cancel_scope.cancel()
        except BaseException:
            print(f"bench: the daemon failed; its stderr:\n{_tail(stderr)}", file=sys.stderr)
            raise
        finally:
            await stop_process(process)


# -- checks -------------------------------------------------------------------------------


class SeqChain:
    """Every output notification of the kernel, in the order read: seq 1, 2, 3, ... with
    no gap and no repeat, across phases."""

    def __init__(self) -> None:
        self.next = 1
        self.problems: list[str] = []

    def take(self, bodies: list[bytes]) -> list[dict[str, Any]]:
        """The params of ``bodies``, their seqs checked."""
        params = [orjson.loads(body)["params"] for body in bodies]
        for p in params:
            if p["seq"] != self.next:
                self.problems.append(f"seq {p['seq']} where {self.next} was due")
            self.next = p["seq"] + 1
        return params


@dataclass(slots=True)
class Delivery:
    """What the editor got of one execution."""

    notifications: int
    exact: bool
    problem: str = ""
    max_chars: int = 0


def check_delivery(params: list[dict[str, Any]], execution_id: str | None,
                   expected: str) -> Delivery:
    """The stdout text of ``execution_id``'s notifications, joined, is ``expected``."""
    mine = [p for p in params if p.get("executionId") == execution_id]
    others = len(params) - len(mine)
    kinds = {(p["type"], p["content"].get("name")) for p in mine}
    texts = [p["content"].get("text", "") for p in mine]
    text = "".join(texts)
    max_chars = max((len(t) for t in texts), default=0)
    problem = ""
    if others:
        problem = f"{others} notifications of other executions in between"
    elif kinds - {("stream", "stdout")}:
        problem = f"unexpected outputs {sorted(kinds - {('stream', 'stdout')})}"
    elif text != expected:
        at = next((i for i, (a, b) in enumerate(zip(text, expected, strict=False)) if a != b),
                  min(len(text), len(expected)))
        problem = (f"text differs at char {at:,} ({len(text):,} chars received, "
                   f"{len(expected):,} sent): {text[at:at + 20]!r} vs {expected[at:at + 20]!r}")
    return Delivery(len(mine), not problem, problem, max_chars)


# -- the raw client -----------------------------------------------------------------------


@dataclass(slots=True)
class Watch:
    """The raw client's iopub SUB watching an execution it did not send (the daemon's):
    its kernel stream messages, and when its idle came."""

    streams: int = 0
    idle_at: float = 0.0
    done: anyio.Event = field(default_factory=anyio.Event)

    async def run(self, raw: RawClient) -> None:
        mac = raw._mac
        sock = raw.iopub
        clock = time.perf_counter
        while True:
            header, parent, _, content = decode(mac, await recv(sock))
            if parent.get("session") == raw.session or parent.get("msg_type") != "execute_request":
                continue
            kind = header["msg_type"]
            if kind == "stream":
                self.streams += 1
            elif kind == "status" and content.get("execution_state") == "idle":
                self.idle_at = clock()
                self.done.set()
                return


@dataclass(slots=True)
class RawFlood:
    elapsed: float  # execute_request sent -> its idle read
    streams: int
    exact: bool


async def raw_flood(raw: RawClient, code: str, expected: str) -> RawFlood:
    """The raw client executes ``code`` and reads iopub at full speed until its idle; the
    text is checked afterwards."""
    raw.discard_iopub()
    mac = raw._mac
    sock = raw.iopub
    texts: list[str] = []
    with anyio.fail_after(FLOOD_TIMEOUT):
        t0 = time.perf_counter()
        msg_id = raw.send("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        while True:
            header, parent, _, content = decode(mac, await recv(sock))
            if parent.get("msg_id") != msg_id:
                continue
            kind = header["msg_type"]
            if kind == "stream":
                texts.append(content["text"])
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        elapsed = time.perf_counter() - t0
        reply = (await raw.reply(msg_id))[3]
    if reply.get("status") != "ok":
        raise RuntimeError(f"the raw client's flood failed: {reply}")
    return RawFlood(elapsed, len(texts), "".join(texts) == expected)


# -- executions through the daemon --------------------------------------------------------


@dataclass(slots=True)
class DaemonRun:
    elapsed: float  # execute sent -> response read by the editor
    idle_at_raw: float  # execute sent -> the kernel's idle read by the raw SUB (same run)
    kernel_streams: int  # the kernel's stream messages of this execution (raw SUB count)
    delivery: Delivery
    memory: Memory
    cpu: float  # the daemon's CPU seconds over the execution
    reads: ReadStats

    @property
    def lag(self) -> float:
        return self.elapsed - self.idle_at_raw


async def daemon_run(editor: Editor, raw: RawClient, chain: SeqChain, kernel_id: str,
                     code: str, expected: str, rate: float | None) -> DaemonRun:
    """``code`` executed through the daemon, read by the editor at ``rate``; the raw
    client's SUB watches the same execution at full speed."""
    raw.discard_iopub()
    editor.begin(rate)
    memory = Memory.start(editor.pid)
    cpu0 = cpu_seconds(editor.pid)
    watch = Watch()
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch.run, raw)
        t0 = time.perf_counter()
        # allowStdin false: the kernel gets the same execute_request content as from the
        # raw client (silent false, store_history true, allow_stdin false, stop_on_error).
        result, at = await editor.request("kernelbridge/execute",
                                          {"kernelId": kernel_id, "code": code,
                                           "allowStdin": False}, FLOOD_TIMEOUT)
        try:
            with anyio.fail_after(STATUS_TIMEOUT):
                await watch.done.wait()
        except TimeoutError:
            raise RuntimeError("the raw SUB did not see the daemon's execution end") from None
    memory.stop(editor.pid)
    cpu = cpu_seconds(editor.pid) - cpu0
    if result.get("status") != "ok":
        raise RuntimeError(f"execute through the daemon failed: {result}")
    params = chain.take(editor.framer.outputs)
    delivery = check_delivery(params, result["executionId"], expected)
    return DaemonRun(at - t0, watch.idle_at - t0, watch.streams, delivery, memory, cpu,
                     editor.stats)


async def raw_run(editor: Editor, raw: RawClient, chain: SeqChain, code: str,
                  expected: str) -> tuple[RawFlood, Delivery]:
    """The raw client's flood; then the daemon's forwarding of it (an execution of another
    client, without executionId) is read to the end, its seqs and text checked."""
    editor.begin(RATE)
    since = len(editor.statuses)
    flood = await raw_flood(raw, code, expected)
    try:
        await editor.wait_status(since, lambda p: p.get("state") == "idle"
                                 and "executionId" not in p, STATUS_TIMEOUT)
    except TimeoutError:
        raise RuntimeError("the daemon did not forward the raw client's idle") from None
    return flood, check_delivery(chain.take(editor.framer.outputs), None, expected)


# -- the benchmarks -----------------------------------------------------------------------


async def run(ctx: Context) -> None:
    plan = QUICK if ctx.quick else FULL
    chain = SeqChain()
    pids: list[int] = []
    try:
        async with spawn_daemon() as editor:
            kernel, _ = await editor.request("kernelbridge/start", {"kernelspec": KERNEL},
                                             START_TIMEOUT)
            pids.append(kernel["pid"])
            with open(kernel["connectionFile"], "rb") as f:  # noqa: ASYNC230 -- small, local
                connection = json.load(f)
            context = zmq.Context()
            raw = RawClient(connection, context)
            try:
                with anyio.fail_after(START_TIMEOUT):
                    await raw.wait_ready()
                ctx.log(f"daemon pid {editor.pid}, kernel pid {kernel['pid']}; editor pipe "
                        f"{editor.pipe_size // 1024} KiB; daemon maxChunkChars "
                        f"{MAX_CHUNK_CHARS:,} (default); reset of VmHWM "
                        f"{'works' if reset_peak(editor.pid) else 'not permitted'}")
                kid = kernel["kernelId"]
                await flood(ctx, plan, editor, raw, chain, kid)
                await flushed(ctx, editor, raw, chain, kid)
                await big(ctx, plan, editor, raw, chain, kid)
            finally:
                raw.close()
                context.term()
            ctx.report(Figure("output seq without gaps over the run", float(not chain.problems),
                              "", EXACT_GOAL, f"{chain.next - 1:,} output notifications"
                              + (f"; {'; '.join(chain.problems[:3])}" if chain.problems else "")))
    finally:
        await ensure_gone(pids, "the output daemon")


async def flood(ctx: Context, plan: Plan, editor: Editor, raw: RawClient, chain: SeqChain,
                kid: str) -> None:
    code, expected = flood_code(plan.lines), flood_text(plan.lines)
    ctx.log(f"flood: {code!r} ({len(expected):,} chars), through the daemon to an editor "
            f"reading {RATE / (1 << 20):.0f} MiB/s, alternated with the raw client reading "
            f"iopub at full speed; {plan.rounds} round(s) after an untimed one of "
            f"{plan.warmup_lines:,} lines")
    warm_code, warm_text = flood_code(plan.warmup_lines), flood_text(plan.warmup_lines)
    warm = await daemon_run(editor, raw, chain, kid, warm_code, warm_text, RATE)
    warm_raw, _ = await raw_run(editor, raw, chain, warm_code, warm_text)
    daemon: list[DaemonRun] = []
    rawruns: list[RawFlood] = []
    forwarded: list[Delivery] = []
    for i in range(plan.rounds):
        for who in ("daemon", "raw") if i % 2 == 0 else ("raw", "daemon"):
            if who == "daemon":
                daemon.append(await daemon_run(editor, raw, chain, kid, code, expected, RATE))
                d = daemon[-1]
                ctx.log(f"flood {i + 1} daemon: {d.elapsed:.2f} s, idle at raw SUB "
                        f"{d.idle_at_raw:.2f} s, {d.delivery.notifications:,} notifications "
                        f"for {d.kernel_streams:,} kernel messages, peak RSS "
                        f"{d.memory.peak:.1f} MiB, daemon CPU {d.cpu:.2f} s, reader "
                        f"{d.reads.rate_mib:.2f} MiB/s, {d.reads.full_reads}/{d.reads.reads} "
                        "reads found the pipe full")
            else:
                r, fwd = await raw_run(editor, raw, chain, code, expected)
                rawruns.append(r)
                forwarded.append(fwd)
                ctx.log(f"flood {i + 1} raw: {r.elapsed:.2f} s, {r.streams:,} kernel messages")

    d_t = [d.elapsed for d in daemon]
    r_t = [r.elapsed for r in rawruns]
    same = [d.elapsed / d.idle_at_raw for d in daemon]
    per_round = ", ".join(f"{a / b:.2f}" for a, b in zip(d_t, r_t, strict=True))
    lo, hi = bootstrap([d_t, r_t], lambda s: median(s[0]) / median(s[1]))
    n = "1M" if plan.lines == 1_000_000 else f"{plan.lines // 1000}k"
    ctx.report(Figure(f"output flood {n} p50 raw (execute_request to idle, full speed)",
                      median(r_t), "s", note=f"range {min(r_t):.2f}-{max(r_t):.2f} s"))
    ctx.report(Figure(f"output flood {n} p50 daemon (execute to response, "
                      f"{RATE >> 20} MiB/s editor)", median(d_t), "s",
                      note=f"range {min(d_t):.2f}-{max(d_t):.2f} s"))
    ctx.report(Figure(f"output flood {n} ratio daemon/raw", median(d_t) / median(r_t), "x",
                      FLOOD_RATIO_GOAL, f"p50 over p50, 95% CI {lo:.2f} to {hi:.2f}; per "
                      f"round {per_round}; separate executions: the kernel's run-to-run "
                      "spread is in it"))
    ctx.report(Figure(f"output flood {n} ratio daemon/raw same execution", median(same), "x",
                      FLOOD_RATIO_GOAL, "response at the editor over the idle at the raw "
                      "client's SUB (full speed), same execution: no kernel run-to-run noise; "
                      f"lag p50 {median([d.lag for d in daemon]) * 1000:.0f} ms"
                           f" (range {min(d.lag for d in daemon) * 1000:.0f}-"
                           f"{max(d.lag for d in daemon) * 1000:.0f})"))
    exact = [d.delivery for d in daemon]
    bad = [x.problem for x in exact + forwarded if not x.exact]
    if not all(r.exact for r in rawruns):
        bad.append("the raw client's own text differs (the kernel?)")
    ctx.report(Figure(f"output flood {n} delivered exactly", sum(x.exact for x in exact)
                      / len(exact), "", EXACT_GOAL,
                      f"{len(exact)} floods of {len(expected):,} chars, text joined = text "
                      "printed; the forwarding of the raw client's floods also exact: "
                      f"{sum(x.exact for x in forwarded)}/{len(forwarded)}"
                      + (f"; {bad[0]}" if bad else "")))
    memories = [d.memory for d in daemon]
    ctx.report(Figure(f"output flood {n} daemon peak RSS", max(m.peak for m in memories),
                      "MiB", PEAK_RSS_GOAL, f"max over floods; {_peak_note(memories)}"))
    ctx.report(Figure(f"output flood {n} daemon peak RSS growth",
                      max(m.growth for m in memories), "MiB",
                      note="max over floods of the peak minus the RSS before the flood "
                           f"({', '.join(f'{m.before:.1f}' for m in memories)} MiB)"))
    notes, kmsgs = [d.delivery.notifications for d in daemon], [d.kernel_streams for d in daemon]
    ctx.report(Figure(f"output flood {n} notifications per kernel message",
                      sum(notes) / sum(kmsgs), "",
                      note=f"notifications {', '.join(f'{x:,}' for x in notes)} for kernel "
                           f"stream messages {', '.join(f'{x:,}' for x in kmsgs)}; raw client's "
                           f"own floods: {', '.join(f'{r.streams:,}' for r in rawruns)} "
                           "stream messages"))
    ctx.report(Figure(f"output flood {n} editor read rate", median([d.reads.rate_mib
                                                                    for d in daemon]), "MiB/s",
                      note=f"cap {RATE >> 20} MiB/s; reads that found the pipe full: "
                           + ", ".join(f"{d.reads.full_reads}/{d.reads.reads}" for d in daemon)))
    ctx.report(Figure(f"output flood {n} daemon CPU", median([d.cpu for d in daemon]), "s",
                      note=f"per flood, all threads; warm-up ({plan.warmup_lines:,} lines): "
                           f"daemon {warm.elapsed:.2f} s, raw {warm_raw.elapsed:.2f} s"))


async def flushed(ctx: Context, editor: Editor, raw: RawClient, chain: SeqChain,
                  kid: str) -> None:
    code, expected = f"for i in range({FLUSH_LINES}): print(i, flush=True)", flood_text(
        FLUSH_LINES)
    ctx.log(f"flush: {code!r}, editor at full speed (coalescing by the window alone)")
    d = await daemon_run(editor, raw, chain, kid, code, expected, None)
    ctx.report(Figure("output flush=True notifications per line",
                      d.delivery.notifications / FLUSH_LINES, "", FLUSH_GOAL,
                      f"{d.delivery.notifications:,} notifications for {FLUSH_LINES:,} lines "
                      f"in {d.kernel_streams:,} kernel messages; {d.elapsed:.2f} s, lag "
                      f"after the kernel's idle {d.lag * 1000:.0f} ms"))
    ctx.report(Figure("output flush=True delivered exactly", float(d.delivery.exact), "",
                      EXACT_GOAL, d.delivery.problem or f"{len(expected):,} chars"))


async def big(ctx: Context, plan: Plan, editor: Editor, raw: RawClient, chain: SeqChain,
              kid: str) -> None:
    code = f"import sys; sys.stdout.write('x' * {BIG_CHARS}); sys.stdout.flush()"
    expected = "x" * BIG_CHARS
    size_mib = BIG_CHARS / (1 << 20)
    rates: list[tuple[str, float | None]] = [("full speed", None)]
    if plan.slow_big:
        rates.append((f"{RATE >> 20} MiB/s", RATE))
    for label, rate in rates:
        ctx.log(f"big message: {code!r}, editor at {label}")
        d = await daemon_run(editor, raw, chain, kid, code, expected, rate)
        suffix = "" if rate is None else f" {RATE >> 20} MiB/s editor"
        ctx.report(Figure(f"output 40 MB message daemon peak RSS growth{suffix}",
                          d.memory.growth, "MiB",
                          note=f"peak {d.memory.peak:.1f} MiB, before {d.memory.before:.1f} "
                               f"MiB; {_peak_note([d.memory])}; {d.elapsed:.2f} s, daemon CPU "
                               f"{d.cpu:.2f} s"))
        ctx.report(Figure(f"output 40 MB message peak RSS growth / message size{suffix}",
                          d.memory.growth / size_mib, "x", BIG_GROWTH_GOAL,
                          f"message {size_mib:.1f} MiB; the issue asks only for bounded RSS"))
        split_ok = d.delivery.max_chars <= MAX_CHUNK_CHARS
        problem = d.delivery.problem or ("" if split_ok else
                                         f"a notification of {d.delivery.max_chars:,} chars")
        ctx.report(Figure(f"output 40 MB message delivered whole{suffix}",
                          float(d.delivery.exact and split_ok), "", EXACT_GOAL,
                          problem or f"{d.delivery.notifications:,} notifications of <= "
                                     f"{d.delivery.max_chars:,} chars (maxChunkChars "
                                     f"{MAX_CHUNK_CHARS:,}) from {d.kernel_streams} kernel "
                                     "message(s)"))
