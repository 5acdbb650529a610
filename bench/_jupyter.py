"""Benchmarks of the Jupyter layer: kernelbridge's KernelClient against the floor (a raw
pyzmq client, ``bench/_rawclient.py``) and against jupyter_client, in one run.

1. Round trips on one warm ipykernel that all three clients share (each with its own
   session): kernel_info, execute "pass" until both its reply and its idle status are in,
   inspect, and complete (jedi time dominates it: no goal). Requests are interleaved one by
   one, the order rotated every round, so that kernel drift and position effects hit every
   client alike. Each timed request starts from a quiet state: 1 ms after the previous one,
   with the other clients' iopub traffic already read (kernelbridge's reader does that by
   itself; the raw and jupyter_client clients discard it untimed).
2. Kernel start to ready: kernelbridge's ``start_kernel`` against jupyter_client's
   ``AsyncKernelManager.start_kernel`` + ``start_channels`` + ``wait_for_ready``,
   alternating.
3. IOPub: signed stream messages from a synthetic publisher process (bench/_publisher.py)
   decoded and routed by a KernelClient (no kernel, heartbeat off: its iopub reader and a
   listener counting), while the publisher sends at full speed; then drained from a backlog
   queued while the event loop was held, against the floor (a plain loop receiving and
   checking the same messages) and a plain loop that only receives them (the ceiling of
   any Python reader with pyzmq); then the decode rate of the same frames in a plain loop:
   the floor (hmac + orjson), kernelbridge's WireCodec, jupyter_client's Session.
"""

from __future__ import annotations

import json
import math
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import zmq

from bench._common import Context, Figure, Goal, bootstrap, median
from bench._publisher import stream_frames
from bench._rawclient import RawClient, decode, new_mac, recv_nowait
from kernelbridge.jupyter import (
    ClientOptions,
    KernelClient,
    Message,
    WireCodec,
    new_connection_info,
    start_kernel,
)

TITLE = "kernelbridge.jupyter against a raw pyzmq client (the floor) and jupyter_client"

KERNEL = "python3"
INSPECT_CODE = "print"
COMPLETE_CODE = "import os\nos.pa"
SETTLE = 0.001  # seconds of quiet before each timed request

# Deadlines (seconds): a broken kernel or publisher fails the benchmark, never hangs it.
READY_DEADLINE = 60.0
ROUND_DEADLINE = 30.0  # one round: a request by each client
REQUEST_TIMEOUT = 20.0  # jupyter_client's own per-request timeout, inside the round's
START_DEADLINE = 90.0  # one kernel start and its shutdown
PUBLISHER_DEADLINE = 60.0  # the publisher building its messages, or sending them
IOPUB_DEADLINE = 120.0  # receiving everything
STALL = 2.0  # no new message for this long: the rest is lost

RAW, KB, JC = "raw", "kernelbridge", "jupyter_client"


@dataclass(frozen=True, slots=True)
class Plan:
    rounds: dict[str, tuple[int, int]]  # request type: (untimed, timed) rounds
    starts: int  # kernel starts per client
    iopub_live: int  # messages published while kernelbridge reads
    iopub_backlog: int  # messages queued before the reader reads
    backlog_passes: int  # alternating kernelbridge / raw drains
    decode: int  # messages per decode loop (raw floor, WireCodec)
    decode_jc: int  # messages per jupyter_client Session loop (much slower)
    decode_passes: int  # interleaved passes of the three decode loops


FULL = Plan(
    rounds={"kernel_info": (50, 1200), "execute": (30, 800), "inspect": (30, 600),
            "complete": (2, 30)},
    starts=5, iopub_live=200_000, iopub_backlog=60_000, backlog_passes=3,
    decode=50_000, decode_jc=5_000, decode_passes=3,
)
QUICK = Plan(
    rounds={"kernel_info": (10, 150), "execute": (10, 150), "inspect": (10, 100),
            "complete": (1, 6)},
    starts=2, iopub_live=40_000, iopub_backlog=20_000, backlog_passes=1,
    decode=10_000, decode_jc=1_000, decode_passes=1,
)

