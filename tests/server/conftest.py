"""End-to-end fixtures: ``kernelbridge --stdio`` as a subprocess, driven by the Python
client library, with a real ipykernel behind it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kernelbridge.client import DaemonClient

DAEMON = [sys.executable, "-m", "kernelbridge", "--stdio"]


def daemon_env() -> dict[str, str]:
    # JUPYTER_RUNTIME_DIR is the test's private dir (tests/conftest.py).
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
async def daemon() -> AsyncIterator[DaemonClient]:
    async with DaemonClient.spawn(DAEMON, env=daemon_env(), timeout=30) as client:
        yield client


@pytest.fixture
async def kernel(daemon: DaemonClient) -> dict[str, Any]:
    """A python3 kernel started by the daemon (shut down with the daemon)."""
    return await daemon.request("kernelbridge/start", {"kernelspec": "python3"}, timeout=60)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (its parent has not reaped it yet).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def gone(path: str) -> bool:
    return not os.path.exists(path)
