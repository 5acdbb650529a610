"""Chaos: kernels and the daemon killed, stopped, cut off and restarted at bad moments.

- A kernel SIGKILLed mid-execution: ``dead`` and every pending request failed (1002)
  within 1 s.
- A kernel SIGSTOPped: its heartbeat goes silent; a kernel the daemon started (whose
  process it watches) is reported ``unresponsive`` and nothing pending is failed, and it
  goes back to its state on SIGCONT; a kernel it only connected to is ``dead`` (the
  heartbeat is all the daemon knows of it) and ``idle`` again when it answers.
- The daemon SIGKILLed: its kernels exit by themselves (JPY_PARENT_PID) within seconds.
- End of input: a clean exit (0) with kernels busy and waiting for input; no orphans.
- A restart during an output flood; an interrupt during an input request (a late answer
  to the cancelled prompt feeds nothing).
- 20 kernels started and stopped in a loop: the daemon's descriptors, threads and child
  processes are measured before and after.

CI mode takes about a minute on two cores. ``KERNELBRIDGE_RELIABILITY_LONG=1`` loops 100
kernels. Figures (detection times, counts before/after) go to ``chaos.json`` in
``probes.figures_path``'s directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from kernelbridge.client import ClientError, DaemonClient, RpcError
from kernelbridge.jupyter import find_kernelspecs

from .fake_kernel import FakeKernel
from .probes import (
    DAEMON,
    children,
    daemon_env,
    exists,
    fd_count,
    pid_alive,
    process_exit,
    process_state,
    record,
    runtime_leftovers,
    thread_count,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

LONG = os.environ.get("KERNELBRIDGE_RELIABILITY_LONG") == "1"
LOOP_KERNELS = 100 if LONG else 20
INSTALLED = {spec.name for spec in find_kernelspecs()}


async def start(daemon: DaemonClient, **params: Any) -> dict[str, Any]:
    return await daemon.request("kernelbridge/start", {"kernelspec": "python3", **params},
                                timeout=60)


class Background:
    """A request running in a task: its result or error, and when it ended."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: RpcError | None = None
        self.lost: ClientError | None = None  # the daemon went away
        self.ended: float | None = None
        self.done = anyio.Event()

    async def run(self, daemon: DaemonClient, method: str, params: dict[str, Any],
                  timeout: float = 60) -> None:
        try:
            self.result = await daemon.request(method, params, timeout=timeout)
        except RpcError as exc:
            self.error = exc
        except ClientError as exc:
            self.lost = exc
        finally:
            self.ended = time.monotonic()
            self.done.set()


async def next_status(status: Any, state: str, timeout: float) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            note = await status.receive()
            if note["state"] == state:
                return note


# -- a kernel killed ------------------------------------------------------------------------


async def test_sigkill_mid_execution_fails_everything_pending_within_a_second() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        kernel = await start(daemon)
        kid = kernel["kernelId"]
        running, queued, more, complete = Background(), Background(), Background(), \
            Background()
        async with daemon.subscribe("kernelbridge/status") as status, \
                daemon.subscribe("kernelbridge/output") as outputs, \
                anyio.create_task_group() as tg:
            tg.start_soon(running.run, daemon, "kernelbridge/execute", {
                "kernelId": kid, "code": "print('ready', flush=True)\nimport time\n"
                "time.sleep(600)"})
            with anyio.fail_after(20):
                await outputs.receive()  # it runs
            tg.start_soon(queued.run, daemon, "kernelbridge/execute",
                          {"kernelId": kid, "code": "1"})
            tg.start_soon(more.run, daemon, "kernelbridge/execute",
                          {"kernelId": kid, "code": "2", "allowStdin": False})
            tg.start_soon(complete.run, daemon, "kernelbridge/complete",
                          {"kernelId": kid, "code": "pri"})
            # All four are with the kernel before the kill: a listing is answered after
            # the daemon handled every request sent before it.
            await daemon.request("kernelbridge/kernels", timeout=10)
            killed = time.monotonic()
            os.kill(kernel["pid"], signal.SIGKILL)
            note = await next_status(status, "dead", 5)
            dead_after = time.monotonic() - killed
            with anyio.fail_after(5):
                for request in (running, queued, more, complete):
                    await request.done.wait()
    pending = (running, queued, more, complete)
    failed_after = max(r.ended for r in pending if r.ended is not None) - killed
    assert (note["exitCode"], note["reason"]) == (-9, "the kernel process exited with code -9")
    for request in pending:
        assert request.error is not None and request.error.code == 1002, request.result
    assert running.error is not None and running.error.data == {
        "type": "KernelDied", "exitCode": -9}
    record("chaos", "sigkill_dead_status_s", round(dead_after, 3))
    record("chaos", "sigkill_pending_failed_s", round(failed_after, 3))
    assert dead_after < 1.0 and failed_after < 1.0