# Request types with a goal: kernelbridge within 5% of the floor, i.e. at most a tenth of
# the margin jupyter_client adds above it.
RATIO_GOAL = Goal("<=", 1.05)
MARGIN_GOAL = Goal("<=", 0.10)
ROUNDTRIP_GOALS = {"kernel_info": True, "execute": True, "inspect": True, "complete": False}
LABELS = {
    "kernel_info": "kernel_info",
    "execute": "execute(pass) until idle",
    "inspect": "inspect",
    "complete": "complete",
}
START_GOAL = Goal("<=", 0.80)
IOPUB_GOAL = Goal(">=", 100_000)
LOST_GOAL = Goal("<=", 0)


async def run(ctx: Context) -> None:
    plan = QUICK if ctx.quick else FULL
    for section in (roundtrips, kernel_starts, iopub):
        t0 = time.monotonic()
        await section(ctx, plan)
        ctx.log(f"({section.__name__}: {time.monotonic() - t0:.0f} s)")


# -- 1. round trips -----------------------------------------------------------------------

Op = Callable[[], Awaitable[object]]


@dataclass
class Contender:
    """One client of the shared kernel: its requests, and how it gets quiet."""

    name: str
    ops: dict[str, Op]
    quiesce: Callable[[], Awaitable[None]]


def _raw_contender(raw: RawClient) -> Contender:
    async def quiesce() -> None:
        raw.discard_iopub()

    inspect = {"code": INSPECT_CODE, "cursor_pos": len(INSPECT_CODE), "detail_level": 0}
    complete = {"code": COMPLETE_CODE, "cursor_pos": len(COMPLETE_CODE)}
    return Contender(RAW, {
        "kernel_info": lambda: raw.request("kernel_info_request", {}),
        "execute": lambda: raw.execute("pass"),
        "inspect": lambda: raw.request("inspect_request", inspect),
        "complete": lambda: raw.request("complete_request", complete),
    }, quiesce)


def _kb_contender(kb: KernelClient) -> Contender:
    async def quiesce() -> None:
        pass  # its reader has consumed the others' traffic during the settle time

    return Contender(KB, {
        "kernel_info": kb.kernel_info_request,
        "execute": lambda: kb.run("pass"),
        "inspect": lambda: kb.inspect(INSPECT_CODE),
        "complete": lambda: kb.complete(COMPLETE_CODE),
    }, quiesce)


def jc_contender(jc: Any, timeout: float = REQUEST_TIMEOUT) -> Contender:
    """jupyter_client's AsyncKernelClient as a contender (bench/_daemon.py uses it too)."""
    async def execute() -> None:
        # As nbclient and execute_interactive do: outputs until idle, then the reply.
        msg_id = jc.execute("pass", allow_stdin=False)
        while True:
            msg = await jc.get_iopub_msg(timeout=timeout)
            if (
                msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"]["execution_state"] == "idle"
            ):
                break
        while (await jc.get_shell_msg(timeout=timeout))["parent_header"].get(
            "msg_id"
        ) != msg_id:
            pass

    async def quiesce() -> None:
        while await jc.iopub_channel.msg_ready():
            await jc.get_iopub_msg(timeout=0)

    return Contender(JC, {
        "kernel_info": lambda: jc.kernel_info(reply=True, timeout=timeout),
        "execute": execute,
        "inspect": lambda: jc.inspect(
            INSPECT_CODE, detail_level=0, reply=True, timeout=timeout
        ),
        "complete": lambda: jc.complete(COMPLETE_CODE, reply=True, timeout=timeout),
    }, quiesce)


