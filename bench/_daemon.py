"""The daemon's benchmarks: ``kernelbridge --stdio`` against the direct alternatives.

1. Round trips editor -> daemon -> kernel -> editor (``DaemonClient.request`` until the
   response) of execute "pass" (answered after the kernel's idle), inspect and complete,
   against the raw pyzmq client (``bench/_rawclient.py``, the floor) and jupyter_client's
   ``AsyncKernelClient``, all on one ipykernel started through the daemon (the others
   connect with its connection file). Requests are interleaved one by one, the order
   rotated every round; each timed request starts once the kernel has published the idle
   of every earlier request (an own iopub socket counts them) and the other clients'
   iopub traffic was read, untimed. Goal: (daemon - raw) <= 0.5 * (jupyter_client - raw).
2. Output forwarding ceiling: a synthetic kernel (``bench/_daemon_kernel.py``) publishes
   N stream messages at libzmq speed; the rate is the ``kernelbridge/output``
   notifications a lean stdio reader gets per second, from the first to the last, every
   seq checked. Baseline: pygls's stock ``protocol.notify()`` in a bare pygls server
   (``bench/_daemon_pygls.py``), read the same way. Also the CPU time each server spends
   per message (load-independent) and the daemon's peak RSS during the flood.
   Goals: >= 150,000 notifications/s and >= 5x pygls.
3. Spawn to ``initialize`` answered, against a bare pygls server, alternated, kernelbridge
   byte-compiled first as pip does for an installed package. Goal <= 1.1x.
4. RSS: the idle daemon after ``initialize`` (goal <= 45 MiB) and its growth per kernel
   connected to (goal <= 5 MiB per kernel); also per kernel started through it, whose
   first start loads jupyter_client once.

Every process started here (daemons, their kernels, the synthetic kernel, pygls) is gone
at the end, also on failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc
import orjson
import zmq
from anyio.streams.buffered import BufferedByteReceiveStream

from bench._common import Context, Figure, Goal, bootstrap, median
from bench._jupyter import COMPLETE_CODE, INSPECT_CODE, Contender, jc_contender
from bench._rawclient import RawClient, decode, new_mac, recv
from kernelbridge.client import ClientError, DaemonClient, FrameDecoder, encode_message

TITLE = "kernelbridge --stdio against a raw pyzmq client, jupyter_client and bare pygls"

BENCH_DIR = Path(__file__).resolve().parent
DAEMON = [sys.executable, "-m", "kernelbridge", "--stdio"]
BARE_PYGLS = [sys.executable, str(BENCH_DIR / "_daemon_pygls.py")]
SYNTHETIC_KERNEL = [sys.executable, str(BENCH_DIR / "_daemon_kernel.py")]
KERNEL = "python3"

# Deadlines (seconds): a broken daemon or kernel fails the benchmark, never hangs it.
START_TIMEOUT = 60.0  # a server's initialize, a kernel's start
ROUND_TIMEOUT = 30.0  # one round trip, with the wait for a quiet kernel before it
FLOOD_TIMEOUT = 120.0  # one flood, from the request to its response
STOP_TIMEOUT = 15.0  # a server's shutdown (its kernels included)
SETTLE = 0.5  # seconds before an RSS reading

MARGIN_GOAL = Goal("<=", 0.5)
ROUNDTRIP_GOALS = {"execute": True, "inspect": True, "complete": False}
OUTPUT_GOAL = Goal(">=", 150_000)
OUTPUT_RATIO_GOAL = Goal(">=", 5)
STARTUP_GOAL = Goal("<=", 1.1)
IDLE_RSS_GOAL = Goal("<=", 45)
PER_KERNEL_GOAL = Goal("<=", 5)


@dataclass(frozen=True, slots=True)
class Plan:
    warmup: int
    rounds: int
    flood_daemon: int  # stream messages per flood through the daemon
    flood_pygls: int  # notify() calls per flood of the bare pygls server
    floods: int  # floods of each, alternated
    starts: int  # spawns of each server, alternated
    kernels: int  # kernels started for the RSS growth


# 15 spawns of each: spawn-to-initialize varies by +-15% from one spawn to the next on a
# shared 2-vCPU VM, and 7 left the ratio's median swinging between 1.0 and 1.2.
FULL = Plan(warmup=30, rounds=300, flood_daemon=200_000, flood_pygls=50_000, floods=3,
            starts=15, kernels=3)
QUICK = Plan(warmup=10, rounds=60, flood_daemon=50_000, flood_pygls=20_000, floods=1,
             starts=3, kernels=3)


async def run(ctx: Context) -> None:
    plan = QUICK if ctx.quick else FULL
    await roundtrips(ctx, plan)
    await output(ctx, plan)
    await startup(ctx, plan)
    await memory(ctx, plan)


# -- processes ----------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def _status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (from /proc/PID/status)."""
    return _status_mib(pid, "VmRSS")


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak RSS) of ``pid`` in MiB."""
    return _status_mib(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, all its threads."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stop_process(process: anyio.abc.Process, timeout: float = STOP_TIMEOUT) -> None:
    """Make sure ``process`` is gone: wait, then SIGTERM, then SIGKILL; close its pipes."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            with anyio.move_on_after(timeout):
                await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            with anyio.move_on_after(3):
                await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with anyio.move_on_after(3):
                await process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.aclose()