# -- a kernel stopped -----------------------------------------------------------------------

TICKS = "import time\nfor i in range(25):\n    print(i, flush=True)\n    time.sleep(0.1)"


async def test_sigstop_is_reported_unresponsive_and_nothing_is_lost() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        kernel = await start(daemon)
        kid, pid = kernel["kernelId"], kernel["pid"]
        run = Background()
        try:
            async with daemon.subscribe("kernelbridge/status") as status, \
                    daemon.subscribe("kernelbridge/output") as outputs, \
                    anyio.create_task_group() as tg:
                tg.start_soon(run.run, daemon, "kernelbridge/execute",
                              {"kernelId": kid, "code": TICKS, "executionId": "ticks"})
                with anyio.fail_after(20):
                    first = await outputs.receive()
                stopped = time.monotonic()
                os.kill(pid, signal.SIGSTOP)
                note = await next_status(status, "unresponsive", 5)
                detected = time.monotonic() - stopped
                assert "heartbeat" in note["reason"] and "alive" in note["reason"]
                (listed,) = await daemon.request("kernelbridge/kernels")
                assert listed["state"] == "unresponsive"
                # A stopped kernel is not a dead one: nothing pending was failed.
                assert not run.done.is_set()
                assert process_state(pid) == "T"
                resumed = time.monotonic()
                os.kill(pid, signal.SIGCONT)
                back = await next_status(status, "busy", 5)
                recovered = time.monotonic() - resumed
                assert back.get("reason") is None
                assert back.get("executionId") == "ticks"  # the execution it was running
                with anyio.fail_after(30):
                    await run.done.wait()
                texts = [o["content"]["text"] for o in [first, *outputs.drain()]]
        finally:
            os.kill(pid, signal.SIGCONT)  # never leave a stopped process behind
    assert run.error is None and run.result["status"] == "ok"
    # Every tick arrived, once, in order.
    assert "".join(texts) == "".join(f"{i}\n" for i in range(25))
    record("chaos", "sigstop_unresponsive_after_s", round(detected, 3))
    record("chaos", "sigcont_responsive_after_s", round(recovered, 3))
    assert detected < 2.0 and recovered < 2.0


async def test_stopped_kernel_is_shut_down_and_restarted_without_waiting_for_it() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30,
                                  initialization_options={"kernels": {"shutdownWait": 5}}
                                  ) as daemon:
        first, second = await start(daemon), await start(daemon)
        async with daemon.subscribe("kernelbridge/status") as status:
            for kernel in (first, second):
                os.kill(kernel["pid"], signal.SIGSTOP)
            for _ in (first, second):
                await next_status(status, "unresponsive", 5)
        try:
            began = time.monotonic()
            restarted = await daemon.request("kernelbridge/restart",
                                             {"kernelId": first["kernelId"]}, timeout=30)
            restart_s = time.monotonic() - began
            began = time.monotonic()
            await daemon.request("kernelbridge/shutdown", {"kernelId": second["kernelId"]},
                                 timeout=30)
            shutdown_s = time.monotonic() - began
        finally:
            for kernel in (first, second):
                if pid_alive(kernel["pid"]):
                    os.kill(kernel["pid"], signal.SIGCONT)
        assert restarted["state"] == "idle" and restarted["pid"] != first["pid"]
        ok = await daemon.request("kernelbridge/execute",
                                  {"kernelId": first["kernelId"], "code": "1"}, timeout=20)
        assert ok["status"] == "ok"
    assert not pid_alive(first["pid"]) and not pid_alive(second["pid"])
    record("chaos", "stopped_kernel_restart_s", round(restart_s, 3))
    record("chaos", "stopped_kernel_shutdown_s", round(shutdown_s, 3))
    # Neither waited kernels.shutdownWait (5 s) for an answer that could not come.
    assert shutdown_s < 2.5 and restart_s < 4.5


