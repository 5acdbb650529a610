"""An anyio-native Jupyter client: messages, wire codec, connection files, kernelspecs,
channels, kernel client and kernel lifecycle. Never imports pygls or lsprotocol."""

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