async def _interleaved(
    op: str, contenders: list[Contender], rounds: int, warmup: int
) -> dict[str, list[float]]:
    """Round trips (µs) of ``op`` by each contender, one request each per round."""
    samples: dict[str, list[float]] = {c.name: [] for c in contenders}
    n = len(contenders)
    for i in range(warmup + rounds):
        order = contenders[i % n :] + contenders[: i % n]
        current = ""
        try:
            with anyio.fail_after(ROUND_DEADLINE):
                for c in order:
                    current = c.name
                    await anyio.sleep(SETTLE)
                    await c.quiesce()
                    request = c.ops[op]
                    t0 = time.perf_counter_ns()
                    await request()
                    elapsed = time.perf_counter_ns() - t0
                    if i >= warmup:
                        samples[c.name].append(elapsed / 1000)
        except TimeoutError:
            raise RuntimeError(
                f"{op} by {current} did not complete within the round's {ROUND_DEADLINE} s"
            ) from None
    return samples


def _report_roundtrip(ctx: Context, op: str, samples: dict[str, list[float]]) -> None:
    label = LABELS[op]
    with_goal = ROUNDTRIP_GOALS[op]
    raw, kb, jc = samples[RAW], samples[KB], samples[JC]
    for name in (RAW, KB, JC):
        ctx.report(Figure(f"{label} p50 {name}", median(samples[name]), "µs"))

    def ratio(s: list[list[float]]) -> float:
        return median(s[1]) / median(s[0])

    def margin(s: list[list[float]]) -> float:
        floor = median(s[0])
        jc_margin = median(s[2]) - floor
        return (median(s[1]) - floor) / jc_margin if jc_margin > 0 else float("nan")

    resamples = 200 if ctx.quick else 400
    lo, hi = bootstrap([raw, kb], ratio, resamples)
    ctx.report(Figure(
        f"{label} p50 ratio kernelbridge/raw", ratio([raw, kb]), "x",
        RATIO_GOAL if with_goal else None, f"95% CI {lo:.3f}-{hi:.3f}x",
    ))
    lo, hi = bootstrap([raw, jc], ratio, resamples)
    ctx.report(Figure(
        f"{label} p50 ratio jupyter_client/raw", ratio([raw, jc]), "x", None,
        f"95% CI {lo:.3f}-{hi:.3f}x",
    ))
    value = margin([raw, kb, jc])
    lo, hi = bootstrap([raw, kb, jc], margin, resamples)
    ctx.report(Figure(
        f"{label} kb margin as a fraction of jc margin", value, "",
        MARGIN_GOAL if with_goal else None,
        f"95% CI {lo:.3f} to {hi:.3f}" if math.isfinite(value)
        else "undefined: jupyter_client no slower than raw",
    ))


async def roundtrips(ctx: Context, plan: Plan) -> None:
    from jupyter_client.asynchronous import AsyncKernelClient

    # start_kernel's own deadline bounds the start (ClientOptions.ready_timeout).
    async with start_kernel(KERNEL) as kernel:
        raw_context = zmq.Context()
        raw = RawClient(kernel.info.to_dict(), raw_context)
        jc = AsyncKernelClient()
        jc.load_connection_file(str(kernel.connection_file))
        jc.start_channels()
        try:
            with anyio.fail_after(READY_DEADLINE):
                await raw.wait_ready()
                await jc.wait_for_ready(timeout=READY_DEADLINE)
            contenders = [_raw_contender(raw), _kb_contender(kernel.client), jc_contender(jc)]
            for op, (warmup, rounds) in plan.rounds.items():
                ctx.log(f"{LABELS[op]}: {rounds} rounds after {warmup} untimed, "
                        "order rotated each round")
                samples = await _interleaved(op, contenders, rounds, warmup)
                _report_roundtrip(ctx, op, samples)
        finally:
            jc.stop_channels()
            jc.context.destroy(linger=0)
            raw.close()
            raw_context.term()


# -- 2. kernel start to ready -------------------------------------------------------------


