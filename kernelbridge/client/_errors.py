"""Errors of the client, grouped by cause.

A caller catches ``ClientError`` for "the daemon could not do what I asked", and one of the
subclasses when the cause matters (the daemon refused, the daemon is gone, a deadline
passed). Every class can be rebuilt from its message alone, so a shared failure (the daemon
died under ten pending requests) is raised as one fresh copy per waiter, never as one object
whose traceback grows with every ``raise``.
"""

from __future__ import annotations

import copy
from typing import Any, Self

# JSON-RPC 2.0 and LSP error codes the client itself produces or recognises.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800


class ClientError(Exception):
    """Base of every error raised by ``kernelbridge.client``; raised as is when the client
    is used after it was closed, or when the daemon cannot be started at all."""

    def clone(self) -> Self:
        """A copy without traceback, to raise the same failure in another task."""
        return copy.copy(self)


class RpcError(ClientError):
    """Raised by :meth:`DaemonClient.request` when the daemon answered with a JSON-RPC
    error object. ``code`` is the stable error code (protocol.md lists them), ``message``
    the daemon's text, ``data`` the optional structured detail (``None`` if absent).

    Also the exception a server-request handler raises to answer with a specific error.
    """

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(code, message, data)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    @classmethod
    def from_payload(cls, error: Any) -> RpcError:
        """Build from a response's ``error`` member, tolerating a malformed one (a peer
        that breaks the spec still yields an error the caller can read)."""
        if not isinstance(error, dict):
            return cls(INTERNAL_ERROR, f"malformed error object: {error!r}")
        code = error.get("code")
        message = error.get("message")
        return cls(
            code if isinstance(code, int) else INTERNAL_ERROR,
            message if isinstance(message, str) else repr(message),
            error.get("data"),
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON-RPC error object of this error."""
        payload: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class DaemonExited(ClientError):
    """Raised for every pending and every new request once the connection is gone: the
    daemon process ended or closed its output (or, for a client over plain streams, the
    peer closed the stream). All pending requests fail with it at once.

    ``returncode`` is the daemon's exit code (negative: killed by that signal) and
    ``stderr_tail`` the end of what it wrote to stderr, when the client spawned it and
    captured stderr; both also appear in the message, because a traceback is usually all
    a user sees of a daemon that crashed.
    """

    def __init__(
        self, message: str, *, returncode: int | None = None, stderr_tail: str = ""
    ) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(message)

    @classmethod
    def describe(
        cls, reason: str, *, returncode: int | None = None, stderr_tail: str = ""
    ) -> DaemonExited:
        """Build the error with its exit status and stderr tail folded into the message."""
        message = reason
        if returncode is not None:
            if returncode < 0:
                message += f" (the daemon was killed by signal {-returncode})"
            else:
                message += f" (the daemon exited with code {returncode})"
        tail = stderr_tail.strip()
        if tail:
            message += "\n--- daemon stderr (tail) ---\n" + tail
        return cls(message, returncode=returncode, stderr_tail=stderr_tail)


class ProtocolError(ClientError):
    """Raised for every pending and new request when the peer sent bytes that are not
    JSON-RPC with LSP base framing: a header without ``Content-Length``, a bad length, a
    body that is not a JSON object. The stream cannot be resynchronised after that, so the
    connection is treated as lost. A common cause is a process writing to the daemon's
    stdout; the message shows the offending bytes."""


class RequestTimeout(ClientError, TimeoutError):
    """Raised when a wait passed its deadline: a request's response (the client then sends
    ``$/cancelRequest`` for it), a subscription's next notification, or the daemon's
    start-up handshake. A ``TimeoutError``, so generic timeout handling catches it too."""
