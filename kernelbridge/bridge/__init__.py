"""The editor-agnostic core: kernel registry, documents, execution routing, output.

Knows neither JSON-RPC framing nor zmq sockets; testable with a fake sink."""

from ._bridge import Bridge, BridgeOptions, Document
from ._cells import Cell, cell_at, cells_above, code_cells, parse_cells
from ._errors import BridgeError, InvalidArgument, NoKernelForDocument, UnknownKernel
from ._session import OUTPUT_TYPES, EditorSink, ExecuteOutcome, KernelSession

__all__ = [
    "OUTPUT_TYPES",
    "Bridge",
    "BridgeError",
    "BridgeOptions",
    "Cell",
    "Document",
    "EditorSink",
    "ExecuteOutcome",
    "InvalidArgument",
    "KernelSession",
    "NoKernelForDocument",
    "UnknownKernel",
    "cell_at",
    "cells_above",
    "code_cells",
    "parse_cells",
]