async def _start_kb() -> float:
    """Seconds from nothing to a ready kernel (kernel_info answered, iopub delivering)."""
    with anyio.fail_after(START_DEADLINE):
        t0 = time.perf_counter()
        async with start_kernel(KERNEL):
            elapsed = time.perf_counter() - t0
    return elapsed


async def _start_jc() -> float:
    """The same with jupyter_client: manager, channels, wait_for_ready."""
    from jupyter_client.manager import AsyncKernelManager

    with anyio.fail_after(START_DEADLINE):
        t0 = time.perf_counter()
        km = AsyncKernelManager(kernel_name=KERNEL)
        ok = False
        try:
            # Like kernelbridge: the kernel does not write to our stdout/stderr.
            await km.start_kernel(
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=READY_DEADLINE)
                elapsed = time.perf_counter() - t0
            finally:
                kc.stop_channels()
            ok = True
        finally:
            with anyio.CancelScope(shield=True):
                if km.has_kernel:
                    await km.shutdown_kernel(now=not ok)  # also destroys its zmq context
    return elapsed


async def kernel_starts(ctx: Context, plan: Plan) -> None:
    ctx.log(f"kernel start to ready: {plan.starts} starts each, alternating")
    times: dict[str, list[float]] = {KB: [], JC: []}
    for i in range(plan.starts):
        pair = [(KB, _start_kb), (JC, _start_jc)]
        for name, start in pair if i % 2 == 0 else pair[::-1]:
            times[name].append(await start())
    kb, jc = median(times[KB]), median(times[JC])
    spread = {n: f"{min(t):.2f}-{max(t):.2f} s" for n, t in times.items()}
    ctx.report(Figure("kernel start to ready p50 kernelbridge", kb, "s",
                      note=f"range {spread[KB]}"))
    ctx.report(Figure("kernel start to ready p50 jupyter_client", jc, "s",
                      note=f"range {spread[JC]}"))
    ctx.report(Figure("kernel start to ready p50 ratio kernelbridge/jupyter_client", kb / jc, "x",
                      START_GOAL))


# -- 3. iopub -----------------------------------------------------------------------------

PUBLISHER = Path(__file__).with_name("_publisher.py")


class _Counter:
    """The listener: counts messages and notes when the first and last came."""

    __slots__ = ("count", "done", "first", "last", "target")

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.first = self.last = 0.0
        self.done = anyio.Event()

    def __call__(self, msg: Message) -> None:
        self.count += 1
        self.last = time.perf_counter()
        if self.count == 1:
            self.first = self.last
        if self.count == self.target:
            self.done.set()


@dataclass
class Received:
    rate: float  # messages per second, from the first to the last
    lost: int  # published but never received
    refused: int  # received but dropped by the client (bad signature, ...)
    publisher_rate: float  # the publisher's own send rate


