"""What every layer asks of the event loop, in one place (no layer may import another's
internals for it: the server must not import zmq through kernelbridge.jupyter)."""

from __future__ import annotations

import asyncio


def asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or None under another anyio backend (trio): the callers'
    reader-callback fast paths exist on asyncio only."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
