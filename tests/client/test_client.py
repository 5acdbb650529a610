"""DaemonClient against an in-process fake peer over in-memory byte pipes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import anyio
import pytest

from kernelbridge.client import (
    DEFAULT_CAPABILITIES,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    ClientError,
    DaemonExited,
    ProtocolError,
    RequestTimeout,
    RpcError,
)

from .client_helpers import connected, frame

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


async def test_request_gets_its_result_and_ids_increase() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        seen: list[dict[str, Any]] = []

        async def serve() -> None:
            for _ in range(2):
                request = await peer.receive()
                seen.append(request)
                await peer.respond(request, {"got": request.get("params")})

        tg.start_soon(serve)
        assert await client.request("test/a", {"x": 1}) == {"got": {"x": 1}}
        assert await client.request("test/b") == {"got": None}
    assert seen[0] == {"jsonrpc": "2.0", "id": 1, "method": "test/a", "params": {"x": 1}}
    assert seen[1] == {"jsonrpc": "2.0", "id": 2, "method": "test/b"}  # no params: omitted


async def test_responses_may_come_in_any_order() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        results: dict[str, Any] = {}

        async def call(name: str) -> None:
            results[name] = await client.request("test/echo", name)

        tg.start_soon(call, "first")
        first = await peer.receive()
        tg.start_soon(call, "second")
        second = await peer.receive()
        await peer.respond(second, "answer 2")
        await peer.respond(first, "answer 1")
    assert results == {"first": "answer 1", "second": "answer 2"}


async def test_error_response_raises_rpc_error() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:

        async def serve() -> None:
            request = await peer.receive()
            await peer.send({"jsonrpc": "2.0", "id": request["id"],
                             "error": {"code": -32001, "message": "unknown kernel",
                                       "data": {"kernelId": "k9"}}})

        tg.start_soon(serve)
        with pytest.raises(RpcError) as info:
            await client.request("kernelbridge/interrupt", {"kernelId": "k9"})
    assert info.value.code == -32001
    assert info.value.message == "unknown kernel"
    assert info.value.data == {"kernelId": "k9"}
    assert "unknown kernel" in str(info.value)
    assert isinstance(info.value, ClientError)


async def test_malformed_error_object_still_raises_rpc_error() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:

        async def serve() -> None:
            request = await peer.receive()
            await peer.send({"jsonrpc": "2.0", "id": request["id"], "error": "oops"})

        tg.start_soon(serve)
        with pytest.raises(RpcError) as info:
            await client.request("test/x")
    assert info.value.code == INTERNAL_ERROR
    assert "oops" in info.value.message


async def test_notifications_reach_callbacks_in_order() -> None:
    async with connected() as (client, peer):
        got: list[Any] = []
        also: list[Any] = []
        done = anyio.Event()

        def on_status(params: Any) -> None:
            got.append(params["n"])
            if params["n"] == 99:
                done.set()

        client.on_notification("kernelbridge/status", on_status)
        remove = client.on_notification("kernelbridge/status", also.append)
        client.on_notification("other", lambda params: pytest.fail("wrong method"))
        for n in range(50):
            await peer.notify("kernelbridge/status", {"n": n})
        remove()
        for n in range(50, 100):
            await peer.notify("kernelbridge/status", {"n": n})
        await done.wait()
    assert got == list(range(100))
    # Removed before the reader saw any of them (nothing awaited the reader meanwhile)
    # or after some: either way a prefix, in order.
    assert [p["n"] for p in also] == list(range(len(also)))


async def test_a_failing_callback_is_logged_and_does_not_stop_the_reader(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with connected() as (client, peer):
        got: list[Any] = []
        done = anyio.Event()

        def broken(params: Any) -> None:
            raise ValueError("bug in a callback")

        def ok(params: Any) -> None:
            got.append(params)
            if len(got) == 2:
                done.set()

        client.on_notification("n", broken)
        client.on_notification("n", ok)
        with caplog.at_level(logging.ERROR, logger="kernelbridge.client"):
            await peer.notify("n", 1)
            await peer.notify("n", 2)
            await done.wait()
    assert got == [1, 2]
    assert "bug in a callback" in caplog.text


async def test_subscription_armed_before_the_request_misses_nothing() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:

        async def serve() -> None:
            request = await peer.receive()
            # All output of an execution comes before its response, as in protocol.md.
            for seq in range(10):
                await peer.notify("kernelbridge/output", {"seq": seq})
            await peer.notify("kernelbridge/status", {"state": "idle"})
            await peer.respond(request, {"status": "ok"})

        tg.start_soon(serve)
        async with client.subscribe("kernelbridge/output") as outputs:
            result = await client.request("kernelbridge/execute", {"code": "x"})
            assert result == {"status": "ok"}
            assert outputs.pending() == 10  # already buffered when the response arrived
            seqs = [(await outputs.receive(timeout=5))["seq"] for _ in range(3)]
            seqs += [params["seq"] for params in outputs.drain()]
            assert outputs.pending() == 0
        assert seqs == list(range(10))


async def test_two_subscriptions_of_one_method_both_get_everything() -> None:
    async with connected() as (client, peer), client.subscribe("n") as a, client.subscribe(
        "n"
    ) as b:
        for i in range(5):
            await peer.notify("n", i)
        assert [await a.receive(timeout=5) for _ in range(5)] == list(range(5))
        assert [await b.receive(timeout=5) for _ in range(5)] == list(range(5))
        assert a.pending() == 0
        with pytest.raises(anyio.WouldBlock):
            a.receive_nowait()


async def test_subscription_receive_times_out() -> None:
    async with connected() as (client, _peer), client.subscribe("never") as sub:
        with pytest.raises(RequestTimeout):
            await sub.receive(timeout=0.05)


async def test_subscription_ends_cleanly_when_the_client_closes() -> None:
    async with connected() as (client, peer):
        sub = client.subscribe("n")
        await sub.__aenter__()
        delivered = anyio.Event()
        client.on_notification("n", lambda params: delivered.set())
        await peer.notify("n", "last")
        await delivered.wait()
    got = [params async for params in sub]
    assert got == ["last"]
    await sub.__aexit__(None, None, None)


async def test_server_request_is_answered_by_the_handler() -> None:
    async with connected() as (client, peer):
        prompts: list[Any] = []

        async def answer_input(params: Any) -> dict[str, Any]:
            prompts.append(params)
            return {"value": "secret"}

        client.on_request("kernelbridge/input", answer_input)
        params = {"kernelId": "k1", "executionId": "e1", "prompt": "Password: ", "password": True}
        await peer.send({"jsonrpc": "2.0", "id": 7, "method": "kernelbridge/input",
                         "params": params})
        assert await peer.receive() == {"jsonrpc": "2.0", "id": 7, "result": {"value": "secret"}}
        assert prompts == [params]


async def test_server_requests_without_handler() -> None:
    async with connected() as (client, peer):
        await peer.send({"jsonrpc": "2.0", "id": "a", "method": "kernelbridge/input",
                         "params": {}})
        reply = await peer.receive()
        assert reply["id"] == "a" and reply["error"]["code"] == METHOD_NOT_FOUND
        await peer.send({"jsonrpc": "2.0", "id": 1, "method": "window/workDoneProgress/create",
                         "params": {"token": "t"}})
        assert await peer.receive() == {"jsonrpc": "2.0", "id": 1, "result": None}
        await peer.send({"jsonrpc": "2.0", "id": 2, "method": "workspace/configuration",
                         "params": {"items": [{"section": "a"}, {"section": "b"}]}})
        assert await peer.receive() == {"jsonrpc": "2.0", "id": 2, "result": [None, None]}

        async def custom(params: Any) -> str:
            return "mine"

        client.on_request("window/workDoneProgress/create", custom)
        await peer.send({"jsonrpc": "2.0", "id": 3, "method": "window/workDoneProgress/create"})
        assert (await peer.receive())["result"] == "mine"
        client.on_request("window/workDoneProgress/create", None)  # back to the default
        await peer.send({"jsonrpc": "2.0", "id": 4, "method": "window/workDoneProgress/create"})
        assert (await peer.receive())["result"] is None


async def test_server_request_handler_errors_become_error_responses() -> None:
    async with connected() as (client, peer):

        async def refuse(params: Any) -> None:
            raise RpcError(-32099, "no user here", {"why": "headless"})

        async def crash(params: Any) -> None:
            raise ValueError("handler bug")

        async def unserializable(params: Any) -> object:
            return object()

        client.on_request("refuse", refuse)
        client.on_request("crash", crash)
        client.on_request("unserializable", unserializable)
        await peer.send({"jsonrpc": "2.0", "id": 1, "method": "refuse"})
        assert (await peer.receive())["error"] == {
            "code": -32099, "message": "no user here", "data": {"why": "headless"}
        }
        await peer.send({"jsonrpc": "2.0", "id": 2, "method": "crash"})
        error = (await peer.receive())["error"]
        assert error["code"] == INTERNAL_ERROR and "handler bug" in error["message"]
        await peer.send({"jsonrpc": "2.0", "id": 3, "method": "unserializable"})
        assert (await peer.receive())["error"]["code"] == INTERNAL_ERROR


async def test_server_can_cancel_its_request() -> None:
    async with connected() as (client, peer):
        started = anyio.Event()

        async def slow(params: Any) -> str:
            started.set()
            await anyio.sleep_forever()
            return "never"

        client.on_request("kernelbridge/input", slow)
        await peer.send({"jsonrpc": "2.0", "id": 5, "method": "kernelbridge/input"})
        await started.wait()
        await peer.notify("$/cancelRequest", {"id": 5})
        reply = await peer.receive()
        assert reply["id"] == 5 and reply["error"]["code"] == REQUEST_CANCELLED


async def test_cancelling_the_waiting_task_sends_cancel_request() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        finished = anyio.Event()

        async def call() -> None:
            with scope:
                await client.request("kernelbridge/execute", {"code": "sleep"})
            finished.set()

        tg.start_soon(call)
        request = await peer.receive()
        scope.cancel()
        assert await peer.receive() == {
            "jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request["id"]}
        }
        await finished.wait()
        assert scope.cancelled_caught
        # The late answer to the cancelled request is ignored; the client still works.
        await peer.send({"jsonrpc": "2.0", "id": request["id"],
                         "error": {"code": REQUEST_CANCELLED, "message": "cancelled"}})

        async def serve() -> None:
            await peer.respond(await peer.receive(), "fine")

        tg.start_soon(serve)
        assert await client.request("test/next") == "fine"


async def test_timeout_raises_request_timeout_and_sends_cancel_request() -> None:
    async with connected() as (client, peer):
        with pytest.raises(RequestTimeout) as info:
            await client.request("test/slow", timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        request = await peer.receive()
        cancel = await peer.receive()
        assert cancel["method"] == "$/cancelRequest"
        assert cancel["params"] == {"id": request["id"]}


async def test_notify_is_synchronous_and_ordered_with_requests() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:

        async def call() -> None:
            await client.request("test/r")

        client.notify("test/first", {"n": 1})  # queued at once, before the request
        tg.start_soon(call)
        first = await peer.receive()
        request = await peer.receive()
        client.notify("test/last")
        await client.flush()
        last = await peer.receive()
        assert first == {"jsonrpc": "2.0", "method": "test/first", "params": {"n": 1}}
        assert request["method"] == "test/r"
        assert last == {"jsonrpc": "2.0", "method": "test/last"}
        await peer.respond(request, None)


async def test_flood_of_notifications_is_parsed_completely_and_in_order() -> None:
    count = 100_000
    data = b"".join(
        frame({"jsonrpc": "2.0", "method": "kernelbridge/output",
               "params": {"kernelId": "k1", "seq": seq, "type": "stream",
                          "content": {"name": "stdout", "text": f"line {seq}\n"}}})
        for seq in range(count)
    )
    async with connected() as (client, peer):
        seqs: list[int] = []
        done = anyio.Event()

        def on_output(params: Any) -> None:
            seqs.append(params["seq"])
            if len(seqs) == count:
                done.set()

        client.on_notification("kernelbridge/output", on_output)
        async with client.subscribe("kernelbridge/output") as outputs:
            await peer.send_raw(data)
            received = 0
            async for params in outputs:
                assert params["seq"] == received
                received += 1
                if received == count:
                    break
        await done.wait()
    assert seqs == list(range(count))


async def test_frames_split_anywhere_on_the_wire() -> None:
    messages = [{"jsonrpc": "2.0", "method": "n", "params": {"i": i, "text": "é" * i}}
                for i in range(30)]
    data = b"".join(frame(m) for m in messages)
    async with connected() as (client, peer):
        got: list[Any] = []
        done = anyio.Event()

        def on_n(params: Any) -> None:
            got.append(params["i"])
            if len(got) == len(messages):
                done.set()

        client.on_notification("n", on_n)
        # Pieces of 1 to 7 bytes, each a separate read on the client side.
        pos, size = 0, 1
        while pos < len(data):
            await peer.send_raw(data[pos : pos + size])
            pos += size
            size = size % 7 + 1
        await done.wait()
    assert got == list(range(30))


@pytest.mark.parametrize(
    "garbage",
    [b"Content-Length: many\r\n\r\n{}", b"oops\r\n\r\n", b"Content-Length: 2\r\n\r\nno"],
)
async def test_malformed_framing_fails_everything_with_protocol_error(garbage: bytes) -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        got: list[Any] = []
        errors: list[BaseException] = []

        async def call() -> None:
            try:
                await client.request("test/pending")
            except ProtocolError as exc:
                errors.append(exc)

        async with client.subscribe("n") as sub:
            tg.start_soon(call)
            await peer.receive()
            await peer.send_raw(frame({"jsonrpc": "2.0", "method": "n", "params": 1}) + garbage)
            with pytest.raises(ProtocolError):
                async for params in sub:
                    got.append(params)
        with pytest.raises(ProtocolError):
            await client.request("test/after")
        with pytest.raises(ProtocolError):
            client.notify("test/after")
        assert isinstance(client.exception, ProtocolError)
    assert got == [1]  # what came before the bad frame was delivered
    assert len(errors) == 1


async def test_peer_exit_fails_all_pending_requests_at_once() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        failures: list[BaseException] = []

        async def call(i: int) -> None:
            try:
                await client.request("test/pending", {"i": i})
            except DaemonExited as exc:
                failures.append(exc)

        async with client.subscribe("n") as sub:
            for i in range(3):
                tg.start_soon(call, i)
            for _ in range(3):
                await peer.receive()
            await peer.notify("n", "before the end")
            await peer.close()
            assert await sub.receive(timeout=5) == "before the end"
            with pytest.raises(DaemonExited):
                await sub.receive(timeout=5)
    assert len(failures) == 3
    assert len({id(f) for f in failures}) == 3  # one copy per waiter
    assert client.closed
    assert isinstance(client.exception, DaemonExited)
    with pytest.raises(DaemonExited):
        await client.request("test/after")


async def test_requests_after_close_raise_client_error() -> None:
    async with connected() as (client, _peer):
        pass
    assert client.closed and client.exception is None
    with pytest.raises(ClientError):
        await client.request("test/late")
    with pytest.raises(ClientError):
        client.notify("test/late")


async def test_errors_of_the_body_propagate_unwrapped() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with connected():
            raise KeyError("mine")


async def test_initialize_and_shutdown_handshake() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:

        async def serve() -> None:
            request = await peer.receive()
            assert request["method"] == "initialize"
            await peer.respond(request, {"capabilities": {"hoverProvider": True},
                                         "serverInfo": {"name": "kernelbridge", "version": "1"}})
            assert (await peer.receive())["method"] == "initialized"
            request = await peer.receive()
            assert request["method"] == "shutdown"
            await peer.respond(request, None)
            assert await peer.receive() == {"jsonrpc": "2.0", "method": "exit"}

        tg.start_soon(serve)
        result = await client.initialize(initialization_options={"autoStart": False}, timeout=5)
        assert client.server_info == {"name": "kernelbridge", "version": "1"}
        assert client.capabilities == {"hoverProvider": True}
        assert result == client.initialize_result
        await client.shutdown(timeout=5)


async def test_initialize_params() -> None:
    async with connected() as (client, peer), anyio.create_task_group() as tg:
        tg.start_soon(client.initialize)
        request = await peer.receive()
        await peer.respond(request, {"capabilities": {}})
    assert request["params"] == {
        "processId": os.getpid(),
        "clientInfo": {"name": "kernelbridge.client"},
        "rootUri": None,
        "capabilities": DEFAULT_CAPABILITIES,
    }


def test_errors_clone_with_their_attributes() -> None:
    exited = DaemonExited.describe("gone", returncode=-9, stderr_tail="Traceback: boom\n")
    assert "signal 9" in str(exited) and "Traceback: boom" in str(exited)
    copy = exited.clone()
    assert copy is not exited and str(copy) == str(exited)
    assert (copy.returncode, copy.stderr_tail) == (-9, "Traceback: boom\n")
    rpc = RpcError(-32001, "unknown kernel", [1]).clone()
    assert (rpc.code, rpc.message, rpc.data) == (-32001, "unknown kernel", [1])
    assert issubclass(RequestTimeout, TimeoutError) and issubclass(ProtocolError, ClientError)


def test_importing_the_client_stays_light() -> None:
    code = (
        "import sys, kernelbridge.client\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('pygls', 'lsprotocol', 'zmq', 'cattrs', 'jupyter_client')"
        " or m.startswith(('kernelbridge.server', 'kernelbridge.bridge', "
        "'kernelbridge.jupyter'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30)
    assert out.stdout.strip() == "[]"
