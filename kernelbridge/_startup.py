"""The daemon's start-up and the cyclic garbage collector.

Importing pygls and lsprotocol makes ~100k objects that live as long as the daemon, and
the older-generation collections they trigger, each scanning all of them, were 50-100 ms
of the spawn-to-initialize time (bench/: start-up). While the daemon starts, only the
young generation is collected (the short-lived garbage of class building still goes,
which keeps RSS within ~1 MiB of a normal start; turning the collector off cost 9 MiB).
Once ``initialize`` is answered, what exists is frozen (later collections never scan it
again) and the thresholds are restored.
"""

from __future__ import annotations

import gc

_saved: tuple[int, int, int] | None = None


def begin() -> None:
    """Call first thing in the daemon's process, before its imports."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(_saved[0], 1_000_000, 1_000_000)


def end() -> None:
    """Call once the daemon serves (a no-op unless ``begin`` was called)."""
    global _saved
    if _saved is not None:
        gc.freeze()
        gc.set_threshold(*_saved)
        _saved = None