async def test_silent_heartbeat_of_a_connected_kernel_is_its_death(tmp_path: Path) -> None:
    with FakeKernel(tmp_path) as fake:
        async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
            kernel = await daemon.request("kernelbridge/connect",
                                          {"connectionFile": str(fake.connection_file)},
                                          timeout=20)
            kid = kernel["kernelId"]
            hung = Background()
            async with daemon.subscribe("kernelbridge/status") as status, \
                    anyio.create_task_group() as tg:
                tg.start_soon(hung.run, daemon, "kernelbridge/execute",
                              {"kernelId": kid, "code": "hang"})
                await next_status(status, "busy", 5)
                paused = time.monotonic()
                fake.hb_paused.set()
                note = await next_status(status, "dead", 5)
                detected = time.monotonic() - paused
                with anyio.fail_after(5):
                    await hung.done.wait()
                fake.hb_paused.clear()
                resumed = time.monotonic()
                await next_status(status, "idle", 5)
                revived = time.monotonic() - resumed
            assert note["reason"] == "the kernel stopped answering its heartbeat"
            assert hung.error is not None and hung.error.code == 1002
            again = await daemon.request("kernelbridge/execute",
                                         {"kernelId": kid, "code": "back"}, timeout=10)
            assert again["status"] == "ok"
    record("chaos", "connected_heartbeat_dead_after_s", round(detected, 3))
    record("chaos", "connected_heartbeat_idle_again_after_s", round(revived, 3))
    assert detected < 2.0


# -- the daemon killed, or its input closed -------------------------------------------------


async def test_daemon_sigkill_kernels_exit_by_themselves() -> None:
    # ipykernel watches JPY_PARENT_PID; xeus-python does not, and relies on the daemon's
    # parent-death signal alone.
    specs = ["python3", "python3", *(["xpython"] if "xpython" in INSTALLED else [])]
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        kernels: list[dict[str, Any]] = []

        async def one(spec: str) -> None:
            kernels.append(await start(daemon, kernelspec=spec))

        async with anyio.create_task_group() as tg:
            for spec in specs:
                tg.start_soon(one, spec)
        busy = Background()
        async with anyio.create_task_group() as tg:
            tg.start_soon(busy.run, daemon, "kernelbridge/execute",
                          {"kernelId": kernels[0]["kernelId"],
                           "code": "import time; time.sleep(600)"})
            await daemon.request("kernelbridge/kernels")
            assert daemon._daemon is not None
            daemon_pid = daemon._daemon.process.pid
            killed = time.monotonic()
            os.kill(daemon_pid, signal.SIGKILL)
            with anyio.fail_after(10):
                await busy.done.wait()
    assert busy.lost is not None  # the client saw the daemon die
    pids = [k["pid"] for k in kernels]
    try:
        with anyio.fail_after(10):  # the kernels of a SIGKILLed daemon exit
            for pid in pids:
                await process_exit(pid)
    finally:
        for kernel in kernels:  # no orphan, even when this fails
            if pid_alive(kernel["pid"]):
                os.kill(kernel["pid"], signal.SIGKILL)
    gone_after = time.monotonic() - killed
    left = [k["connectionFile"] for k in kernels if exists(k["connectionFile"])]
    record("chaos", "daemon_sigkill_kernels", sorted(k["kernelspec"] for k in kernels))
    record("chaos", "daemon_sigkill_kernels_gone_s", round(gone_after, 3))
    record("chaos", "daemon_sigkill_connection_files_left", len(left))
    assert gone_after < 5.0