class _Publisher:
    """The publisher process (bench/_publisher.py) for ``count`` messages to ``url``,
    signed with ``key``: started on entry, gone on exit."""

    def __init__(self, url: str, key: str, count: int) -> None:
        self.config = {"url": url, "key": key, "count": count}
        self.proc: subprocess.Popen[bytes] | None = None
        self.report: dict[str, Any] | None = None

    def __enter__(self) -> _Publisher:
        self.proc = subprocess.Popen(
            [sys.executable, str(PUBLISHER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(self.config).encode() + b"\n")
        self.proc.stdin.flush()
        if (line := self._read_line()) != "ready":
            raise RuntimeError(f"unexpected line from the publisher: {line!r}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        assert self.proc is not None
        if exc_type is not None:
            self.proc.kill()  # it may be waiting for a subscriber that will not come
        try:
            self.proc.wait(timeout=10)  # it exits once it has sent everything
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _read_line(self) -> str:
        """Its next line, within PUBLISHER_DEADLINE. Blocks the thread, event loop included
        (on purpose where the receiver must not read yet)."""
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + PUBLISHER_DEADLINE
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise RuntimeError(f"the publisher said nothing within {PUBLISHER_DEADLINE} s")
            chunk = self.proc.stdout.read(1)
            if not chunk:
                raise RuntimeError(f"the publisher exited (code {self.proc.wait()})")
            line += chunk
        return line.decode().strip()

    def wait_sent(self, settle: float = 0.0) -> float:
        """Block until it has sent everything (then ``settle`` seconds more, for the last
        bytes to cross loopback into the receiver's queue); returns its send rate."""
        if self.report is None:
            self.report = json.loads(self._read_line())
            time.sleep(settle)
        return self.report["sent"] / self.report["seconds"]


async def _kernelbridge_receive(count: int, backlog: bool) -> Received:
    """Publish ``count`` stream messages to a KernelClient (heartbeat off, no kernel: only
    its iopub reader, decoding and routing to the listeners). ``backlog``: hold the event
    loop until every message has left the publisher, then measure the drain."""
    info = new_connection_info("tcp")
    client = KernelClient(info, ClientOptions(heartbeat=False))
    counter = _Counter(count)
    client.add_listener(counter)
    with _Publisher(info.url("iopub"), info.key, count) as publisher:
        async with anyio.create_task_group() as tg:
            await tg.start(client.serve)
            assert client._channels is not None
            if (hwm := client._channels.sockets["iopub"].rcvhwm) != 0:
                raise RuntimeError(f"the iopub SUB socket has rcvhwm {hwm}: floods drop output")
            if backlog:
                publisher.wait_sent(settle=0.2)
            with anyio.fail_after(IOPUB_DEADLINE):
                while not counter.done.is_set():
                    seen = counter.count
                    with anyio.move_on_after(STALL):
                        await counter.done.wait()
                    if counter.count == seen:
                        break  # stalled: the rest is not coming
            client.close()
        publisher_rate = publisher.wait_sent()
    span = counter.last - counter.first
    return Received(
        rate=(counter.count - 1) / span if span > 0 else float("nan"),
        lost=count - counter.count,
        refused=sum(v for k, v in client.stats.items() if k.startswith("dropped")),
        publisher_rate=publisher_rate,
    )


def _raw_receive(count: int, *, decoded: bool = True) -> Received:
    """The floor of the backlog drain: a SUB socket read in a plain loop, each message
    received frame by frame and decoded (hmac + orjson), nothing else. Not ``decoded``:
    only received, the most any Python reader of this socket can do here."""
    info = new_connection_info("tcp")
    context = zmq.Context()
    sock = context.socket(zmq.SUB)
    sock.linger = 0
    sock.rcvhwm = 0
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    mac = new_mac(info.key.encode())
    n, first, last = 0, 0.0, 0.0
    try:
        with _Publisher(info.url("iopub"), info.key, count) as publisher:
            sock.connect(info.url("iopub"))
            publisher_rate = publisher.wait_sent(settle=0.2)
            while n < count:
                try:
                    frames = recv_nowait(sock)
                except zmq.Again:
                    if not sock.poll(int(STALL * 1000)):
                        break  # stalled: the rest is not coming
                    continue
                if decoded:
                    decode(mac, frames)
                n += 1
                last = time.perf_counter()
                if n == 1:
                    first = last
    finally:
        sock.close(linger=0)
        context.term()
    span = last - first
    return Received(
        rate=(n - 1) / span if span > 0 else float("nan"),
        lost=count - n,
        refused=0,
        publisher_rate=publisher_rate,
    )


def _decode_rates(plan: Plan) -> dict[str, float]:
    """Messages per second decoded from the same frames by each decoder, in a plain loop
    (fresh decoders each pass: they remember signatures to refuse replays)."""
    from jupyter_client.session import Session

    key = new_connection_info("tcp").key.encode()
    frames = stream_frames(key, plan.decode)
    frames_jc = frames[: plan.decode_jc]

    def raw_floor() -> int:
        mac = new_mac(key)
        for f in frames:
            decode(mac, f)
        return len(frames)

    def wirecodec() -> int:
        codec = WireCodec(key)
        for f in frames:
            codec.deserialize(f)
        return len(frames)

    def session() -> int:
        s = Session(key=key, signature_scheme="hmac-sha256")
        for f in frames_jc:
            _, msg_list = s.feed_identities(f)
            s.deserialize(msg_list)
        return len(frames_jc)

    rates: dict[str, list[float]] = {RAW: [], KB: [], JC: []}
    for _ in range(plan.decode_passes):
        for name, loop in ((RAW, raw_floor), (KB, wirecodec), (JC, session)):
            t0 = time.perf_counter()
            n = loop()
            rates[name].append(n / (time.perf_counter() - t0))
    return {name: median(r) for name, r in rates.items()}


def _lost(ctx: Context, what: str, received: Received) -> None:
    ctx.report(Figure(f"iopub messages lost, {what}", received.lost, "msgs", LOST_GOAL,
                      f"{received.refused} refused by the client"))


async def iopub(ctx: Context, plan: Plan) -> None:
    ctx.log(f"iopub: {plan.iopub_live:,} stream messages from a publisher at full speed, "
            f"then {plan.iopub_backlog:,} drained from a backlog")
    live = await _kernelbridge_receive(plan.iopub_live, backlog=False)
    ctx.report(Figure("iopub decoded+routed by kernelbridge, live publisher", live.rate,
                      "msg/s", IOPUB_GOAL))
    ctx.report(Figure("iopub publisher send rate", live.publisher_rate, "msg/s"))
    _lost(ctx, "live", live)
    kbs: list[Received] = []
    raws: list[Received] = []
    receives: list[Received] = []
    for _ in range(plan.backlog_passes):
        kbs.append(await _kernelbridge_receive(plan.iopub_backlog, backlog=True))
        raws.append(_raw_receive(plan.iopub_backlog))
        receives.append(_raw_receive(plan.iopub_backlog, decoded=False))
    kb_rate, raw_rate = median([r.rate for r in kbs]), median([r.rate for r in raws])
    passes = f"median of {plan.backlog_passes}"
    ctx.report(Figure("iopub backlog drained by kernelbridge", kb_rate, "msg/s", note=passes))
    ctx.report(Figure("iopub backlog drained by raw floor (recv+hmac+orjson)", raw_rate,
                      "msg/s", note=passes))
    ctx.report(Figure("iopub backlog drain rate ratio kernelbridge/raw", kb_rate / raw_rate,
                      "x"))
    # The ceiling of any pure-Python reader here (the daemon's output goal is above it).
    ctx.report(Figure("iopub backlog received by a bare pyzmq loop (recv only, no decode)",
                      median([r.rate for r in receives]), "msg/s", note=passes))
    _lost(ctx, "backlog, kernelbridge", Received(
        math.nan, sum(r.lost for r in kbs), sum(r.refused for r in kbs), math.nan))
    _lost(ctx, "backlog, raw", Received(math.nan, sum(r.lost for r in raws), 0, math.nan))
    rates = _decode_rates(plan)
    ctx.report(Figure("iopub decode loop raw floor (hmac+orjson)", rates[RAW], "msg/s"))
    ctx.report(Figure("iopub decode loop kernelbridge WireCodec", rates[KB], "msg/s"))
    ctx.report(Figure("iopub decode loop jupyter_client Session", rates[JC], "msg/s"))
    ctx.report(Figure("iopub decode loop rate ratio kernelbridge/raw", rates[KB] / rates[RAW],
                      "x"))
    ctx.report(Figure("iopub decode loop rate ratio jupyter_client/raw",
                      rates[JC] / rates[RAW], "x"))
