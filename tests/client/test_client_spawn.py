"""DaemonClient.spawn against a fake daemon process (tests/client/fake_daemon.py)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from kernelbridge.client import ClientError, DaemonClient, DaemonExited, RpcError

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

FAKE = [sys.executable, str(Path(__file__).with_name("fake_daemon.py"))]


async def test_spawn_handshakes_serves_and_exits_cleanly() -> None:
    async with DaemonClient.spawn(
        FAKE, initialization_options={"opt": 1}, timeout=10
    ) as client:
        assert client.server_info == {"name": "fake-daemon", "version": "0"}
        assert client.capabilities == {"fake": True}
        sent = client.initialize_result["echo"]
        assert sent["initializationOptions"] == {"opt": 1}
        assert sent["clientInfo"] == {"name": "kernelbridge.client"}
        assert await client.request("test/echo", {"a": [1, 2]}, timeout=10) == {"a": [1, 2]}
        with pytest.raises(RpcError) as info:
            await client.request("test/nope", timeout=10)
        assert info.value.code == -32601
    assert client.returncode == 0  # it got shutdown + exit, and exited by itself
    assert client.exception is None


async def test_notifications_and_server_requests_through_a_process() -> None:
    async with DaemonClient.spawn(FAKE, timeout=10) as client:
        prompts: list[Any] = []

        async def answer(params: Any) -> dict[str, str]:
            prompts.append(params["prompt"])
            return {"value": "42"}

        client.on_request("kernelbridge/input", answer)
        async with client.subscribe("test/note") as notes:
            assert await client.request("test/notify", {"count": 500}, timeout=10) == 500
            assert notes.pending() == 500
            assert [(await notes.receive(timeout=5))["i"] for _ in range(500)] == list(range(500))
        reply = await client.request("test/ask", {"prompt": "Name? "}, timeout=10)
        assert reply == {"value": "42"}
        assert prompts == ["Name? "]


async def test_frames_bigger_than_the_pipe_keep_their_order() -> None:
    # A frame larger than the pipe buffer (64 KiB) is only partly written at once: the
    # rest must go before any later frame, whether sent directly or by the writer task.
    big = "x" * (1 << 20)
    async with DaemonClient.spawn(FAKE, timeout=10) as client:
        async with anyio.create_task_group() as tg:
            results: dict[int, Any] = {}

            async def echo(n: int, payload: str) -> None:
                results[n] = await client.request("test/echo", {"n": n, "s": payload},
                                                  timeout=20)

            for n in range(6):
                tg.start_soon(echo, n, big if n % 2 == 0 else str(n))
        assert {n: r["n"] for n, r in results.items()} == {n: n for n in range(6)}
        assert all(r["s"] == (big if n % 2 == 0 else str(n)) for n, r in results.items())
        client.notify("test/nothing", {"s": big})
        assert await client.request("test/echo", {"after": True}, timeout=10) == {"after": True}


async def test_daemon_crash_fails_the_request_with_exit_code_and_stderr() -> None:
    async with DaemonClient.spawn(FAKE, timeout=10) as client:
        with pytest.raises(DaemonExited) as info:
            await client.request("test/crash", {"code": 3}, timeout=10)
        with pytest.raises(DaemonExited):
            await client.request("test/echo", timeout=10)
    assert info.value.returncode == 3
    assert "crashing on request" in info.value.stderr_tail
    assert "code 3" in str(info.value) and "crashing on request" in str(info.value)
    assert client.returncode == 3


async def test_a_daemon_that_ignores_exit_is_killed() -> None:
    with anyio.fail_after(20):
        async with DaemonClient.spawn(
            [*FAKE, "--ignore-exit"], timeout=10, shutdown_timeout=0.5
        ) as client:
            assert await client.request("test/echo", 1, timeout=10) == 1
    assert client.returncode == -signal.SIGKILL


async def test_chatty_stderr_is_drained_and_only_its_tail_kept() -> None:
    async with DaemonClient.spawn(FAKE, timeout=10) as client:
        # 1 MB is far more than a pipe buffer: without draining, the daemon would block.
        await client.request("test/stderr", {"bytes": 1_000_000}, timeout=10)
    # Closing waits for stderr's end, so the tail is complete afterwards.
    assert client.stderr_tail.endswith("end of stderr\n")
    assert len(client.stderr_tail) <= 64 * 1024


async def test_daemon_dying_before_initialize_raises_daemon_exited() -> None:
    command = [sys.executable, "-c",
               "import sys; sys.stderr.write('bad option --stdio\\n'); sys.exit(2)"]
    with pytest.raises(DaemonExited) as info:
        async with DaemonClient.spawn(command, timeout=10):
            pytest.fail("must not get here")
    assert info.value.returncode == 2
    assert "bad option" in str(info.value)


async def test_missing_command_raises_client_error() -> None:
    with pytest.raises(ClientError, match="cannot start the daemon"):
        async with DaemonClient.spawn(["/nonexistent/kernelbridge", "--stdio"]):
            pytest.fail("must not get here")


async def test_stderr_can_be_routed_elsewhere(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    with log.open("w") as stderr:
        async with DaemonClient.spawn(FAKE, timeout=10, stderr=stderr) as client:
            await client.request("test/stderr", {"bytes": 10}, timeout=10)
    assert client.stderr_tail == ""
    assert log.read_text().endswith("end of stderr\n")


async def test_daemon_death_is_seen_even_if_a_child_keeps_its_stdout_open() -> None:
    async with DaemonClient.spawn([*FAKE, "--leak-stdout"], timeout=10) as client:
        with pytest.raises(DaemonExited) as info:
            await client.request("test/crash", {"code": 4}, timeout=10)
    assert info.value.returncode == 4


async def test_cancelled_body_still_shuts_the_daemon_down() -> None:
    with anyio.CancelScope() as scope:
        async with DaemonClient.spawn(FAKE, timeout=10) as client:
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert client.returncode == 0


async def test_error_in_body_propagates_and_the_daemon_still_exits() -> None:
    with pytest.raises(ValueError, match="user bug"):
        async with DaemonClient.spawn(FAKE, timeout=10) as client:
            raise ValueError("user bug")
    assert client.returncode == 0