async def test_end_of_input_exits_cleanly_with_busy_kernels(tmp_path: Path) -> None:
    asked = anyio.Event()

    async def never_answer(params: Any) -> dict[str, str]:
        asked.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with await anyio.open_process(DAEMON, env=daemon_env(), stderr=subprocess.DEVNULL
                                        ) as process:
        assert process.stdin is not None and process.stdout is not None
        async with DaemonClient.connect(process.stdout, process.stdin) as daemon:
            daemon.on_request("kernelbridge/input", never_answer)
            await daemon.initialize(timeout=30)
            first, second = await start(daemon), await start(daemon)
            before = children(process.pid)
            assert {first["pid"], second["pid"]} <= before
            waiting, sleeping = Background(), Background()
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiting.run, daemon, "kernelbridge/execute",
                              {"kernelId": first["kernelId"], "code": "input('never: ')"})
                tg.start_soon(sleeping.run, daemon, "kernelbridge/execute",
                              {"kernelId": second["kernelId"],
                               "code": "import time; time.sleep(600)"})
                with anyio.fail_after(20):
                    await asked.wait()
                await daemon.request("kernelbridge/kernels")
                closed = time.monotonic()
                await process.stdin.aclose()
                with anyio.fail_after(20):
                    code = await process.wait()
                exited = time.monotonic() - closed
                tg.cancel_scope.cancel()
    assert code == 0
    for kernel in (first, second):
        assert not pid_alive(kernel["pid"])
        assert not exists(kernel["connectionFile"])
    assert not [p for p in before if pid_alive(p)], "orphans"
    assert not runtime_leftovers()
    record("chaos", "stdin_eof_exit_s", round(exited, 3))
    assert exited < 10


# -- restart and interrupt at bad moments ---------------------------------------------------

FLOOD = "import sys\nwhile True:\n    sys.stdout.write('x' * 1000 + '\\n')"


async def test_restart_during_an_output_flood() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        kernel = await start(daemon)
        kid = kernel["kernelId"]
        events: list[tuple[str, Any]] = []
        reached = anyio.Event()  # the flood reaches the editor: 20 outputs

        def output(p: dict[str, Any]) -> None:
            # Hundreds of MB go by: keep the flood's size, not its text.
            text = p["content"].get("text", "")
            if p.get("executionId") == "flood":
                p["content"] = {"chars": len(text)}
            events.append(("output", p))
            if sum(1 for k, _ in events if k == "output") >= 20:
                reached.set()

        daemon.on_notification("kernelbridge/output", output)
        daemon.on_notification("kernelbridge/status", lambda p: events.append(("status", p)))
        flood = Background()
        async with anyio.create_task_group() as tg:
            tg.start_soon(flood.run, daemon, "kernelbridge/execute",
                          {"kernelId": kid, "code": FLOOD, "executionId": "flood"})
            with anyio.fail_after(20):
                await reached.wait()
            began = time.monotonic()
            await daemon.request("kernelbridge/kernels", timeout=10)
            listing_s = time.monotonic() - began
            began = time.monotonic()
            restarted = await daemon.request("kernelbridge/restart", {"kernelId": kid},
                                             timeout=60)
            restart_s = time.monotonic() - began
            events.append(("restarted", None))
            with anyio.fail_after(10):
                await flood.done.wait()
            after = await daemon.request("kernelbridge/execute", {
                "kernelId": kid, "code": "print('after')", "executionId": "after"},
                timeout=20)
            seen = list(events)  # not the statuses of the daemon's own shutdown
    assert flood.error is not None and flood.error.code == 1004
    assert restarted["pid"] != kernel["pid"] and restarted["state"] == "idle"
    assert after["status"] == "ok"
    outputs = [p for kind, p in seen if kind == "output"]
    assert [o["seq"] for o in outputs] == list(range(1, len(outputs) + 1))
    mark = next(i for i, (kind, _) in enumerate(seen) if kind == "restarted")
    # After the restart's response, the old process says nothing more; the new one runs.
    late = [p for kind, p in seen[mark:] if kind == "output"]
    assert [(o.get("executionId"), o["content"].get("text")) for o in late] == \
        [("after", "after\n")]
    states = [p["state"] for kind, p in seen if kind == "status"]
    assert states[states.index("restarting"):] == ["restarting", "idle", "busy", "idle"]
    flood_chars = sum(o["content"]["chars"] for o in outputs
                      if o.get("executionId") == "flood")
    record("chaos", "flood_listing_latency_s", round(listing_s, 3))
    record("chaos", "flood_restart_s", round(restart_s, 3))
    record("chaos", "flood_chars_before_restart", flood_chars)
    assert listing_s < 2.0


