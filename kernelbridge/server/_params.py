"""Typed params of kernelbridge's own requests, and the converter that checks them.

Every custom method has an attrs params class here, registered with the protocol, so
that pygls structures its params like an LSP method's instead of turning them into
namedtuples (DESIGN.md, "Traps"). Field names are snake_case in Python and camelCase on
the wire (lsprotocol's converter renames them). The converter is strict about JSON's basic
types: ``"code": 3`` is an error naming ``params.code``, not the string ``"3"``.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
import cattrs.v
from lsprotocol.converters import get_converter
from lsprotocol.types import Position, ProgressToken, Range
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, JsonRPCResponseMessage

# -- kernels ------------------------------------------------------------------------------


@attrs.define
class NoParams:
    """Params of methods that take none (an empty object or absent)."""


@attrs.define
class StartParams:
    kernelspec: str | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None
    uri: str | None = None
    language: str | None = None
    work_done_token: ProgressToken | None = None


@attrs.define
class ConnectParams:
    connection_file: str
    uri: str | None = None


@attrs.define
class KernelParams:
    # The kernel, or the kernel of document ``uri`` (never started for it).
    kernel_id: str | None = None
    uri: str | None = None


@attrs.define
class BindParams:
    uri: str
    kernel_id: str


@attrs.define
class ShutdownKernelParams:
    kernel_id: str | None = None
    uri: str | None = None
    # For kernels the daemon did not start: also shut the kernel itself down.
    kill: bool = False


# -- executions and raw kernel requests ---------------------------------------------------


@attrs.define
class ExecuteParams:
    code: str
    kernel_id: str | None = None
    uri: str | None = None
    execution_id: str | None = None
    silent: bool = False
    store_history: bool = True
    allow_stdin: bool = True
    stop_on_error: bool = True
    user_expressions: dict[str, str] | None = None


@attrs.define
class CodeParams:
    """complete / inspect / isComplete: code and a cursor (code points, as Jupyter)."""

    code: str
    kernel_id: str | None = None
    uri: str | None = None
    cursor_pos: int | None = None
    detail_level: int = 0


@attrs.define
class HistoryParams:
    kernel_id: str | None = None
    uri: str | None = None
    hist_access_type: str = "tail"
    n: int = 10
    output: bool = False
    raw: bool = True
    session: int | None = None
    start: int | None = None
    stop: int | None = None
    pattern: str | None = None
    unique: bool | None = None


@attrs.define
class OutputTextParams:
    kernel_id: str
    execution_id: str


@attrs.define
class OutputDataParams:
    kernel_id: str
    output_id: str
    mime_type: str | None = None


@attrs.define
class CellsParams:
    uri: str


# -- running a document's cells (executeCell, executeRange, runAbove; runAll: CellsParams) --


@attrs.define
class CellParams:
    uri: str
    position: Position


@attrs.define
class RangeParams:
    uri: str
    range: Range


# -- the converter ------------------------------------------------------------------------


def _strict(kind: type) -> Callable[[Any, type], Any]:
    def structure(value: Any, _: type) -> Any:
        # bool is an int subclass in Python, not in JSON.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"expected {_JSON_NAMES[kind]}, got {_json_type(value)}")
        return value

    return structure


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected number, got {_json_type(value)}")
    return float(value)


_JSON_NAMES = {str: "string", int: "integer", bool: "boolean", float: "number"}


def _strict_int_or_str(value: Any, _: type) -> int | str:
    # cattrs passes unions of primitives through unchecked: a list as a workDoneToken
    # (lsprotocol's ProgressToken, int | str) reached the handler and failed there.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"expected integer or string, got {_json_type(value)}")


def without_nulls(params: Any) -> Any:
    """Params of a kernelbridge method with the fields sent as ``null`` left out: an
    optional param sent as null means the same as absent (protocol.md, conventions), also
    for fields whose default is not None (``"silent": null`` is ``silent: false``). Absent
    params are ``{}``."""
    if params is None:
        return {}
    if isinstance(params, dict) and None in params.values():
        return {k: v for k, v in params.items() if v is not None}
    return params


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_ENVELOPE_KEYS = {"id", "method", "jsonrpc", "params"}


def _keep_dicts(obj: dict[str, Any], cls: type) -> Any:
    """Envelopes of methods without a params class keep their params as plain JSON (and
    may have none: then an unknown method is answered -32601, not a structure error).
    Members a request or notification should not have are ignored, as JSON-RPC peers
    do, so that they cannot turn an unknown method into a params error."""
    if cls is not JsonRPCResponseMessage:
        obj = {"params": None, **{k: v for k, v in obj.items() if k in _ENVELOPE_KEYS}}
    return cls(**obj)


def make_converter() -> cattrs.Converter:
    """lsprotocol's converter, strict about JSON types, keeping unknown params as dicts."""
    converter = get_converter()
    for kind in (str, int, bool):
        converter.register_structure_hook(kind, _strict(kind))
    converter.register_structure_hook(float, _strict_float)
    converter.register_structure_hook(int | str, _strict_int_or_str)
    converter.register_structure_hook(
        int | str | None, lambda value, tp: None if value is None else _strict_int_or_str(
            value, tp))
    for envelope in (JsonRPCRequestMessage, JsonRPCNotification, JsonRPCResponseMessage):
        converter.register_structure_hook(envelope, _keep_dicts)
    return converter


_CAMEL = re.compile(r"_([a-z])")


def _format_error(exc: BaseException, tp: Any) -> str:
    # typing.Union's name is "Union": name its members instead ("expected int | str").
    if isinstance(exc, TypeError | ValueError) and typing.get_origin(tp) is typing.Union:
        names = " | ".join("None" if arg is type(None) else getattr(arg, "__name__", repr(arg))
                           for arg in typing.get_args(tp))
        return f"invalid value for type, expected {names}"
    return cattrs.v.format_exception(exc, tp)


def describe_structure_error(exc: Exception, root: str = "") -> str:
    """A one-line message naming each bad field with its wire (camelCase) path, e.g.
    ``params.code: required field missing; params.cursorPos: expected integer, got string``
    (``root`` names what was structured, when it is not the whole message)."""
    if isinstance(exc, cattrs.BaseValidationError):
        parts = []
        for line in cattrs.transform_error(exc, path=f"$.{root}" if root else "$",
                                           format_exception=_format_error):
            what, _, where = line.rpartition(" @ ")
            where = _CAMEL.sub(lambda m: m.group(1).upper(), where).removeprefix("$.")
            parts.append(f"{where}: {what}")
        return "; ".join(parts)
    return str(exc)
