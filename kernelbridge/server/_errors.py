"""JSON-RPC error codes of kernelbridge and the mapping of core errors to them.

The codes are part of the wire contract (protocol.md, "Errors"): never renumber one.
JSON-RPC reserves -32768..-32000 and LSP asks servers not to define codes there (its own
-32001 is UnknownErrorCode), so kernelbridge's own codes are 1001..1099.
"""

from __future__ import annotations

from typing import Any

from pygls.exceptions import JsonRpcException

from kernelbridge.bridge import InvalidArgument, NoKernelForDocument, UnknownKernel
from kernelbridge.jupyter import (
    ClientClosed,
    ConnectionFileError,
    JupyterError,
    KernelDied,
    KernelLaunchError,
    KernelRestarted,
    KernelSpecNotFound,
    KernelTimeout,
    NotOwner,
)

# JSON-RPC 2.0
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# LSP
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800
# kernelbridge
UNKNOWN_KERNEL = 1001
KERNEL_DEAD = 1002
KERNEL_TIMEOUT = 1003
KERNEL_RESTARTED = 1004
KERNEL_LAUNCH_FAILED = 1005
KERNELSPEC_NOT_FOUND = 1006
NOT_OWNER = 1007
NO_KERNEL_FOR_DOCUMENT = 1008
CONNECTION_FILE_INVALID = 1009
KERNEL_ERROR = 1099  # any other error of the kernel layer

# Most specific class first: KernelRestarted and ClientClosed are KernelUnavailable too.
_CODES: tuple[tuple[type[Exception], int], ...] = (
    (UnknownKernel, UNKNOWN_KERNEL),
    (NoKernelForDocument, NO_KERNEL_FOR_DOCUMENT),
    (InvalidArgument, INVALID_PARAMS),
    (KernelRestarted, KERNEL_RESTARTED),
    (KernelDied, KERNEL_DEAD),
    (ClientClosed, KERNEL_DEAD),
    (KernelTimeout, KERNEL_TIMEOUT),
    (KernelLaunchError, KERNEL_LAUNCH_FAILED),
    (KernelSpecNotFound, KERNELSPEC_NOT_FOUND),
    (NotOwner, NOT_OWNER),
    (ConnectionFileError, CONNECTION_FILE_INVALID),
    (JupyterError, KERNEL_ERROR),
)


class RpcError(JsonRpcException):
    """An error answered to one request: ``code`` from this module, a message for people
    and optional ``data`` for programs."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message=message, code=code, data=data)


def to_rpc_error(exc: Exception) -> RpcError | None:
    """The RpcError for one of the core's errors, or None for anything else (a bug, which
    the protocol answers as an internal error)."""
    if isinstance(exc, RpcError):
        return exc
    for cls, code in _CODES:
        if isinstance(exc, cls):
            data: dict[str, Any] = {"type": type(exc).__name__}
            if isinstance(exc, KernelDied) and exc.exit_code is not None:
                data["exitCode"] = exc.exit_code
            return RpcError(code, str(exc), data)
    return None


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)