async def test_interrupt_during_input_request_and_late_answer() -> None:
    first_cancelled = anyio.Event()
    second_asked = anyio.Event()
    late_sent = anyio.Event()
    first_asked = anyio.Event()
    prompts: list[str] = []

    async def answer(params: dict[str, Any]) -> dict[str, str]:
        prompts.append(params["prompt"])
        first_asked.set()
        if len(prompts) == 1:
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                first_cancelled.set()
            # Answer anyway, once the next prompt is waiting: it must not get this.
            with anyio.CancelScope(shield=True):
                await second_asked.wait()
            late_sent.set()
            return {"value": "LATE"}
        second_asked.set()
        with anyio.fail_after(5):
            await late_sent.wait()
        await daemon.flush()
        return {"value": "second"}

    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        daemon.on_request("kernelbridge/input", answer)
        kernel = await start(daemon)
        kid = kernel["kernelId"]
        first = Background()
        async with daemon.subscribe("$/cancelRequest") as cancels, \
                daemon.subscribe("kernelbridge/output") as outputs, \
                anyio.create_task_group() as tg:
            tg.start_soon(first.run, daemon, "kernelbridge/execute",
                          {"kernelId": kid, "code": "x = input('first: ')"})
            with anyio.fail_after(20):
                await first_asked.wait()
            began = time.monotonic()
            await daemon.request("kernelbridge/interrupt", {"kernelId": kid}, timeout=10)
            with anyio.fail_after(10):
                await first_cancelled.wait()
                await first.done.wait()
            interrupted_s = time.monotonic() - began
            second = await daemon.request("kernelbridge/execute", {
                "kernelId": kid, "code": "y = input('second: ')\nprint('got', y)"},
                timeout=20)
            cancelled = cancels.drain()
            printed = [o["content"].get("text") for o in outputs.drain()
                       if o["type"] == "stream"]
    assert first.result["status"] == "error"
    assert first.result["error"]["ename"] == "KeyboardInterrupt"
    assert len(cancelled) == 1 and cancelled[0]["id"].startswith("input-")
    assert prompts == ["first: ", "second: "]
    assert second["status"] == "ok"
    assert printed == ["got second\n"]
    record("chaos", "interrupt_during_input_s", round(interrupted_s, 3))


# -- leaks ----------------------------------------------------------------------------------


def _settled_counts(pid: int) -> dict[str, int]:
    return {"fds": fd_count(pid), "threads": thread_count(pid),
            "children": len(children(pid))}


async def _settle(pid: int, baseline: dict[str, int] | None, timeout: float) -> dict[str, int]:
    """The daemon's counts once back to ``baseline`` (or stable for half a second when
    there is none), else its counts at the deadline. Closed kernels' sockets and worker
    threads go away asynchronously: do not measure the middle of that."""
    deadline = time.monotonic() + timeout
    last = _settled_counts(pid)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        await anyio.sleep(0.1)
        now = _settled_counts(pid)
        if baseline is not None and all(now[k] <= baseline[k] for k in now):
            return now
        if now != last:
            last, stable_since = now, time.monotonic()
        elif baseline is None and time.monotonic() - stable_since > 0.5:
            return now
    return last


@pytest.mark.timeout(600 if LONG else 120)
async def test_start_stop_loop_leaks_no_descriptors_threads_or_processes() -> None:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as daemon:
        assert daemon._daemon is not None
        pid = daemon._daemon.process.pid

        async def cycle() -> None:
            kernel = await start(daemon)
            result = await daemon.request("kernelbridge/execute",
                                          {"kernelId": kernel["kernelId"], "code": "1"})
            assert result["status"] == "ok"
            await daemon.request("kernelbridge/shutdown", {"kernelId": kernel["kernelId"]},
                                 timeout=30)
            assert not pid_alive(kernel["pid"])

        # Warm-up: the first kernel imports jupyter_client and makes the zmq context
        # (its I/O thread and descriptors live as long as the daemon).
        await cycle()
        before = await _settle(pid, None, 10)
        rss_before = _rss_kib(pid)
        began = time.monotonic()
        for _ in range(LOOP_KERNELS):
            await cycle()
        loop_s = time.monotonic() - began
        after = await _settle(pid, before, 15)
        rss_after = _rss_kib(pid)
        assert await daemon.request("kernelbridge/kernels") == []
        leftovers = runtime_leftovers()
    record("chaos", "loop", {"kernels": LOOP_KERNELS, "seconds": round(loop_s, 1),
                             "before": before, "after": after,
                             "rss_kib_before": rss_before, "rss_kib_after": rss_after})
    assert after["children"] == 0
    assert after["fds"] <= before["fds"], (before, after)
    assert after["threads"] <= before["threads"], (before, after)
    assert not leftovers, leftovers


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
