"""kernelbridge/executeCell, executeRange, runAbove, runAll end to end: what runs, the
results, and the kernelbridge/cellState notifications, with a real ipykernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelbridge.client import DaemonClient, RpcError

from .cell_helpers import file_uri, lines, logged, open_doc

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

TEXT = (
    "ran = []\n"                   # 0  implicit cell 0..2
    "\n"                           # 1
    "# %% One\n"                   # 2  cell 2..5
    "ran.append(1)\n"              # 3
    "print('one')\n"               # 4
    "# %% [markdown]\n"            # 5  markdown 5..7
    "# Some *notes*\n"             # 6
    "# %% Two\n"                   # 7  cell 7..10, code 8..9 (the blank line is not code)
    "ran.append(2)\n"              # 8
    "\n"                           # 9
    "# %% Fails\n"                 # 10 cell 10..13
    "ran.append(3)\n"              # 11
    "1 / 0\n"                      # 12
    "# %%\n"                       # 13 cell 13..16
    "ran.append(4)\n"              # 14
)


async def value(daemon: DaemonClient, kernel_id: str, expression: str) -> str:
    result = await daemon.request("kernelbridge/execute", {
        "kernelId": kernel_id, "code": expression, "storeHistory": False,
        "userExpressions": {"v": expression}}, timeout=30)
    return str(result["userExpressions"]["v"]["data"]["text/plain"])


def states(log: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [(p["executionId"], p["state"]) for m, p in log if m == "kernelbridge/cellState"]


@pytest.fixture
def doc(daemon: DaemonClient, kernel: dict, tmp_path: Path) -> str:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, TEXT)
    return uri


async def test_execute_cell(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    kid = kernel["kernelId"]
    await daemon.request("kernelbridge/executeCell", {"uri": doc, "position": {
        "line": 0, "character": 3}}, timeout=30)
    with logged(daemon, "kernelbridge/cellState", "kernelbridge/output") as log:
        result = await daemon.request("kernelbridge/executeCell", {"uri": doc, "position": {
            "line": 4, "character": 2}}, timeout=30)
    eid = result["executionId"]
    assert result == {"kernelId": kid, "executionId": eid, "status": "ok",
                      "executionCount": result["executionCount"], "range": lines(2, 5),
                      "codeRange": lines(3, 5)}
    assert isinstance(result["executionCount"], int)
    # queued before anything of the execution, then running, its output, done.
    assert [(m.rsplit("/")[-1], p.get("state") or p["type"]) for m, p in log] == [
        ("cellState", "queued"), ("cellState", "running"), ("output", "stream"),
        ("cellState", "done")]
    for _, params in log:
        assert params["executionId"] == eid and params["kernelId"] == kid
    queued, running, _, done = (p for _, p in log)
    assert queued == {"uri": doc, "range": lines(2, 5), "codeRange": lines(3, 5),
                      "executionId": eid, "kernelId": kid, "state": "queued"}
    assert "executionCount" not in running
    assert done["executionCount"] == result["executionCount"]
    assert await value(daemon, kid, "ran") == "[1]"


async def test_failed_cell(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    with logged(daemon, "kernelbridge/cellState") as log:
        result = await daemon.request("kernelbridge/executeCell", {"uri": doc, "position": {
            "line": 12, "character": 0}}, timeout=30)
    assert result["status"] == "error" and result["range"] == lines(10, 13)
    assert result["error"]["ename"] == "NameError"  # `ran` is not defined yet
    assert states(log) == [(result["executionId"], s) for s in ("queued", "running", "failed")]
    assert log[-1][1]["executionCount"] == result["executionCount"]


async def test_run_all_stops_at_the_failing_cell(daemon: DaemonClient, kernel: dict,
                                                 doc: str) -> None:
    kid = kernel["kernelId"]
    with logged(daemon, "kernelbridge/cellState") as log:
        result = await daemon.request("kernelbridge/runAll", {"uri": doc}, timeout=60)
    assert result["kernelId"] == kid
    cells = result["cells"]
    assert [(c["range"], c["status"]) for c in cells] == [
        (lines(0, 2), "ok"), (lines(2, 5), "ok"), (lines(7, 10), "ok"),
        (lines(10, 13), "error"), (lines(13, 16), "skipped")]
    assert cells[3]["error"]["ename"] == "ZeroDivisionError"
    # Output goes right under the code: the blank lines ending a cell are not code.
    assert [c["codeRange"] for c in cells[:3]] == [lines(0, 1), lines(3, 5), lines(8, 9)]
    assert cells[4]["executionCount"] is None and "error" not in cells[4]
    counts = [c["executionCount"] for c in cells[:4]]
    assert counts == list(range(counts[0], counts[0] + 4))
    ids = [c["executionId"] for c in cells]
    # All queued first, in order; then one after the other; the one never sent: skipped.
    assert states(log) == [
        *((i, "queued") for i in ids),
        (ids[0], "running"), (ids[0], "done"), (ids[1], "running"), (ids[1], "done"),
        (ids[2], "running"), (ids[2], "done"), (ids[3], "running"), (ids[3], "failed"),
        (ids[4], "skipped")]
    assert [p["range"] for _, p in log[:5]] == [c["range"] for c in cells]
    assert await value(daemon, kid, "ran") == "[1, 2, 3]"


async def test_run_above(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    kid = kernel["kernelId"]
    result = await daemon.request("kernelbridge/runAbove", {"uri": doc, "position": {
        "line": 11, "character": 4}}, timeout=60)
    assert [(c["range"], c["status"]) for c in result["cells"]] == [
        (lines(0, 2), "ok"), (lines(2, 5), "ok"), (lines(7, 10), "ok")]
    assert await value(daemon, kid, "ran") == "[1, 2]"
    first = await daemon.request("kernelbridge/runAbove", {"uri": doc, "position": {
        "line": 1, "character": 0}}, timeout=30)
    assert first == {"kernelId": None, "cells": []}


async def test_execute_range(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    kid = kernel["kernelId"]
    await daemon.request("kernelbridge/execute", {"kernelId": kid, "code": "ran = []"})
    # A selection from line 3 to the start of line 8: lines 3-7 (a marker and markdown
    # comment lines included, as text), not line 8.
    with logged(daemon, "kernelbridge/cellState") as log:
        result = await daemon.request("kernelbridge/executeRange", {"uri": doc, "range": {
            "start": {"line": 3, "character": 5}, "end": {"line": 8, "character": 0}}},
            timeout=30)
    assert result["status"] == "ok" and result["range"] == lines(3, 8)
    assert result["kernelId"] == kid
    assert [p["state"] for _, p in log] == ["queued", "running", "done"]
    assert log[0][1]["range"] == lines(3, 8)
    assert await value(daemon, kid, "ran") == "[1]"
    # Ending inside line 8: it is included.
    result = await daemon.request("kernelbridge/executeRange", {"uri": doc, "range": {
        "start": {"line": 8, "character": 0}, "end": {"line": 8, "character": 3}}},
        timeout=30)
    assert result["range"] == lines(8, 9)
    assert await value(daemon, kid, "ran") == "[1, 2]"


async def test_markdown_and_blank_are_skipped(daemon: DaemonClient, kernel: dict,
                                              doc: str) -> None:
    with logged(daemon, "kernelbridge/cellState") as log:
        result = await daemon.request("kernelbridge/executeCell", {"uri": doc, "position": {
            "line": 6, "character": 0}}, timeout=30)
        blank = await daemon.request("kernelbridge/executeRange", {"uri": doc, "range": {
            "start": {"line": 9, "character": 0}, "end": {"line": 9, "character": 0}}},
            timeout=30)
    assert result == {"kernelId": None, "executionId": None, "status": "skipped",
                      "executionCount": None, "range": lines(5, 7),
                      "codeRange": lines(6, 7)}
    assert blank["status"] == "skipped" and blank["range"] == lines(9, 10)
    assert log == []


async def test_as_commands(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    commands = daemon.capabilities["executeCommandProvider"]["commands"]
    for name in ("executeCell", "executeRange", "runAbove", "runAll"):
        assert f"kernelbridge.{name}" in commands
    result = await daemon.request("workspace/executeCommand", {
        "command": "kernelbridge.runAll", "arguments": [{"uri": doc}]}, timeout=60)
    assert [c["status"] for c in result["cells"]] == ["ok", "ok", "ok", "error", "skipped"]
    result = await daemon.request("workspace/executeCommand", {
        "command": "kernelbridge.executeCell",
        "arguments": [{"uri": doc, "position": {"line": 14, "character": 0}}]}, timeout=30)
    assert result["status"] == "ok" and result["range"] == lines(13, 16)


async def test_errors(daemon: DaemonClient, tmp_path: Path) -> None:
    uri = file_uri(tmp_path)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("kernelbridge/executeCell", {"uri": uri, "position": {"line": 0, "character": 0}},
         "is not open"),
        ("kernelbridge/runAll", {"uri": uri}, "is not open"),
        ("kernelbridge/executeCell", {"uri": uri}, "params.position: required field missing"),
        ("kernelbridge/executeRange", {"uri": uri, "range": {
            "start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}},
         "params.range.start"),
    ]
    for method, params, message in cases:
        with pytest.raises(RpcError) as info:
            await daemon.request(method, params, timeout=10)
        assert info.value.code == -32602 and message in info.value.message, method
    open_doc(daemon, uri, "x = 1\n")
    for method, params, message in [
        ("kernelbridge/executeCell", {"uri": uri, "position": {"line": 5, "character": 0}},
         "line 5 is outside document"),
        ("kernelbridge/executeRange", {"uri": uri, "range": {
            "start": {"line": 1, "character": 0}, "end": {"line": 0, "character": 0}}},
         "the range ends (line 0) before it starts (line 1)"),
    ]:
        with pytest.raises(RpcError) as info:
            await daemon.request(method, params, timeout=10)
        assert info.value.code == -32602 and message in info.value.message, method
        assert info.value.data == {"type": "InvalidArgument"}