async def ensure_gone(pids: Sequence[int], what: str, timeout: float = 10.0) -> None:
    """Wait (bounded) for kernels the daemon owned to exit; kill and report leftovers."""
    with anyio.move_on_after(timeout):
        while any(_alive(pid) for pid in pids):  # noqa: ASYNC110 -- no event for another's child
            await anyio.sleep(0.05)
    left = [pid for pid in pids if _alive(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        raise RuntimeError(f"{what} left kernels behind (killed now): {left}")


def _tail(file: IO[bytes], limit: int = 3000) -> str:
    file.seek(0)
    return file.read()[-limit:].decode(errors="replace")


@dataclass(slots=True)
class Server:
    """A spawned stdio JSON-RPC server (the daemon or a bare pygls one), initialized."""

    client: DaemonClient
    process: anyio.abc.Process
    startup_s: float  # from before the spawn to the initialize response

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.asynccontextmanager
async def spawn(command: Sequence[str]) -> AsyncIterator[Server]:
    """Start ``command``, ``initialize`` it through a DaemonClient and yield it; on exit
    ``shutdown`` + ``exit``, and make sure the process is gone. Its stderr goes to a
    temporary file, shown when something fails."""
    with tempfile.TemporaryFile() as stderr:
        t0 = time.perf_counter()
        process = await anyio.open_process(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            assert process.stdout is not None and process.stdin is not None
            async with DaemonClient.connect(process.stdout, process.stdin) as client:
                await client.initialize(timeout=START_TIMEOUT)
                server = Server(client, process, time.perf_counter() - t0)
                try:
                    yield server
                finally:
                    with anyio.CancelScope(shield=True), contextlib.suppress(ClientError):
                        await client.shutdown(timeout=STOP_TIMEOUT)
        except BaseException:
            print(f"bench: {command[-1]} failed; its stderr:\n{_tail(stderr)}", file=sys.stderr)
            raise
        finally:
            await stop_process(process)


async def _start_kernel(server: Server) -> dict[str, Any]:
    kernel: dict[str, Any] = await server.client.request(
        "kernelbridge/start", {"kernelspec": KERNEL}, timeout=START_TIMEOUT
    )
    return kernel


# -- 1. round trips -----------------------------------------------------------------------

RAW, DAEMON_NAME, JC = "raw", "daemon", "jupyter_client"
Op = Callable[[], Awaitable[object]]


class KernelQuiet:
    """Knows when the kernel has finished every request sent so far: its own iopub SUB
    counts ``status: idle`` messages (the kernel publishes one after each shell request,
    whoever sent it). Waiting for it before each timed request keeps a request from
    queueing behind the kernel's post-reply work for the previous client's request."""

    def __init__(self, connection: dict[str, Any], context: zmq.Context) -> None:
        self._mac = new_mac(str(connection["key"]).encode())
        self.sock = context.socket(zmq.SUB)
        self.sock.linger = 0
        self.sock.rcvhwm = 0
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(f"tcp://{connection['ip']}:{connection['iopub_port']}")
        self.idles = 0
        self.expected = 0

    def close(self) -> None:
        self.sock.close(linger=0)

    def _count(self, frames: list[bytes]) -> None:
        header, _, _, content = decode(self._mac, frames)
        if header["msg_type"] == "status" and content.get("execution_state") == "idle":
            self.idles += 1

    def _drain(self) -> None:
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._count(frames)

    async def connect(self, raw: RawClient) -> None:
        """Wait until this socket receives (kernel_info until an iopub message comes),
        then start counting from a quiet kernel."""
        while True:
            await raw.request("kernel_info_request", {})
            with anyio.move_on_after(0.05):
                await recv(self.sock)
                break
        await anyio.sleep(0.2)
        self._drain()
        self.idles = self.expected = 0

    async def wait(self) -> None:
        """Until every request counted by ``sent()`` has its idle."""
        self._drain()
        while self.idles < self.expected:
            self._count(await recv(self.sock))
            self._drain()

    def sent(self) -> None:
        self.expected += 1


def _raw_contender(raw: RawClient) -> Contender:
    async def quiesce() -> None:
        raw.discard_iopub()

    inspect = {"code": INSPECT_CODE, "cursor_pos": len(INSPECT_CODE), "detail_level": 0}
    complete = {"code": COMPLETE_CODE, "cursor_pos": len(COMPLETE_CODE)}
    return Contender(RAW, {
        "execute": lambda: raw.execute("pass"),
        "inspect": lambda: raw.request("inspect_request", inspect),
        "complete": lambda: raw.request("complete_request", complete),
    }, quiesce)


def _daemon_contender(client: DaemonClient, kernel_id: str) -> Contender:
    async def quiesce() -> None:
        pass  # its reader consumed the status notifications of the others' executions

    def call(method: str, **params: Any) -> Op:
        params = {"kernelId": kernel_id, **params}
        return lambda: client.request(f"kernelbridge/{method}", params, timeout=ROUND_TIMEOUT)

    return Contender(DAEMON_NAME, {
        "execute": call("execute", code="pass"),
        "inspect": call("inspect", code=INSPECT_CODE, cursorPos=len(INSPECT_CODE)),
        "complete": call("complete", code=COMPLETE_CODE, cursorPos=len(COMPLETE_CODE)),
    }, quiesce)


async def _interleaved(op: str, contenders: list[Contender], quiet: KernelQuiet,
                       warmup: int, rounds: int) -> dict[str, list[float]]:
    """Round trips (µs) of ``op`` by each contender, one request each per round, the
    order rotated every round."""
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    n = len(contenders)
    for i in range(warmup + rounds):
        for c in contenders[i % n :] + contenders[: i % n]:
            try:
                with anyio.fail_after(ROUND_TIMEOUT):
                    await quiet.wait()
                    await c.quiesce()
                    request = c.ops[op]
                    t0 = time.perf_counter_ns()
                    await request()
                    elapsed = time.perf_counter_ns() - t0
                    quiet.sent()
            except TimeoutError:
                raise RuntimeError(f"{op} by {c.name} did not complete within "
                                   f"{ROUND_TIMEOUT} s") from None
            if i >= warmup:
                samples[c.name].append(elapsed / 1000)
    return samples


def _report_roundtrip(ctx: Context, op: str, samples: dict[str, list[float]]) -> None:
    raw, daemon, jc = samples[RAW], samples[DAEMON_NAME], samples[JC]
    for name in (RAW, DAEMON_NAME, JC):
        ctx.report(Figure(f"daemon {op} p50 {name}", median(samples[name]), "µs"))

    def margin(s: list[list[float]]) -> float:
        floor = median(s[0])
        jc_margin = median(s[2]) - floor
        return (median(s[1]) - floor) / jc_margin if jc_margin > 0 else float("nan")

    lo, hi = bootstrap([raw, daemon, jc], margin, 200 if ctx.quick else 400)
    ctx.report(Figure(
        f"daemon {op} margin (daemon-raw)/(jupyter_client-raw)", margin([raw, daemon, jc]),
        "", MARGIN_GOAL if ROUNDTRIP_GOALS[op] else None, f"95% CI {lo:.2f} to {hi:.2f}",
    ))


async def roundtrips(ctx: Context, plan: Plan) -> None:
    from jupyter_client.asynchronous import AsyncKernelClient

    async with spawn(DAEMON) as daemon:
        kernel = await _start_kernel(daemon)
        with open(kernel["connectionFile"], "rb") as f:  # noqa: ASYNC230 -- small, local
            connection = json.load(f)
        context = zmq.Context()
        raw = RawClient(connection, context)
        quiet = KernelQuiet(connection, context)
        jc = AsyncKernelClient()
        jc.load_connection_file(kernel["connectionFile"])
        jc.start_channels()
        try:
            with anyio.fail_after(START_TIMEOUT):
                await raw.wait_ready()
                await jc.wait_for_ready(timeout=START_TIMEOUT)
                await quiet.connect(raw)
            contenders = [_raw_contender(raw), _daemon_contender(daemon.client, kernel["kernelId"]),
                          jc_contender(jc, ROUND_TIMEOUT)]
            for op, with_goal in ROUNDTRIP_GOALS.items():
                # complete takes the kernel ~0.1-0.3 s (jedi): fewer rounds, no goal.
                warmup, rounds = (plan.warmup, plan.rounds) if with_goal else (3, plan.rounds // 5)
                ctx.log(f"round trips, {op}: {rounds} rounds after {warmup} untimed, "
                        "order rotated each round, each from a quiet kernel")
                _report_roundtrip(ctx, op, await _interleaved(op, contenders, quiet,
                                                              warmup, rounds))
        finally:
            jc.stop_channels()
            jc.context.destroy(linger=0)
            quiet.close()
            raw.close()
            context.term()
    await ensure_gone([kernel["pid"]], "the round-trip daemon")


# -- 2. output forwarding ceiling ---------------------------------------------------------

OUTPUT_MARKER = b'"kernelbridge/output"'  # in the body of every output notification only
READ_CHUNK = 256 * 1024


class LeanFramer:
    """The reader's hot path: splits LSP frames, keeps the body of each output notification
    as it is (decoded and checked after the flood) and hands every other message, decoded,
    to ``on_message``. Records when the first and the last output arrived (the time of the
    chunk that carried them)."""

    def __init__(self, on_message: Callable[[dict[str, Any]], None]) -> None:
        self.on_message = on_message
        self.outputs: list[bytes] = []
        self.first = 0.0
        self.last = 0.0
        self._buf = bytearray()

    def reset(self) -> None:
        self.outputs = []
        self.first = self.last = 0.0

    def feed(self, data: bytes, now: float) -> None:
        buf = self._buf
        buf += data
        find = buf.find
        outputs = self.outputs
        before = len(outputs)
        size = len(buf)
        pos = 0
        while True:
            end = find(b"\r\n\r\n", pos)
            if end < 0:
                break
            at = find(b"Content-Length:", pos, end)
            if at < 0:
                raise RuntimeError(f"a frame without Content-Length: {bytes(buf[pos:end])!r}")
            eol = find(b"\r\n", at, end)
            start = end + 4
            stop = start + int(buf[at + 15 : end if eol < 0 else eol])
            if stop > size:
                break
            body = bytes(buf[start:stop])
            if OUTPUT_MARKER in body:
                outputs.append(body)
            else:
                self.on_message(orjson.loads(body))
            pos = stop
        del buf[:pos]
        if len(outputs) > before:
            if before == 0:
                self.first = now
            self.last = now

    def check(self, count: int, first_seq: int, execution_id: str) -> int:
        """The flood of ``count`` stream messages arrived whole: every seq from
        ``first_seq`` on exactly once and in order, all tagged ``execution_id``, and the
        texts, joined, are the ``count`` lines sent. (Coalescing may merge messages into
        fewer notifications; nothing may be lost.) Returns the next seq."""
        got = [orjson.loads(body)["params"] for body in self.outputs]
        seqs = [params["seq"] for params in got]
        expected = list(range(first_seq, first_seq + len(got)))
        if seqs != expected:
            missing = set(expected) - set(seqs)
            raise RuntimeError(f"output seqs are not {first_seq}..: {len(missing)} missing, "
                               f"{len(seqs) - len(set(seqs))} duplicated")
        for n, params in enumerate(got):
            if params.get("executionId") != execution_id:
                raise RuntimeError(f"output {n} has executionId {params.get('executionId')!r}")
        text = "".join(params["content"]["text"] for params in got)
        if text != "".join(f"output line {n}\n" for n in range(count)):
            raise RuntimeError(f"the output text differs from the {count} lines sent")
        return first_seq + len(got)


class _Waiter:
    __slots__ = ("event", "message")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.message: dict[str, Any] = {}


class LeanClient:
    """A minimal JSON-RPC client of a stdio server, for floods: the same reader for the
    daemon and for pygls, lean enough to be far from the limit (see ``reader_ceiling``).
    Requests of the server are answered null."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.pid = process.pid
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._lock = anyio.Lock()
        self._pending: dict[int, _Waiter] = {}
        self._answers: list[bytes] = []
        self._next_id = 1
        self.framer = LeanFramer(self._on_message)

    def _on_message(self, message: dict[str, Any]) -> None:
        if "method" in message:
            if "id" in message:  # a server request: answer null
                self._answers.append(encode_message(
                    {"jsonrpc": "2.0", "id": message["id"], "result": None}))
            return
        waiter = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
        if waiter is not None:
            waiter.message = message
            waiter.event.set()

    async def read_loop(self) -> None:
        receive = self._stdout.receive
        feed = self.framer.feed
        clock = time.perf_counter
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError,
                                 anyio.ClosedResourceError):
            while True:
                feed(await receive(READ_CHUNK), clock())
                if self._answers:
                    answers, self._answers = self._answers, []
                    await self._send(b"".join(answers))
        for waiter in self._pending.values():
            waiter.message = {"error": {"message": "the server closed its output"}}
            waiter.event.set()

    async def _send(self, data: bytes) -> None:
        async with self._lock:
            await self._stdin.send(data)

    async def request(self, method: str, params: Any, timeout: float) -> Any:
        msg_id = self._next_id
        self._next_id += 1
        waiter = self._pending[msg_id] = _Waiter()
        await self._send(encode_message(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        try:
            with anyio.fail_after(timeout):
                await waiter.event.wait()
        finally:
            self._pending.pop(msg_id, None)
        if "error" in waiter.message:
            raise RuntimeError(f"{method}: {waiter.message['error']}")
        return waiter.message.get("result")

    async def notify(self, method: str, params: Any = None) -> None:
        await self._send(encode_message({"jsonrpc": "2.0", "method": method, "params": params}))


@contextlib.asynccontextmanager
async def lean_spawn(command: Sequence[str]) -> AsyncIterator[LeanClient]:
    """Start ``command``, initialize it through a LeanClient, yield the client; on exit
    ``shutdown`` + ``exit`` and make sure the process is gone."""
    with tempfile.TemporaryFile() as stderr:
        process = await anyio.open_process(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            async with anyio.create_task_group() as tg:
                client = LeanClient(process)
                tg.start_soon(client.read_loop)
                await client.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                                    "capabilities": {}}, START_TIMEOUT)
                await client.notify("initialized", {})
                try:
                    yield client
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_TIMEOUT), \
                            contextlib.suppress(Exception):
                        await client.request("shutdown", None, STOP_TIMEOUT)
                        await client.notify("exit")
                    tg.cancel_scope.cancel()
        except BaseException:
            print(f"bench: {command[-1]} failed; its stderr:\n{_tail(stderr)}", file=sys.stderr)
            raise
        finally:
            await stop_process(process)


def _flood_frames(count: int) -> bytes:
    """``count`` output notifications as the daemon frames them."""
    frames = []
    for n in range(count):
        body = (b'{"jsonrpc":"2.0","method":"kernelbridge/output","params":{"kernelId":'
                b'"0123456789abcdef0123456789abcdef","executionId":"01234567-1","type":'
                b'"stream","seq":%d,"content":{"name":"stdout","text":"output line %d\\n"}}}'
                % (n + 1, n))
        frames.append(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
    return b"".join(frames)


def reader_ceilings(count: int) -> tuple[float, float]:
    """Notifications/s of two readers alone, fed the daemon's frames from memory in
    READ_CHUNK pieces: the benchmark's LeanFramer, and DaemonClient's FrameDecoder
    (decoding every body, counting them)."""
    data = _flood_frames(count)
    chunks = [data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK)]
    framer = LeanFramer(lambda message: None)
    t0 = time.perf_counter()
    for chunk in chunks:
        framer.feed(chunk, 0.0)
    lean = count / (time.perf_counter() - t0)
    framer.check(count, 1, "01234567-1")
    decoded: list[int] = []

    def emit(message: dict[str, Any]) -> None:
        if message.get("method") == "kernelbridge/output":
            decoded.append(1)

    decoder = FrameDecoder()
    t0 = time.perf_counter()
    for chunk in chunks:
        decoder.feed_into(chunk, emit)
    client = count / (time.perf_counter() - t0)
    if len(decoded) != count:
        raise RuntimeError(f"FrameDecoder decoded {len(decoded)} of {count}")
    return lean, client


async def _read_line(stream: BufferedByteReceiveStream, timeout: float) -> bytes:
    with anyio.fail_after(timeout):
        return await stream.receive_until(b"\n", 1 << 16)


@dataclass(slots=True)
class FloodStats:
    notifications: list[float]  # notifications/s
    messages: list[float]  # kernel messages/s (equal unless the server coalesces)
    cpu_us: list[float]  # the server's CPU time (all threads) per message
    batches: list[int]  # notifications per flood

    @classmethod
    def new(cls) -> FloodStats:
        return cls([], [], [], [])

    def add(self, framer: LeanFramer, count: int, cpu_s: float) -> None:
        # From the first notification to the last: the messages the first one carries
        # (one line each) arrived before the clock started.
        elapsed = framer.last - framer.first
        first = orjson.loads(framer.outputs[0])["params"]["content"]["text"].count("\n")
        self.batches.append(len(framer.outputs))
        self.notifications.append((len(framer.outputs) - 1) / elapsed)
        self.messages.append((count - first) / elapsed)
        self.cpu_us.append(cpu_s / count * 1e6)


async def _flood(client: LeanClient, stats: FloodStats, count: int, method: str,
                 params: dict[str, Any], first_seq: int) -> int:
    """One flood: ``method`` is answered after ``count`` outputs; checks them, records the
    rates and the server's CPU time; returns the next seq."""
    client.framer.reset()
    cpu0 = cpu_seconds(client.pid)
    result = await client.request(method, params, FLOOD_TIMEOUT)
    cpu = cpu_seconds(client.pid) - cpu0
    execution_id = result["executionId"] if isinstance(result, dict) else params["executionId"]
    next_seq = client.framer.check(count, first_seq, execution_id)
    stats.add(client.framer, count, cpu)
    return next_seq


async def output(ctx: Context, plan: Plan) -> None:
    from kernelbridge.jupyter import new_connection_info, write_connection_file

    ctx.log(f"output: {plan.floods} floods of {plan.flood_daemon:,} stream messages through "
            f"the daemon, alternated with floods of {plan.flood_pygls:,} notify() by pygls")
    daemon, pygls = FloodStats.new(), FloodStats.new()
    publish_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp, \
            tempfile.TemporaryFile() as kernel_err:
        path = write_connection_file(new_connection_info("tcp"), Path(tmp) / "synthetic.json")
        kernel = await anyio.open_process(
            [*SYNTHETIC_KERNEL, str(path), str(plan.flood_daemon)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=kernel_err,
        )
        try:
            assert kernel.stdout is not None
            kernel_out = BufferedByteReceiveStream(kernel.stdout)
            if await _read_line(kernel_out, START_TIMEOUT) != b"ready":
                raise RuntimeError("the synthetic kernel did not start")
            async with lean_spawn(DAEMON) as kb, lean_spawn([*BARE_PYGLS, "--flood"]) as bare:
                info = await kb.request("kernelbridge/connect", {"connectionFile": str(path)},
                                        START_TIMEOUT)
                kid = info["kernelId"]
                rss_before = rss_mib(kb.pid)
                seq = 1
                for _ in range(plan.floods):
                    seq = await _flood(kb, daemon, plan.flood_daemon, "kernelbridge/execute",
                                       {"kernelId": kid, "code": "flood"}, seq)
                    published = json.loads(await _read_line(kernel_out, FLOOD_TIMEOUT))
                    publish_rates.append(published["count"] / published["publish_s"])
                    await _flood(bare, pygls, plan.flood_pygls, "bench/flood",
                                 {"count": plan.flood_pygls, "kernelId": kid,
                                  "executionId": "e-1"}, 1)
                peak_rss = peak_rss_mib(kb.pid)
                await kb.request("kernelbridge/shutdown", {"kernelId": kid}, STOP_TIMEOUT)
        except BaseException:
            print(f"bench: synthetic kernel stderr:\n{_tail(kernel_err)}", file=sys.stderr)
            raise
        finally:
            if kernel.stdin is not None:
                with contextlib.suppress(Exception):
                    await kernel.stdin.aclose()  # tells it to exit
            await stop_process(kernel, timeout=5)

    # The goal is on kernel messages forwarded: the daemon may coalesce a stream's
    # messages into fewer notifications, which is the point of coalescing, not a loss.
    rate, pygls_rate = median(daemon.messages), median(pygls.notifications)
    cpu_kb, cpu_pygls = median(daemon.cpu_us), median(pygls.cpu_us)
    spread = f"range {min(daemon.messages):,.0f}-{max(daemon.messages):,.0f}"
    ctx.report(Figure("daemon output kernel messages forwarded/s", rate, "msg/s", OUTPUT_GOAL,
                      spread))
    ctx.report(Figure("daemon output notifications/s", median(daemon.notifications), "msg/s",
                      note=f"{median(daemon.batches):,.0f} notifications per flood of "
                           f"{plan.flood_daemon:,} (fewer when coalesced)"))
    ctx.report(Figure("pygls notify() notifications/s", pygls_rate, "msg/s"))
    ctx.report(Figure("daemon output rate ratio daemon/pygls", rate / pygls_rate, "x",
                      OUTPUT_RATIO_GOAL, "kernel messages/s over notify() calls/s"))
    ctx.report(Figure("daemon output CPU per message", cpu_kb, "µs",
                      note="the daemon's CPU time, all threads, over the flood"))
    ctx.report(Figure("pygls notify() CPU per notification", cpu_pygls, "µs"))
    ctx.report(Figure("daemon output CPU ratio pygls/daemon", cpu_pygls / cpu_kb, "x",
                      note="the rate ratio without the other processes' load"))
    ctx.report(Figure("daemon output peak RSS growth", peak_rss - rss_before, "MiB",
                      note=f"VmHWM above the RSS before {plan.floods} floods of "
                           f"{plan.flood_daemon:,}"))
    ctx.report(Figure("daemon output synthetic kernel publish rate", median(publish_rates),
                      "msg/s", note="the source alone"))
    lean_ceiling, client_ceiling = reader_ceilings(plan.flood_daemon)
    ctx.report(Figure("daemon output reader ceiling", lean_ceiling, "msg/s",
                      note="this benchmark's reader alone, from memory"))
    ctx.report(Figure("daemon output DaemonClient decoder ceiling", client_ceiling, "msg/s",
                      note="kernelbridge.client's FrameDecoder alone, from memory"))


# -- 3. start-up --------------------------------------------------------------------------


def byte_compile_package() -> None:
    """Write kernelbridge's bytecode, as pip does when it installs a package (pygls, the
    baseline, was byte-compiled that way). An editable install only gets it from a first
    import, and never under PYTHONDONTWRITEBYTECODE=1: every spawn would then compile
    ~8,000 lines from source, which is not what a user's start-up costs."""
    import compileall

    package = BENCH_DIR.parent / "kernelbridge"
    if not compileall.compile_dir(str(package), quiet=1, force=False):
        raise RuntimeError(f"byte-compiling {package} failed")


async def startup(ctx: Context, plan: Plan) -> None:
    byte_compile_package()
    ctx.log(f"start-up: {plan.starts} spawns of each, alternated, after one untimed pair; "
            "kernelbridge byte-compiled first, as an installed package is")
    commands = {"daemon": DAEMON, "pygls": BARE_PYGLS}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(plan.starts + 1):  # the first pair only warms the file cache
        order = list(commands) if i % 2 == 0 else list(reversed(commands))
        for name in order:
            async with spawn(commands[name]) as server:
                if i > 0:
                    times[name].append(server.startup_s)
    daemon, pygls = median(times["daemon"]), median(times["pygls"])
    ctx.report(Figure("daemon spawn to initialize answered p50", daemon, "s",
                      note=f"range {min(times['daemon']):.2f}-{max(times['daemon']):.2f} s"))
    ctx.report(Figure("bare pygls spawn to initialize answered p50", pygls, "s",
                      note=f"range {min(times['pygls']):.2f}-{max(times['pygls']):.2f} s"))
    ctx.report(Figure("daemon start-up ratio daemon/pygls", daemon / pygls, "x", STARTUP_GOAL))


# -- 4. memory ----------------------------------------------------------------------------


async def memory(ctx: Context, plan: Plan) -> None:
    ctx.log(f"memory: VmRSS {SETTLE} s after initialize, after each of {plan.kernels} kernel "
            f"starts, and in a second daemon after each of {plan.kernels} connects to them")
    async with spawn(BARE_PYGLS) as bare:
        await anyio.sleep(SETTLE)
        bare_idle = rss_mib(bare.pid)
    pids: list[int] = []
    try:
        async with spawn(DAEMON) as daemon:
            await anyio.sleep(SETTLE)
            started = [rss_mib(daemon.pid)]
            files: list[str] = []
            for _ in range(plan.kernels):
                kernel = await _start_kernel(daemon)
                pids.append(kernel["pid"])
                files.append(kernel["connectionFile"])
                await anyio.sleep(SETTLE)
                started.append(rss_mib(daemon.pid))
            # The "per connected kernel", literally: a daemon that connects to
            # kernels it did not start (it never needs jupyter_client).
            async with spawn(DAEMON) as second:
                await anyio.sleep(SETTLE)
                connected = [rss_mib(second.pid)]
                for path in files:
                    await second.client.request("kernelbridge/connect", {"connectionFile": path},
                                                timeout=START_TIMEOUT)
                    await anyio.sleep(SETTLE)
                    connected.append(rss_mib(second.pid))
    finally:
        await ensure_gone(pids, "the memory daemon")

    def growth(readings: list[float]) -> tuple[float, str]:
        deltas = [b - a for a, b in itertools.pairwise(readings)]
        return ((readings[-1] - readings[0]) / len(deltas),
                f"mean of {len(deltas)}: " + ", ".join(f"{d:+.1f}" for d in deltas) + " MiB")

    ctx.report(Figure("daemon idle RSS after initialize", started[0], "MiB", IDLE_RSS_GOAL))
    ctx.report(Figure("bare pygls idle RSS after initialize", bare_idle, "MiB"))
    mean, note = growth(connected)
    ctx.report(Figure("daemon RSS growth per connected kernel", mean, "MiB", PER_KERNEL_GOAL,
                      note + "; the first also imports zmq"))
    mean, note = growth(started)
    ctx.report(Figure("daemon RSS growth per started kernel", mean, "MiB",
                      note=note + "; the first start also imports jupyter_client (~15 MiB, once)"))
    ctx.report(Figure("daemon RSS growth per started kernel after the first",
                      median([b - a for a, b in itertools.pairwise(started)][1:]), "MiB"))
