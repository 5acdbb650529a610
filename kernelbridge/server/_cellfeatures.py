"""Running a document's cells from the editor, the wire side: ``kernelbridge/executeCell``,
``executeRange``, ``runAbove``, ``runAll`` (registered from ``_features.METHODS``),
``textDocument/codeLens``, and the notifications runs send: ``kernelbridge/cellState``
and ``textDocument/publishDiagnostics``. The logic is the bridge's ``CellRunner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from kernelbridge.bridge import (
    Block,
    BlockResult,
    CellRunner,
    CellState,
    InvalidArgument,
    LineDiagnostic,
    RunResult,
    selected_lines,
)

from ._params import CellParams, CellsParams, RangeParams

if TYPE_CHECKING:
    from ._server import KernelBridgeServer

_LENS_TITLES = {"executeCell": "Run cell", "runAbove": "Run above"}


def _lines(block: Block) -> dict[str, Any]:
    return {"start": {"line": block.start_line, "character": 0},
            "end": {"line": block.end_line, "character": 0}}


def _code_lines(block: Block) -> dict[str, Any]:
    """The lines that hold the code run (no marker, no trailing blank lines): where an
    editor anchors the output right under the code."""
    end = block.code_start_line + block.code_lines
    return {"start": {"line": block.code_start_line, "character": 0},
            "end": {"line": end, "character": 0}}


class CellChannel:
    """The CellRunner's sink: plain-JSON notifications to the editor (orjson, no cattrs)."""

    def __init__(self, ls: KernelBridgeServer) -> None:
        self.ls = ls

    def cell_state(self, uri: str, kernel_id: str, execution_id: str, block: Block,
                   state: CellState, execution_count: int | None) -> None:
        params: dict[str, Any] = {"uri": uri, "range": _lines(block),
                                  "codeRange": _code_lines(block),
                                  "executionId": execution_id, "kernelId": kernel_id,
                                  "state": state}
        if execution_count is not None:
            params["executionCount"] = execution_count
        self.ls.protocol.send_notification("kernelbridge/cellState", params)

    def diagnostics(self, uri: str, version: int | None,
                    diagnostics: Sequence[LineDiagnostic]) -> None:
        units = self.ls.workspace.position_codec.client_num_units
        params: dict[str, Any] = {"uri": uri, "diagnostics": [
            {"range": {"start": {"line": d.line, "character": 0},
                       "end": {"line": d.line, "character": units(d.text)}},
             "severity": int(types.DiagnosticSeverity.Error), "source": "kernelbridge",
             "message": d.message}
            for d in diagnostics
        ]}
        if version is not None:
            params["version"] = version
        self.ls.protocol.send_notification("textDocument/publishDiagnostics", params)


def runner(ls: KernelBridgeServer) -> CellRunner:
    return ls.cell_runner


# -- results --------------------------------------------------------------------------


def _result(result: BlockResult) -> dict[str, Any]:
    out: dict[str, Any] = {"range": _lines(result.block),
                           "codeRange": _code_lines(result.block),
                           "executionId": result.execution_id, "status": result.status,
                           "executionCount": result.execution_count}
    if result.error is not None:
        out["error"] = result.error
    return out


def _one(block: Block, run: RunResult) -> dict[str, Any]:
    """executeCell / executeRange: the execution, or status "skipped" if none ran."""
    if not run.results:
        return {"kernelId": None, "executionId": None, "status": "skipped",
                "executionCount": None, "range": _lines(block),
                "codeRange": _code_lines(block)}
    return {"kernelId": run.kernel_id, **_result(run.results[0])}


def _many(run: RunResult) -> dict[str, Any]:
    return {"kernelId": run.kernel_id, "cells": [_result(r) for r in run.results]}


# -- handlers -------------------------------------------------------------------------


async def execute_cell(ls: KernelBridgeServer, params: CellParams) -> dict[str, Any]:
    return _one(*await runner(ls).run_cell(params.uri, params.position.line))


async def execute_range(ls: KernelBridgeServer, params: RangeParams) -> dict[str, Any]:
    start, end = params.range.start, params.range.end
    first, stop = selected_lines(start.line, end.line, end.character)
    return _one(*await runner(ls).run_lines(params.uri, first, stop))


async def run_above(ls: KernelBridgeServer, params: CellParams) -> dict[str, Any]:
    return _many(await runner(ls).run_above(params.uri, params.position.line))


async def run_all(ls: KernelBridgeServer, params: CellsParams) -> dict[str, Any]:
    return _many(await runner(ls).run_all(params.uri))


async def code_lens(ls: KernelBridgeServer, params: types.CodeLensParams
                    ) -> list[types.CodeLens] | None:
    uri = params.text_document.uri
    try:
        lenses = runner(ls).lenses(uri)
    except InvalidArgument:  # not open
        return None
    return [
        types.CodeLens(
            range=types.Range(types.Position(lens.line, 0), types.Position(lens.line, 0)),
            command=types.Command(
                title=_LENS_TITLES[lens.command], command=f"kernelbridge.{lens.command}",
                arguments=[{"uri": uri, "position": {"line": lens.line, "character": 0}}]),
        )
        for lens in lenses
    ]

