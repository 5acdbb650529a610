"""Output shaping end to end with a real ipykernel: progress bars, coalesced floods,
images on disk, display updates, truncation, MIME choice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kernelbridge.client import DaemonClient, RpcError

from .conftest import DAEMON, daemon_env

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shaped(tmp_path: Path) -> AsyncIterator[tuple[DaemonClient, str]]:
    options = {"output": {"mimeTypes": ["image/png", "text/html", "text/plain"],
                          "imageDir": str(tmp_path / "images"),
                          "maxCharsPerExecution": 5000}}
    async with DaemonClient.spawn(DAEMON, env=daemon_env(),
                                  initialization_options=options) as daemon:
        kernel = await daemon.request("kernelbridge/start", {"kernelspec": "python3"},
                                      timeout=60)
        yield daemon, kernel["kernelId"]


async def execute(daemon: DaemonClient, kernel_id: str, code: str
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    async with daemon.subscribe("kernelbridge/output") as outputs:
        result = await daemon.request("kernelbridge/execute",
                                      {"kernelId": kernel_id, "code": code}, timeout=60)
        return result, outputs.drain()


def png_header(path: Path) -> bytes:
    return path.read_bytes()[:4]


def show(texts: list[str]) -> str:
    """The final screen of a stream: terminal semantics, as protocol.md asks of clients."""
    from tests.bridge.test_output import render

    return render("".join(texts))[0]


async def test_progress_bar_frames_collapse(daemon: DaemonClient, kernel: dict) -> None:
    code = ("import sys, time\n"
            "for i in range(201):\n"
            "    sys.stdout.write(f'\\r{i:3d}/200'); sys.stdout.flush()\n"
            "print(' done')")
    result, notes = await execute(daemon, kernel["kernelId"], code)
    assert result["status"] == "ok"
    texts = [n["content"]["text"] for n in notes if n["type"] == "stream"]
    assert show(texts) == "200/200 done\n"
    assert len(texts) < 50, f"{len(texts)} notifications for 201 frames"


async def test_flush_per_line_flood_is_coalesced(daemon: DaemonClient, kernel: dict) -> None:
    code = "for i in range(20000): print(i, flush=True)"
    result, notes = await execute(daemon, kernel["kernelId"], code)
    assert result["status"] == "ok"
    texts = [n["content"]["text"] for n in notes if n["type"] == "stream"]
    assert "".join(texts) == "".join(f"{i}\n" for i in range(20000))
    assert len(texts) <= 2000, f"{len(texts)} notifications for 20000 lines"
    seqs = [n["seq"] for n in notes]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_matplotlib_figure_is_a_png_file(shaped: tuple[DaemonClient, str],
                                               tmp_path: Path) -> None:
    daemon, kid = shaped
    code = ("import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\n"
            "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")
    result, notes = await execute(daemon, kid, code)
    assert result["status"] == "ok", result
    display = next(n for n in notes if n["type"] == "display_data")
    path = Path(display["content"]["files"]["image/png"])
    assert path.parent == tmp_path / "images"
    assert png_header(path) == b"\x89PNG"
    assert "image/png" not in display["content"]["data"]
    full = await daemon.request("kernelbridge/outputData", {
        "kernelId": kid, "outputId": display["outputId"], "mimeType": "image/png"})
    assert list(full["data"]) == ["image/png"]


async def test_update_display_data_reaches_its_display(shaped: tuple[DaemonClient, str]
                                                       ) -> None:
    daemon, kid = shaped
    _, first = await execute(daemon, kid, "h = display('step 0', display_id='progress')")
    _, second = await execute(daemon, kid, "h.update('step 1')")
    (shown,) = [n for n in first if n["type"] == "display_data"]
    (update,) = [n for n in second if n["type"] == "update_display_data"]
    assert shown["displayId"] == update["displayId"] == "progress"
    assert update["executionId"] == shown["executionId"]
    assert update["content"]["data"]["text/plain"] == "'step 1'"


async def test_html_keeps_a_plain_fallback(shaped: tuple[DaemonClient, str]) -> None:
    daemon, kid = shaped
    _, notes = await execute(daemon, kid, "from IPython.display import HTML\nHTML('<i>x</i>')")
    (result,) = [n for n in notes if n["type"] == "execute_result"]
    assert set(result["content"]["data"]) == {"text/html", "text/plain"}


async def test_truncation_marker_and_output_text(shaped: tuple[DaemonClient, str]) -> None:
    daemon, kid = shaped
    result, notes = await execute(daemon, kid, "for i in range(3000): print(i)")
    texts = "".join(n["content"].get("text", "") for n in notes if n["type"] == "stream")
    assert len(texts) == 5000
    (marker,) = [n for n in notes if n["type"] == "truncated"]
    assert marker["content"]["limit"] == 5000
    full = await daemon.request("kernelbridge/outputText",
                                {"kernelId": kid, "executionId": result["executionId"]})
    assert "".join(p["text"] for p in full) == "".join(f"{i}\n" for i in range(3000))
    with pytest.raises(RpcError) as info:
        await daemon.request("kernelbridge/outputText", {"kernelId": kid, "executionId": "x"})
    assert info.value.code == -32602
