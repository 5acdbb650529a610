"""The editor-agnostic core: kernel registry, documents, execution routing, output.

Knows neither JSON-RPC framing nor zmq sockets; testable with a fake sink."""

from ._bridge import Bridge, BridgeOptions, Document
from ._cellrun import (
    Block,
    BlockResult,
    CellRunner,
    CellSink,
    CellState,
    Lens,
    LineDiagnostic,
    RunResult,
    selected_lines,
)
from ._cells import Cell, cell_at, cells_above, code_cells, parse_cells
from ._errors import BridgeError, InvalidArgument, NoKernelForDocument, UnknownKernel
from ._output import (
    ImageStore,
    OutputItem,
    OutputOptions,
    OutputShaper,
    OutputStore,
    StreamItem,
    collapse_cr,
    strip_ansi,
)
from ._session import OUTPUT_TYPES, EditorSink, ExecuteOutcome, KernelSession

__all__ = [
    "OUTPUT_TYPES",
    "Block",
    "BlockResult",
    "Bridge",
    "BridgeError",
    "BridgeOptions",
    "Cell",
    "CellRunner",
    "CellSink",
    "CellState",
    "Document",
    "EditorSink",
    "ExecuteOutcome",
    "ImageStore",
    "InvalidArgument",
    "KernelSession",
    "Lens",
    "LineDiagnostic",
    "NoKernelForDocument",
    "OutputItem",
    "OutputOptions",
    "OutputShaper",
    "OutputStore",
    "RunResult",
    "StreamItem",
    "UnknownKernel",
    "cell_at",
    "cells_above",
    "code_cells",
    "collapse_cr",
    "parse_cells",
    "selected_lines",
    "strip_ansi",
]
