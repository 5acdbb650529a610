"""Real kernels for the Jupyter-layer tests: ipykernel, and xeus-python where installed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kernelbridge.jupyter import Kernel, find_kernelspecs, start_kernel

INSTALLED = {spec.name for spec in find_kernelspecs()}
KERNELS = [
    pytest.param("python3", id="ipykernel"),
    pytest.param(
        "xpython",
        id="xeus-python",
        marks=[pytest.mark.xeus,
               pytest.mark.skipif("xpython" not in INSTALLED, reason="xeus-python not installed")],
    ),
]


@pytest.fixture(params=KERNELS)
def kernel_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def kernel(kernel_name: str) -> AsyncIterator[Kernel]:
    async with start_kernel(kernel_name) as k:
        yield k
