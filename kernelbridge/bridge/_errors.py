"""Errors of the bridge, grouped by cause. The server maps each to a JSON-RPC error code."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of errors raised by ``kernelbridge.bridge`` itself (kernel-side errors keep
    their ``kernelbridge.jupyter`` classes)."""


class UnknownKernel(BridgeError, LookupError):
    """Raised when a request names a kernelId that the daemon does not know (never
    started, or already shut down)."""


class NoKernelForDocument(BridgeError, LookupError):
    """Raised when a document has no kernel bound and none can be chosen or started (no
    kernelspec for its language, or auto-start turned off)."""


class InvalidArgument(BridgeError, ValueError):
    """Raised when an argument is well-formed but not acceptable (a cwd that is not a
    directory, a connection file that does not exist, a duplicate executionId)."""



