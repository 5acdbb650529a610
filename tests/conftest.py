"""Shared fixtures: the anyio backend, and isolation of Jupyter's runtime dir."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # pygls is asyncio-only, so the daemon runs on asyncio; test on what we ship.
    return "asyncio"


@pytest.fixture(autouse=True)
def _runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Connection files of test kernels go to a private dir, so a test can check that none
    # are left behind without seeing other runs' files.
    path = tmp_path_factory.mktemp("runtime")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(path))
