"""Errors of cell runs as textDocument/publishDiagnostics: on the line that raised, moved
with their cell, gone when its code changes, it runs cleanly or the document closes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelbridge.client import DaemonClient

from .cell_helpers import barrier, file_uri, insert, open_doc, replace_text

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

PUBLISH = "textDocument/publishDiagnostics"

TEXT = (
    "import math\n"                # 0  implicit cell 0..2
    "\n"                           # 1
    "# %% Setup\n"                 # 2  cell 2..5
    "d = 0\n"                      # 3
    "\n"                           # 4
    "# %% Compute\n"               # 5  cell 5..9
    "a = 1\n"                      # 6
    "b = a / d\n"                  # 7
    "c = 2\n"                      # 8
    "# %% After\n"                 # 9  cell 9..11
    "print(b)\n"                   # 10
)


def diagnostic(line: int, length: int, message: str) -> dict[str, Any]:
    return {"range": {"start": {"line": line, "character": 0},
                      "end": {"line": line, "character": length}},
            "severity": 1, "source": "kernelbridge", "message": message}


async def run_cell(daemon: DaemonClient, uri: str, line: int) -> dict[str, Any]:
    return await daemon.request("kernelbridge/executeCell", {
        "uri": uri, "position": {"line": line, "character": 0}}, timeout=30)


@pytest.fixture
def doc(daemon: DaemonClient, kernel: dict, tmp_path: Path) -> str:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, TEXT)
    return uri


async def test_failing_cell_in_the_middle(daemon: DaemonClient, doc: str) -> None:
    async with daemon.subscribe(PUBLISH) as published:
        result = await daemon.request("kernelbridge/runAll", {"uri": doc}, timeout=60)
        assert [c["status"] for c in result["cells"]] == ["ok", "ok", "error", "skipped"]
        note = published.receive_nowait()  # sent before the response
        assert published.pending() == 0
    assert note == {"uri": doc, "version": 1, "diagnostics": [
        diagnostic(7, 9, "ZeroDivisionError: division by zero")]}


async def test_diagnostic_moves_then_goes_when_the_code_changes(daemon: DaemonClient,
                                                                doc: str) -> None:
    await daemon.request("kernelbridge/runAll", {"uri": doc}, timeout=60)
    async with daemon.subscribe(PUBLISH) as published:
        insert(daemon, doc, 0, "# header\n\n\n", 2)  # three lines above
        moved = await published.receive(timeout=10)
        assert moved["version"] == 2
        assert moved["diagnostics"] == [diagnostic(10, 9, "ZeroDivisionError: division by zero")]
        insert(daemon, doc, 14, "# more\n", 3)  # below it: nothing changes
        await barrier(daemon)
        assert published.pending() == 0
        insert(daemon, doc, 9, "a = 2\n", 4)  # inside the cell: its code is not what ran
        gone = await published.receive(timeout=10)
    assert gone == {"uri": doc, "version": 4, "diagnostics": []}


async def test_whole_text_change_keeps_it_while_the_cell_is_there(daemon: DaemonClient,
                                                                  doc: str) -> None:
    await run_cell(daemon, doc, 3)
    async with daemon.subscribe(PUBLISH) as published:
        await run_cell(daemon, doc, 7)
        assert published.receive_nowait()["diagnostics"][0]["range"]["start"]["line"] == 7
        # The Compute cell now comes first: the diagnostic goes with it.
        swapped = TEXT.replace("# %% Setup\nd = 0\n\n", "") + "# %% Setup\nd = 0\n"
        replace_text(daemon, doc, swapped, 2)
        moved = await published.receive(timeout=10)
    assert [d["range"]["start"]["line"] for d in moved["diagnostics"]] == [4]


async def test_clean_run_clears(daemon: DaemonClient, kernel: dict, doc: str) -> None:
    await daemon.request("kernelbridge/runAll", {"uri": doc}, timeout=60)
    await daemon.request("kernelbridge/execute", {"kernelId": kernel["kernelId"],
                                                  "code": "d = 4"}, timeout=30)
    async with daemon.subscribe(PUBLISH) as published:
        result = await run_cell(daemon, doc, 6)
        assert result["status"] == "ok"
        cleared = published.receive_nowait()
    assert cleared == {"uri": doc, "version": 1, "diagnostics": []}


async def test_close_clears(daemon: DaemonClient, doc: str) -> None:
    await daemon.request("kernelbridge/runAll", {"uri": doc}, timeout=60)
    async with daemon.subscribe(PUBLISH) as published:
        daemon.notify("textDocument/didClose", {"textDocument": {"uri": doc}})
        cleared = await published.receive(timeout=10)
    assert cleared == {"uri": doc, "diagnostics": []}


async def test_line_of_the_executed_cell_not_of_the_function(daemon: DaemonClient,
                                                             tmp_path: Path,
                                                             kernel: dict) -> None:
    uri = file_uri(tmp_path)
    text = ("# %% Define\n"
            "def f(v):\n"
            "    return 1 / v\n"
            "# %% Call\n"
            "x = 1\n"
            "f(0)\n")
    open_doc(daemon, uri, text)
    async with daemon.subscribe(PUBLISH) as published:
        result = await daemon.request("kernelbridge/runAll", {"uri": uri}, timeout=60)
        assert [c["status"] for c in result["cells"]] == ["ok", "error"]
        note = published.receive_nowait()
    # The innermost frame is in cell Define; the line is the call's, in the cell that ran.
    assert note["diagnostics"] == [diagnostic(5, 4, "ZeroDivisionError: division by zero")]


async def test_syntax_error_and_utf16_length(daemon: DaemonClient, tmp_path: Path,
                                             kernel: dict) -> None:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, "# %%\nok = 1\ns = '😀' +\n")
    async with daemon.subscribe(PUBLISH) as published:
        result = await run_cell(daemon, uri, 0)
        note = published.receive_nowait()
    assert result["error"]["ename"] == "SyntaxError"
    (only,) = note["diagnostics"]
    # "s = '😀' +" is 9 code points, 10 UTF-16 units.
    assert only["range"] == {"start": {"line": 2, "character": 0},
                             "end": {"line": 2, "character": 10}}
    assert only["message"].startswith("SyntaxError: invalid syntax")
    assert "\x1b" not in only["message"]


async def test_range_runs_and_error_without_a_line(daemon: DaemonClient, tmp_path: Path,
                                                   kernel: dict) -> None:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, "x = 1\n\nimport sys\nsys.exit('\\x1b[31mbye\\x1b[0m')\n")
    async with daemon.subscribe(PUBLISH) as published:
        result = await daemon.request("kernelbridge/executeRange", {"uri": uri, "range": {
            "start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}}},
            timeout=30)
        note = published.receive_nowait()
    assert result["error"]["ename"] == "SystemExit"
    # No line in the traceback: the first line that ran and is not blank; ANSI stripped.
    assert note["diagnostics"] == [diagnostic(2, 10, "SystemExit: bye")]
