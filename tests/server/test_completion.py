"""textDocument/completion: answered by the kernel's complete_request."""

from __future__ import annotations

import pytest

from kernelbridge.client import DaemonClient

pytestmark = pytest.mark.anyio

URI = "file:///tmp/kb-test/doc.py"


def open_doc(daemon: DaemonClient, text: str, uri: str = URI) -> None:
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1, "text": text}})


async def complete(daemon: DaemonClient, line: int, character: int, uri: str = URI) -> dict:
    return await daemon.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        timeout=30)


async def test_completion_from_kernel_namespace(daemon: DaemonClient, kernel: dict) -> None:
    await daemon.request("kernelbridge/execute", {"kernelId": kernel["kernelId"],
                                                  "code": "import collections\nzebra_value = 1"})
    open_doc(daemon, "x = 1\nzebra_v")
    result = await complete(daemon, 1, 7)
    labels = [item["label"] for item in result["items"]]
    assert "zebra_value" in labels
    item = result["items"][labels.index("zebra_value")]
    assert item["textEdit"]["newText"] == "zebra_value"
    assert item["textEdit"]["range"] == {"start": {"line": 1, "character": 0},
                                         "end": {"line": 1, "character": 7}}
    assert item["kind"] == 6  # Variable, from _jupyter_types_experimental "instance"


async def test_completion_kinds_and_attribute_range(daemon: DaemonClient, kernel: dict) -> None:
    await daemon.request("kernelbridge/execute",
                         {"kernelId": kernel["kernelId"], "code": "import collections"})
    open_doc(daemon, "collections.Ord")
    result = await complete(daemon, 0, 15)
    item = next(i for i in result["items"] if i["label"] == "OrderedDict")
    assert item["kind"] == 7  # Class
    assert item["textEdit"]["range"]["start"] == {"line": 0, "character": 12}


async def test_cursor_counts_utf16_units(daemon: DaemonClient, kernel: dict) -> None:
    # U+1D501 is one code point but two UTF-16 units: the cursor must land after "zeb".
    await daemon.request("kernelbridge/execute",
                         {"kernelId": kernel["kernelId"], "code": "zebra_value = 1"})
    open_doc(daemon, "s = '\U0001d501'; zeb")
    result = await complete(daemon, 0, 13)
    item = next(i for i in result["items"] if i["label"] == "zebra_value")
    assert item["textEdit"]["range"] == {"start": {"line": 0, "character": 10},
                                         "end": {"line": 0, "character": 13}}


async def test_document_changes_are_followed(daemon: DaemonClient, kernel: dict) -> None:
    await daemon.request("kernelbridge/execute",
                         {"kernelId": kernel["kernelId"], "code": "zebra_value = 1"})
    open_doc(daemon, "nothing")
    daemon.notify("textDocument/didChange", {
        "textDocument": {"uri": URI, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                      "end": {"line": 0, "character": 7}}, "text": "zeb"}]})
    result = await complete(daemon, 0, 3)
    assert "zebra_value" in [i["label"] for i in result["items"]]


async def test_no_kernel_means_no_completion_and_no_start(daemon: DaemonClient) -> None:
    open_doc(daemon, "import os\nos.pa")
    assert await complete(daemon, 1, 5) is None
    assert await daemon.request("kernelbridge/kernels") == []
