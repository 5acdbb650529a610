"""Helpers of the cell tests: documents opened and edited through the daemon, and one log
of the notifications of several methods in arrival order."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelbridge.client import DaemonClient


def file_uri(tmp_path: Path, name: str = "analysis.py") -> str:
    return (tmp_path / name).as_uri()


def open_doc(daemon: DaemonClient, uri: str, text: str, version: int = 1) -> None:
    daemon.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": version, "text": text}})


def replace_text(daemon: DaemonClient, uri: str, text: str, version: int) -> None:
    daemon.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})


def insert(daemon: DaemonClient, uri: str, line: int, text: str, version: int) -> None:
    """An incremental change: ``text`` inserted at the start of ``line``."""
    at = {"line": line, "character": 0}
    daemon.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"range": {"start": at,
                                                                           "end": at},
                                                                 "text": text}]})


def lines(start: int, end: int) -> dict[str, Any]:
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


@contextlib.contextmanager
def logged(daemon: DaemonClient, *methods: str) -> Iterator[list[tuple[str, Any]]]:
    """(method, params) of every notification of ``methods``, in arrival order."""
    log: list[tuple[str, Any]] = []
    removers = [daemon.on_notification(m, lambda p, m=m: log.append((m, p))) for m in methods]
    try:
        yield log
    finally:
        for remove in removers:
            remove()


async def barrier(daemon: DaemonClient) -> None:
    """Wait until the daemon handled everything sent before: notifications such as
    didChange are handled in order, so whatever they send precedes this answer."""
    await daemon.request("kernelbridge/kernels", timeout=10)
