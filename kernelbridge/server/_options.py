"""The daemon's options: fully defaulted dataclasses, read from ``initializationOptions``.

Options are read leniently: a field with a bad value keeps its default and the problem
is reported (the server shows it with ``window/showMessage``), so a typo in an editor's
config never keeps the daemon from starting. Keys are camelCase on the wire.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from kernelbridge.bridge import BridgeOptions, OutputOptions


@dataclass(frozen=True, slots=True)
class KernelsOptions:
    """How kernels are picked and started (protocol.md, "Options")."""

    # Start the default kernel of a document's language when code runs in a document
    # that has no kernel yet. Completion and hover never start a kernel.
    auto_start: bool = True
    # language → kernelspec name, e.g. {"python": "python3"}.
    default_kernelspecs: dict[str, str] = field(default_factory=dict)
    transport: Literal["tcp", "ipc"] = "tcp"
    # Seconds a kernel gets to exit after shutdown_request before it is killed.
    shutdown_wait: float = 3.0
    # Seconds kernelbridge/connect waits for the kernel to answer before giving up.
    connect_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class ServerOptions:
    kernels: KernelsOptions = field(default_factory=KernelsOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    # Deadline, in seconds, for the kernel's answer to completion, hover and the raw
    # complete/inspect/isComplete/history requests.
    request_timeout: float = 10.0

    def bridge_options(self) -> BridgeOptions:
        k = self.kernels
        return BridgeOptions(
            auto_start=k.auto_start,
            default_kernelspecs=dict(k.default_kernelspecs),
            transport=k.transport,
            shutdown_wait=k.shutdown_wait,
            connect_timeout=k.connect_timeout,
            output=self.output,
        )


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _check(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it fits ``hint``; raises ValueError naming ``where`` otherwise."""
    origin = get_origin(hint)
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{where} must be one of {', '.join(map(repr, get_args(hint)))}")
        return value
    if origin in (Union, types.UnionType):
        for arg in get_args(hint):
            try:
                return _check(value, arg, where)
            except ValueError:
                pass
        raise ValueError(f"{where} has the wrong type")
    if hint is type(None):
        if value is not None:
            raise ValueError(f"{where} must be null")
        return None
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be a boolean")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{where} must be a non-negative number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string")
        return value
    if origin is dict:
        _, value_hint = get_args(hint)
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where} must be an object")
        return {k: _check(v, value_hint, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        (item_hint, _) = get_args(hint)  # tuple[X, ...]
        if not isinstance(value, list):
            raise ValueError(f"{where} must be an array")
        return tuple(_check(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is list:
        (item_hint,) = get_args(hint)
        if not isinstance(value, list):
            raise ValueError(f"{where} must be an array")
        return [_check(v, item_hint, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"unsupported option type {hint!r}")  # a bug in this module


def _read(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        problems.append(f"{where or 'initializationOptions'} must be an object; ignored")
        return cls()
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = set()
    for f in dataclasses.fields(cls):
        key = _camel(f.name)
        known.add(key)
        if key not in data:
            continue
        path = f"{where}.{key}" if where else key
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _read(hint, data[key], path, problems)
            continue
        try:
            kwargs[f.name] = _check(data[key], hint, path)
        except ValueError as exc:
            problems.append(f"{exc}; the default is used")
    for key in data:
        if key not in known:
            problems.append(f"unknown option {f'{where}.{key}' if where else key!r}; ignored")
    return cls(**kwargs)


def read_options(data: Any) -> tuple[ServerOptions, list[str]]:
    """The options in ``initializationOptions`` and a list of problems found in them."""
    problems: list[str] = []
    return _read(ServerOptions, data, "", problems), problems
