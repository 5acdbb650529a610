"""Errors of the Jupyter layer, grouped by cause.

Foreign errors (zmq, OSError, timeouts) are mapped to these at the boundary, so a caller
catches ``JupyterError`` (or one group) and nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class JupyterError(Exception):
    """Base of every error raised by ``kernelbridge.jupyter``."""


# -- the kernel sent something we refuse -------------------------------------------------


class InvalidMessage(JupyterError):
    """Raised by the wire codec when a multipart message cannot be accepted.

    ``reason`` says why: ``"truncated"`` (missing delimiter or frames), ``"signature"``
    (bad or missing HMAC while a key is set), ``"replay"`` (a signature seen before),
    ``"json"`` (a frame is not a JSON object) or ``"header"`` (required header fields
    missing). Readers drop and count such messages; they are never delivered.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"invalid message ({reason}){': ' + detail if detail else ''}")


# -- the kernel is not there to answer --------------------------------------------------


class KernelUnavailable(JupyterError):
    """Base for errors that mean the kernel cannot answer a request right now."""


class KernelDied(KernelUnavailable):
    """Raised for every pending and new request once the kernel is known dead: its
    process exited (kernels we own) or its heartbeat stopped (any kernel)."""

    def __init__(self, message: str = "the kernel died", *, exit_code: int | None = None) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class KernelRestarted(KernelUnavailable):
    """Raised for requests still pending when their kernel was restarted: their replies
    will never come, the new process does not know them."""


class ClientClosed(KernelUnavailable):
    """Raised when a request is made on, or pending in, a client that was closed."""


class KernelTimeout(JupyterError, TimeoutError):
    """Raised when a wait on the kernel passes its deadline (a reply, readiness, the
    outputs of an execution). The kernel may still be alive but busy."""


# -- starting and finding kernels --------------------------------------------------------


class KernelSpecNotFound(JupyterError, LookupError):
    """Raised when no installed kernelspec has the requested name."""


class KernelLaunchError(JupyterError):
    """Raised when a kernel process cannot be started, or exits before it is ready.
    ``stderr_tail`` holds the last lines the kernel wrote to stderr, when known."""

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        self.stderr_tail = stderr_tail
        super().__init__(message + (f"\n{stderr_tail}" if stderr_tail else ""))


class ConnectionFileError(JupyterError, ValueError):
    """Raised when a connection file cannot be read, is not valid JSON, lacks a field, or
    names a transport or signature scheme we do not support."""


class NotOwner(JupyterError):
    """Raised when restarting a kernel we connected to but did not start: only the process
    owner can relaunch a kernel."""


def unwrap_group(group: BaseExceptionGroup) -> BaseException:
    """The one error a task group failed with, so callers see our small classes, not an
    ExceptionGroup; the group itself when several tasks failed for different reasons."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                walk(sub)
        else:
            leaves.append(exc)

    walk(group)
    return leaves[0] if len(leaves) == 1 else group


@contextlib.contextmanager
def collapse_groups() -> Iterator[None]:
    """Re-raise a task group's single error as itself (see ``unwrap_group``)."""
    try:
        yield
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None
