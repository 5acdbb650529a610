"""The daemon driven by a third-party JSON-RPC client: pytest-lsp (pygls's LSP client),
the way a generic LSP client would use it: every kernelbridge method once, plus the LSP
methods and executeCommand."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import daemon_env

URI = "file:///tmp/kb-third-party/doc.py"


@pytest_lsp.fixture(config=ClientServerConfig(
    server_command=[sys.executable, "-m", "kernelbridge", "--stdio"],
    server_env=daemon_env()))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    outputs: list[Any] = []
    statuses: list[Any] = []

    @lsp_client.feature("kernelbridge/output")
    def on_output(params: Any) -> None:
        outputs.append(plain(params))

    @lsp_client.feature("kernelbridge/status")
    def on_status(params: Any) -> None:
        statuses.append(plain(params))

    lsp_client.outputs = outputs  # type: ignore[attr-defined]
    lsp_client.statuses = statuses  # type: ignore[attr-defined]

    @lsp_client.feature("kernelbridge/input")
    def answer(params: Any) -> dict[str, str]:
        return {"value": "from pytest-lsp"}

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), process_id=None))
    yield
    await lsp_client.shutdown_session()


def plain(value: Any) -> Any:
    """pygls's client turns result objects into namedtuples (lists stay lists): undo it."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def request(client: LanguageClient, method: str, params: dict[str, Any]) -> Any:
    return plain(await client.protocol.send_request_async(method, params))


@pytest.mark.asyncio
async def test_every_method(client: LanguageClient) -> None:
    specs = await request(client, "kernelbridge/kernelspecs", {})
    assert "python3" in [s["name"] for s in specs]
    kernel = await request(client, "kernelbridge/start",
                           {"kernelspec": "python3", "uri": URI, "workDoneToken": "p"})
    kid = kernel["kernelId"]
    result = await request(client, "kernelbridge/execute",
                           {"uri": URI, "code": "v = input('? ')\nprint(v)\nimport os"})
    assert result["status"] == "ok"
    texts = [o["content"]["text"] for o in client.outputs if o["type"] == "stream"]
    assert texts == ["from pytest-lsp\n"]
    assert [s["state"] for s in client.statuses][-2:] == ["busy", "idle"]
    assert [k["kernelId"] for k in await request(client, "kernelbridge/kernels", {})] == [kid]
    reply = await request(client, "kernelbridge/complete",
                          {"kernelId": kid, "code": "os.pa", "cursorPos": 5})
    assert "os.path" in reply["matches"] or "path" in reply["matches"]
    reply = await request(client, "kernelbridge/inspect",
                          {"kernelId": kid, "code": "os", "cursorPos": 2})
    assert reply["found"] is True
    reply = await request(client, "kernelbridge/isComplete", {"kernelId": kid, "code": "if x:"})
    assert reply["status"] == "incomplete"
    reply = await request(client, "kernelbridge/history", {"kernelId": kid, "n": 5})
    assert reply["status"] == "ok"
    await request(client, "kernelbridge/interrupt", {"kernelId": kid})
    restarted = await request(client, "kernelbridge/restart", {"kernelId": kid})
    assert restarted["kernelId"] == kid
    await request(client, "kernelbridge/shutdown", {"kernelId": kid})
    assert await request(client, "kernelbridge/kernels", {}) == []
    with pytest.raises(JsonRpcException) as info:
        await request(client, "kernelbridge/connect", {"connectionFile": "/no/such.json"})
    assert info.value.code == -32602


@pytest.mark.asyncio
async def test_lsp_methods_and_commands(client: LanguageClient) -> None:
    kernel = plain(await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="kernelbridge.start", arguments=[{"kernelspec": "python3", "uri": URI}])))
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="kernelbridge.execute",
        arguments=[{"kernelId": kernel["kernelId"],
                    "code": "def zebra_fn(a):\n    'Zebra docs.'\n"}]))
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=URI, language_id="python", version=1,
                                             text="zebra_fn\nzebra_f")))
    completion = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=1, character=7)))
    assert isinstance(completion, types.CompletionList)
    assert "zebra_fn" in [i.label for i in completion.items]
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=0, character=2)))
    assert hover is not None and "Zebra docs." in hover.contents.value
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=URI)))
