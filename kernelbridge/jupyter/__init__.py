"""An anyio-native Jupyter client: messages, wire codec, connection files, kernelspecs,
channels, kernel client and kernel lifecycle. Never imports pygls or lsprotocol."""

# Names load their module on first use (PEP 562): the daemon answers `initialize`
# without importing zmq, and a script that needs only the codec pays only for it.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_MODULES = {
    "ClientClosed": "._errors",
    "ClientOptions": "._client",
    "ConnectionFileError": "._errors",
    "ConnectionInfo": "._connection",
    "DELIMITER": "._wire",
    "ExecutionResult": "._client",
    "Header": "._message",
    "InvalidMessage": "._errors",
    "JupyterError": "._errors",
    "Kernel": "._kernel",
    "KernelClient": "._client",
    "KernelDied": "._errors",
    "KernelLaunchError": "._errors",
    "KernelOptions": "._kernel",
    "KernelRestarted": "._errors",
    "KernelSpecInfo": "._kernelspec",
    "KernelSpecNotFound": "._errors",
    "KernelTimeout": "._errors",
    "KernelUnavailable": "._errors",
    "Message": "._message",
    "NotOwner": "._errors",
    "PROTOCOL_VERSION": "._message",
    "Request": "._client",
    "Transport": "._connection",
    "WireCodec": "._wire",
    "collapse_groups": "._errors",
    "connect_kernel": "._kernel",
    "find_kernelspecs": "._kernelspec",
    "get_kernelspec": "._kernelspec",
    "new_connection_info": "._connection",
    "new_header": "._message",
    "new_id": "._message",
    "new_key": "._connection",
    "read_connection_file": "._connection",
    "remove_connection_files": "._connection",
    "runtime_dir": "._connection",
    "start_kernel": "._kernel",
    "write_connection_file": "._connection",
}

if TYPE_CHECKING:
    from ._client import ClientOptions, ExecutionResult, KernelClient, Request
    from ._connection import (
        ConnectionInfo,
        Transport,
        new_connection_info,
        new_key,
        read_connection_file,
        remove_connection_files,
        runtime_dir,
        write_connection_file,
    )
    from ._errors import (
        ClientClosed,
        ConnectionFileError,
        InvalidMessage,
        JupyterError,
        KernelDied,
        KernelLaunchError,
        KernelRestarted,
        KernelSpecNotFound,
        KernelTimeout,
        KernelUnavailable,
        NotOwner,
        collapse_groups,
    )
    from ._kernel import Kernel, KernelOptions, connect_kernel, start_kernel
    from ._kernelspec import KernelSpecInfo, find_kernelspecs, get_kernelspec
    from ._message import PROTOCOL_VERSION, Header, Message, new_header, new_id
    from ._wire import DELIMITER, WireCodec

__all__ = [
    "DELIMITER",
    "PROTOCOL_VERSION",
    "ClientClosed",
    "ClientOptions",
    "ConnectionFileError",
    "ConnectionInfo",
    "ExecutionResult",
    "Header",
    "InvalidMessage",
    "JupyterError",
    "Kernel",
    "KernelClient",
    "KernelDied",
    "KernelLaunchError",
    "KernelOptions",
    "KernelRestarted",
    "KernelSpecInfo",
    "KernelSpecNotFound",
    "KernelTimeout",
    "KernelUnavailable",
    "Message",
    "NotOwner",
    "Request",
    "Transport",
    "WireCodec",
    "collapse_groups",
    "connect_kernel",
    "find_kernelspecs",
    "get_kernelspec",
    "new_connection_info",
    "new_header",
    "new_id",
    "new_key",
    "read_connection_file",
    "remove_connection_files",
    "runtime_dir",
    "start_kernel",
    "write_connection_file",
]



def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
