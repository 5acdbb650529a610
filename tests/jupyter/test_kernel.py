"""The kernel client and lifecycle against real kernels (ipykernel and xeus-python)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest

from kernelbridge.jupyter import (
    ConnectionInfo,
    Kernel,
    KernelClient,
    KernelDied,
    KernelLaunchError,
    KernelOptions,
    KernelRestarted,
    KernelSpecNotFound,
    KernelTimeout,
    Message,
    NotOwner,
    connect_kernel,
    runtime_dir,
    start_kernel,
)

pytestmark = pytest.mark.anyio


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0): check its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


async def test_kernel_info(kernel: Kernel) -> None:
    info = kernel.client.kernel_info
    assert info is not None
    assert info["language_info"]["name"] == "python"
    assert info["protocol_version"].startswith("5.")
    reply = await kernel.client.kernel_info_request()
    assert reply.msg_type == "kernel_info_reply"
    assert reply.channel == "shell"


async def test_execute_stream_result_display_error(kernel: Kernel) -> None:
    client = kernel.client
    result = await client.run("print('out'); import sys; print('err', file=sys.stderr); 6*7",
                              timeout=20)
    assert result.status == "ok"
    assert result.stream_text("stdout") == "out\n"
    assert result.stream_text("stderr") == "err\n"
    types = [m.msg_type for m in result.outputs]
    assert types[0] == "status" and types[-1] == "status"
    assert result.outputs[-1].content["execution_state"] == "idle"
    (res,) = [m for m in result.outputs if m.msg_type == "execute_result"]
    assert res.content["data"]["text/plain"] == "42"
    assert all(m.parent_id == result.reply.parent_id for m in result.outputs)

    shown = await client.run(
        "from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))", timeout=20
    )
    (display,) = [m for m in shown.outputs if m.msg_type == "display_data"]
    assert display.content["data"]["text/html"] == "<b>x</b>"

    failed = await client.run("1/0", timeout=20)
    assert failed.status == "error"
    # xeus-python reports "<class 'ZeroDivisionError'>" in the reply
    assert "ZeroDivisionError" in failed.reply.content["ename"]
    (err,) = [m for m in failed.outputs if m.msg_type == "error"]
    assert "ZeroDivisionError" in err.content["ename"]
    assert err.content["traceback"]


async def test_complete_inspect_is_complete_history(kernel: Kernel) -> None:
    client = kernel.client
    await client.run("alpha_beta = 1", timeout=20)
    comp = await client.complete("alpha_b")
    assert "alpha_beta" in comp.content["matches"]
    assert comp.content["cursor_end"] == 7

    insp = await client.inspect("len", 3)
    assert insp.content["status"] == "ok"
    assert insp.content["found"] is True
    assert "text/plain" in insp.content["data"]

    assert (await client.is_complete("x = 1")).content["status"] == "complete"
    assert (await client.is_complete("for i in range(3):")).content["status"] == "incomplete"

    hist = await client.history(hist_access_type="tail", n=5)
    assert hist.msg_type == "history_reply"
    assert hist.content["status"] == "ok"


async def test_input_request_answered(kernel: Kernel) -> None:
    client = kernel.client
    request = client.execute("name = input('who? ')\nprint('hello', name)", allow_stdin=True)
    seen = []
    text = ""
    with anyio.fail_after(20):
        async for msg in request.outputs():
            seen.append(msg.msg_type)
            if msg.msg_type == "input_request":
                assert msg.channel == "stdin"
                assert msg.content["prompt"] == "who? "
                assert msg.content["password"] is False
                client.input_reply("ada", msg)
            if msg.msg_type == "stream":
                text += msg.content["text"]
        reply = await request.reply()
    assert reply.content["status"] == "ok"
    assert "input_request" in seen
    assert text == "hello ada\n"


async def test_interrupt_busy_loop(kernel: Kernel) -> None:
    if kernel.kernel_name == "xpython":
        pytest.skip("xeus-python 0.19 exits on SIGINT and ignores interrupt_request in a loop")
    client = kernel.client
    # Interrupt only once the loop runs: a SIGINT that lands while ipykernel is still
    # setting the execution up is swallowed by its machinery, not raised in the code.
    # stop_on_error=False: otherwise ipykernel aborts requests that arrive just after the
    # interrupted one (its stop-on-error window), and the check below would race it.
    request = client.execute("print('looping', flush=True)\nwhile True: pass",
                             stop_on_error=False)
    async for msg in request.outputs():
        if msg.msg_type == "stream":
            break
    with anyio.fail_after(10):
        await kernel.interrupt()
        reply = await request.reply()
    assert reply.content["status"] == "error"
    assert reply.content["ename"] == "KeyboardInterrupt"
    assert (await client.run("1+1", timeout=10)).status == "ok"


async def test_restart_loses_state_and_fails_pending(kernel: Kernel) -> None:
    client = kernel.client
    await client.run("x = 5", timeout=20)
    pid = kernel.pid
    busy = client.execute("import time; time.sleep(30)")
    info = await kernel.restart()
    assert info["language_info"]["name"] == "python"
    assert kernel.pid != pid
    with pytest.raises(KernelRestarted):
        await busy.reply()
    result = await client.run("print('x' in dir())", timeout=20)
    assert result.stream_text() == "False\n"
    assert process_gone(pid)


async def test_shutdown_leaves_nothing_behind(kernel_name: str) -> None:
    async with start_kernel(kernel_name) as k:
        pid = k.pid
        assert pid is not None
        connection_file = k.connection_file
        assert connection_file.exists()
        assert oct(connection_file.stat().st_mode & 0o777) == "0o600"
    assert process_gone(pid)
    assert not connection_file.exists()
    assert not [p for p in runtime_dir().iterdir() if p.name.startswith("kernel-kb-")]


async def test_kill_9_detected_fast_and_pending_failed(kernel: Kernel) -> None:
    client = kernel.client
    pending = client.execute("import time; time.sleep(60)")
    states: list[str] = []
    client.add_state_listener(states.append)
    assert kernel.pid is not None
    start = time.monotonic()
    os.kill(kernel.pid, signal.SIGKILL)
    with pytest.raises(KernelDied, match="exited"):
        with anyio.fail_after(5):
            await pending.reply()
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, f"death seen after {elapsed:.2f} s"
    assert states == ["dead"]
    assert not client.alive
    with pytest.raises(KernelDied):
        client.execute("1")
    # A dead kernel can still be restarted by its owner, without a shutdown_request to
    # the dead process: jupyter_client would keep it queued and hand it to the new
    # kernel on the same ports, which then exits (xeus-python did, under load).
    manager = kernel._manager
    restarts: list[dict[str, object]] = []
    restart_kernel = manager.restart_kernel

    async def spy(**kwargs: object) -> None:
        restarts.append(kwargs)
        await restart_kernel(**kwargs)

    manager.restart_kernel = spy
    await kernel.restart()
    assert restarts == [{"now": True}]
    assert (await client.run("1", timeout=20)).status == "ok"


async def test_ipc_transport(kernel_name: str) -> None:
    if kernel_name == "xpython":
        pytest.skip("xeus-python 0.19 refuses ipc endpoints ('Invalid argument')")
    async with start_kernel(kernel_name, options=KernelOptions(transport="ipc")) as k:
        assert k.info.transport == "ipc"
        paths = k.info.ipc_paths()
        result = await k.client.run("print('via ipc')", timeout=20)
        assert result.stream_text() == "via ipc\n"
    assert not any(p.exists() for p in paths)


async def test_connect_sees_other_clients_output_and_leaves_kernel_running(
    kernel: Kernel,
) -> None:
    async with connect_kernel(kernel.connection_file) as other:
        assert not other.owned
        seen: list[Message] = []
        idle = anyio.Event()

        def listen(msg: Message) -> None:
            seen.append(msg)
            if msg.msg_type == "status" and msg.content["execution_state"] == "idle" \
                    and msg.parent_header.get("msg_type") == "execute_request":
                idle.set()

        other.client.add_listener(listen)
        await kernel.client.run("print('from the owner')", timeout=20)
        with anyio.fail_after(5):
            await idle.wait()
        text = "".join(m.content["text"] for m in seen if m.msg_type == "stream")
        assert text == "from the owner\n"
        assert all(m.parent_header["session"] == kernel.client.session for m in seen
                   if m.msg_type == "stream")
        with pytest.raises(NotOwner):
            await other.restart()
    # Disconnecting did not stop the kernel.
    assert (await kernel.client.run("1", timeout=10)).status == "ok"


async def test_heartbeat_detects_death_of_a_kernel_we_do_not_own(kernel: Kernel) -> None:
    async with connect_kernel(kernel.connection_file) as other:
        pending = other.client.execute("import time; time.sleep(60)")
        start = time.monotonic()
        assert kernel.pid is not None
        os.kill(kernel.pid, signal.SIGKILL)
        with pytest.raises(KernelDied, match="heartbeat"), anyio.fail_after(5):
            await pending.reply()
        assert time.monotonic() - start < 1.5


async def test_messages_signed_with_wrong_key_are_dropped(kernel: Kernel) -> None:
    wrong = ConnectionInfo(**{**kernel.info.to_dict(), "key": "not the key"})
    async with KernelClient(wrong) as intruder:
        seen: list[Message] = []
        intruder.add_listener(seen.append)
        # The owner's execution publishes busy, execute_input, stream, idle to every
        # subscriber; the intruder, with the wrong key, must drop them all.
        await kernel.client.run("print('secret')", timeout=20)
        assert (await kernel.client.run("1", timeout=20)).status == "ok"
        assert intruder.stats["dropped_signature"] >= 3
        assert seen == []
        # The kernel refuses our wrongly signed requests too: no reply comes.
        with pytest.raises(KernelTimeout):
            await intruder.kernel_info_request(timeout=0.5)


async def test_kernel_failing_at_start_gives_its_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    code = "import sys; sys.stderr.write('boom: no such module\\n'); sys.exit(3)"
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": [sys.executable, "-c", code, "{connection_file}"], "display_name": "Broken",
         "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(KernelLaunchError, match="exit code 3") as err:
        async with start_kernel("broken"):
            pass
    assert "boom: no such module" in err.value.stderr_tail
    assert time.monotonic() - start < 10


async def test_unknown_kernelspec() -> None:
    with pytest.raises(KernelSpecNotFound, match="nope"):
        async with start_kernel("nope"):
            pass
