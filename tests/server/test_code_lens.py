"""textDocument/codeLens: "Run cell" and "Run above" on code cells, bound to the
kernelbridge.executeCell / kernelbridge.runAbove commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelbridge.client import DaemonClient

from .cell_helpers import file_uri, insert, lines, open_doc

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

TEXT = (
    "\n"                           # 0  blank: absorbed by the first marked cell
    "# %% [markdown]\n"            # 1  markdown 0..3
    "# Title\n"                    # 2
    "# %% Load\n"                  # 3  code 3..5
    "x = 1\n"                      # 4
    "# %% [md] Notes\n"            # 5  markdown 5..7
    "# text\n"                     # 6
    "# %%\n"                       # 7  blank code cell 7..9: no lens
    "\n"                           # 8
    "#%% Use\n"                    # 9  code 9..11
    "print(x)\n"                   # 10
)


def summary(lenses: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(lens["range"]["start"]["line"], lens["command"]["title"],
             lens["command"]["command"]) for lens in lenses]


async def code_lens(daemon: DaemonClient, uri: str) -> Any:
    return await daemon.request("textDocument/codeLens", {"textDocument": {"uri": uri}},
                                timeout=10)


async def test_capability(daemon: DaemonClient) -> None:
    assert daemon.capabilities["codeLensProvider"] == {"resolveProvider": False}


async def test_lenses_of_a_file_with_markdown_cells(daemon: DaemonClient,
                                                    tmp_path: Path) -> None:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, TEXT)
    lenses = await code_lens(daemon, uri)
    assert summary(lenses) == [
        (3, "Run cell", "kernelbridge.executeCell"),
        (9, "Run cell", "kernelbridge.executeCell"),
        (9, "Run above", "kernelbridge.runAbove"),
    ]
    assert lenses[0] == {
        "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
        "command": {"title": "Run cell", "command": "kernelbridge.executeCell",
                    "arguments": [{"uri": uri, "position": {"line": 3, "character": 0}}]}}
    assert lenses[2]["command"]["arguments"] == [{"uri": uri, "position": {"line": 9,
                                                                          "character": 0}}]


async def test_lenses_follow_edits(daemon: DaemonClient, tmp_path: Path) -> None:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, "x = 1\n")
    assert summary(await code_lens(daemon, uri)) == [(0, "Run cell",
                                                      "kernelbridge.executeCell")]
    insert(daemon, uri, 1, "# %%\ny = 2\n", 2)
    assert summary(await code_lens(daemon, uri)) == [
        (0, "Run cell", "kernelbridge.executeCell"), (1, "Run cell", "kernelbridge.executeCell"),
        (1, "Run above", "kernelbridge.runAbove")]


async def test_no_lenses_for_a_document_that_is_not_open(daemon: DaemonClient,
                                                         tmp_path: Path) -> None:
    assert await code_lens(daemon, file_uri(tmp_path)) is None


async def test_a_lens_command_runs_its_cell(daemon: DaemonClient, kernel: dict,
                                            tmp_path: Path) -> None:
    uri = file_uri(tmp_path)
    open_doc(daemon, uri, TEXT)
    run_cell, _, run_above = await code_lens(daemon, uri)
    result = await daemon.request("workspace/executeCommand", {
        "command": run_above["command"]["command"],
        "arguments": run_above["command"]["arguments"]}, timeout=30)
    assert [(c["range"], c["status"]) for c in result["cells"]] == [(lines(3, 5), "ok")]
    assert result["kernelId"] == kernel["kernelId"]
    result = await daemon.request("workspace/executeCommand", {
        "command": run_cell["command"]["command"],
        "arguments": run_cell["command"]["arguments"]}, timeout=30)
    assert result["status"] == "ok" and result["range"] == lines(3, 5)
