"""Malformed input gets the JSON-RPC answer it deserves, and the daemon keeps serving.

Driven with raw bytes over the daemon's real stdin/stdout (no client library that could
paper over a wrong answer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
import pytest
from anyio.abc import Process

from kernelbridge.client import FrameDecoder

from .conftest import DAEMON, daemon_env

pytestmark = pytest.mark.anyio


class Raw:
    def __init__(self, process: Process) -> None:
        self.process = process
        self.decoder = FrameDecoder()
        self.queue: list[dict[str, Any]] = []

    async def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(data)

    async def send(self, message: Any) -> None:
        body = orjson.dumps(message)
        await self.send_bytes(b"Content-Length: %d\r\n\r\n%b" % (len(body), body))

    async def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        with anyio.fail_after(10):
            while not self.queue:
                self.queue.extend(self.decoder.feed(await self.process.stdout.receive()))
        return self.queue.pop(0)

    async def response(self, msg_id: Any = None) -> dict[str, Any]:
        """The next response (skipping notifications)."""
        while True:
            message = await self.receive()
            if "method" not in message:
                return message


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    async with await anyio.open_process(DAEMON, env=daemon_env()) as process:
        client = Raw(process)
        await client.send({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                           "params": {"capabilities": {}, "processId": None}})
        assert "result" in await client.response()
        try:
            yield client
        finally:
            process.kill()


async def alive(raw: Raw) -> None:
    await raw.send({"jsonrpc": "2.0", "id": "ping", "method": "kernelbridge/kernels"})
    assert await raw.response() == {"jsonrpc": "2.0", "id": "ping", "result": []}


def body(data: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(data), data)


@pytest.mark.parametrize(("data", "code"), [
    (body(b"{not json"), -32700),
    (body(b'{"jsonrpc":"2.0","id":1,"method":"x"'), -32700),
    (body(b"\xff\xfe{}"), -32700),
    (body(b"[1, 2]"), -32600),
    (body(b"42"), -32600),
    (body(b'"text"'), -32600),
    (body(b'{"jsonrpc":"1.0","id":1,"method":"kernelbridge/kernels"}'), -32600),
    (body(b'{"jsonrpc":"2.0","id":1}'), -32600),
    (body(b'{"jsonrpc":"2.0","id":1,"method":7}'), -32600),
    (body(b'{"jsonrpc":"2.0","id":{"a":1},"method":"kernelbridge/kernels"}'), -32600),
    (body(b'{"jsonrpc":"2.0","id":1,"method":"kernelbridge/kernels","params":5}'), -32600),
    (b"Content-Type: x\r\n\r\n{}", -32700),
    (b"Content-Length: abc\r\n\r\n{}", -32700),
])
async def test_malformed_input_is_answered(raw: Raw, data: bytes, code: int) -> None:
    await raw.send_bytes(data)
    answer = await raw.response()
    assert answer["error"]["code"] == code, answer
    assert answer["error"]["message"]
    await alive(raw)


async def test_invalid_params_name_the_field(raw: Raw) -> None:
    await raw.send({"jsonrpc": "2.0", "id": 7, "method": "kernelbridge/execute",
                    "params": {"code": 5, "silent": "yes"}})
    answer = await raw.response()
    assert answer["id"] == 7
    assert answer["error"]["code"] == -32602
    assert "params.code" in answer["error"]["message"]
    assert "params.silent" in answer["error"]["message"]
    await raw.send({"jsonrpc": "2.0", "id": 8, "method": "kernelbridge/interrupt",
                    "params": {}})
    answer = await raw.response()
    assert answer["error"]["code"] == -32602 and "params.kernelId" in answer["error"]["message"]
    await raw.send({"jsonrpc": "2.0", "id": 9, "method": "textDocument/hover",
                    "params": {"textDocument": {"uri": "file:///a.py"},
                               "position": {"line": "x", "character": 0}}})
    answer = await raw.response()
    assert answer["error"]["code"] == -32602 and "position.line" in answer["error"]["message"]
    await raw.send({"jsonrpc": "2.0", "id": 10, "method": "kernelbridge/kernels",
                    "params": [1]})
    assert (await raw.response())["error"]["code"] == -32602
    await alive(raw)


async def test_unknown_method_and_command(raw: Raw) -> None:
    await raw.send({"jsonrpc": "2.0", "id": 1, "method": "kernelbridge/nope", "params": {}})
    assert (await raw.response())["error"]["code"] == -32601
    # A member JSON-RPC does not define is ignored, not taken for bad params (fuzz find).
    await raw.send({"jsonrpc": "2.0", "id": 11, "method": "textDocment/hover", "pams": None})
    assert (await raw.response())["error"]["code"] == -32601
    await raw.send({"jsonrpc": "2.0", "id": 12, "method": "kernelbridge/kernels", "pams": 1})
    assert (await raw.response())["result"] == []
    await raw.send({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand",
                    "params": {"command": "kernelbridge.nope", "arguments": []}})
    assert (await raw.response())["error"]["code"] == -32602
    await raw.send({"jsonrpc": "2.0", "id": 3, "method": "workspace/executeCommand",
                    "params": {"command": "kernelbridge.kernels", "arguments": [{}]}})
    assert (await raw.response())["result"] == []
    await raw.send({"jsonrpc": "2.0", "id": 4, "method": "workspace/executeCommand",
                    "params": {"command": "kernelbridge.interrupt", "arguments": [{}]}})
    answer = await raw.response()
    assert answer["error"]["code"] == -32602 and "kernelId" in answer["error"]["message"]
    # Notifications of unknown methods and responses to nothing are ignored, silently.
    await raw.send({"jsonrpc": "2.0", "method": "kernelbridge/nope"})
    await raw.send({"jsonrpc": "2.0", "id": 99, "result": None})
    # "method": null is no method: still a response, not answered (fuzz find).
    await raw.send({"jsonrpc": "2.0", "id": 98, "method": None, "result": 1})
    await raw.send({"jsonrpc": "2.0", "id": 97, "method": None, "error": {"code": 1}})
    await alive(raw)


async def test_oversized_and_split_frames(raw: Raw) -> None:
    message = orjson.dumps({"jsonrpc": "2.0", "id": "split", "method": "kernelbridge/kernels"})
    frame = body(message)
    for i in range(len(frame)):  # one byte at a time
        await raw.send_bytes(frame[i : i + 1])
    assert (await raw.response())["id"] == "split"
    huge = b"x" * (1 << 20)
    await raw.send_bytes(body(b'{"jsonrpc":"2.0","id":"big","method":"kernelbridge/execute",'
                              b'"params":{"code":"' + huge + b'"}}'))
    answer = await raw.response()
    assert answer["id"] == "big" and answer["error"]["code"] in (-32602, 1001, 1008)
    await alive(raw)


async def test_deep_nesting_is_an_error_not_a_crash(raw: Raw) -> None:
    await raw.send_bytes(body(b"[" * 100_000 + b"]" * 100_000))
    assert (await raw.response())["error"]["code"] in (-32700, -32600)
    await alive(raw)


async def test_requests_before_initialize_and_after_shutdown() -> None:
    async with await anyio.open_process(DAEMON, env=daemon_env()) as process:
        client = Raw(process)
        await client.send({"jsonrpc": "2.0", "id": 1, "method": "kernelbridge/kernels"})
        assert (await client.response())["error"]["code"] == -32002
        await client.send({"jsonrpc": "2.0", "id": 2, "method": "initialize",
                           "params": {"capabilities": {}}})
        assert "result" in await client.response()
        await client.send({"jsonrpc": "2.0", "id": 3, "method": "initialize",
                           "params": {"capabilities": {}}})
        assert (await client.response())["error"]["code"] == -32600
        await client.send({"jsonrpc": "2.0", "id": 4, "method": "shutdown"})
        assert (await client.response()) == {"jsonrpc": "2.0", "id": 4, "result": None}
        await client.send({"jsonrpc": "2.0", "id": 5, "method": "kernelbridge/kernels"})
        assert (await client.response())["error"]["code"] == -32600
        await client.send({"jsonrpc": "2.0", "method": "exit"})
        with anyio.fail_after(10):
            assert await process.wait() == 0


async def test_messages_sent_with_initialize_are_handled_after_it_in_order() -> None:
    # The daemon answers initialize before its task groups exist (start-up); what came in
    # the same read waits for them, and nothing is lost or reordered.
    async with await anyio.open_process(DAEMON, env=daemon_env()) as process:
        raw = Raw(process)
        try:
            messages: list[Any] = [
                {"jsonrpc": "2.0", "id": "early", "method": "kernelbridge/kernels"},
                {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"capabilities": {}, "processId": None}},
                {"jsonrpc": "2.0", "method": "initialized", "params": {}},
                {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                    "textDocument": {"uri": "file:///tmp/a.py", "languageId": "python",
                                     "version": 1, "text": "x = 1\n"}}},
            ] + [{"jsonrpc": "2.0", "id": n, "method": "kernelbridge/kernels"}
                 for n in range(1, 6)] + [{"jsonrpc": "2.0", "id": 6, "method": "shutdown"}]
            await raw.send_bytes(b"".join(body(orjson.dumps(m)) for m in messages))
            answers = [await raw.response() for _ in range(8)]
            assert answers[0]["id"] == "early" and answers[0]["error"]["code"] == -32002
            assert answers[1]["id"] == 0 and "capabilities" in answers[1]["result"]
            assert [a["id"] for a in answers[2:]] == [1, 2, 3, 4, 5, 6]
            assert all(a["result"] == [] for a in answers[2:7])
            assert answers[7]["result"] is None
        finally:
            process.kill()
