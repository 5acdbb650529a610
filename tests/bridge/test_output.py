"""Output shaping and coalescing: terminal semantics of stream text, merging without loss
or reordering under any chunking and reader speed, MIME choice, images, displays."""

from __future__ import annotations

import base64
import random
from pathlib import Path
from typing import Any

import anyio
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelbridge.bridge import (
    ImageStore,
    OutputItem,
    OutputOptions,
    OutputShaper,
    OutputStore,
    collapse_cr,
)
from kernelbridge.client import FrameDecoder
from kernelbridge.jupyter import Message
from kernelbridge.server._transport import Outbox
from tests.terminal import render_terminal


def render(text: str) -> tuple[str, int]:
    """What a terminal shows for ``text``: its lines, and the cursor column."""
    lines, column = render_terminal(text)
    return "\n".join(lines), column


terminal_text = st.text(alphabet=st.sampled_from(list("ab12 \r\n\b%")), max_size=60)


@given(terminal_text, terminal_text, terminal_text)
def test_collapse_keeps_what_a_terminal_shows(before: str, text: str, more: str) -> None:
    assert render(before + collapse_cr(text) + more) == render(before + text + more)
    assert len(collapse_cr(text)) <= 2 * len(text) + 1


def test_progress_bar_collapses_to_its_last_frame() -> None:
    frames = "".join(f"\r{p:3d}%|{'#' * (p // 10):<10}|" for p in range(0, 101, 5))
    # The leading \r stays: it acts on whatever the line showed before this text.
    assert collapse_cr(frames + "\n") == "\r100%|##########|\n"
    assert collapse_cr("\nloading...\rdone      \nnext") == "\ndone      \nnext"
    assert collapse_cr("\n50%\r60%\r") == "\n60%\r"  # the cursor stays at the line start


# -- coalescing: nothing lost, nothing reordered -------------------------------------


class SlowReader:
    """A writer target that takes its time, like a busy editor."""

    def __init__(self, delays: list[float]) -> None:
        self.data = bytearray()
        self.delays = delays
        self.writes = 0

    async def write(self, data: bytes) -> None:
        self.writes += 1
        await anyio.sleep(self.delays[self.writes % len(self.delays)])
        self.data += data


def stream_item(name: str, text: str, execution: str = "e1") -> OutputItem:
    from kernelbridge.bridge import StreamItem

    return StreamItem("k", execution, name, text, limit=1000)


@settings(max_examples=40, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]),
                              st.text(alphabet="xyz \n", min_size=1, max_size=20)),
                    min_size=1, max_size=80),
    delays=st.lists(st.sampled_from([0.0, 0.0005, 0.002]), min_size=1, max_size=5),
    window=st.sampled_from([0.0, 0.002, 0.02]),
    seed=st.integers(0, 1000),
)
def test_coalescing_never_loses_or_reorders(chunks: list[tuple[str, str]], delays: list[float],
                                            window: float, seed: int) -> None:
    rng = random.Random(seed)

    async def run() -> bytes:
        outbox = Outbox(coalesce_window=window)
        reader = SlowReader(delays)
        async with anyio.create_task_group() as tg:
            tg.start_soon(outbox.run_writer, reader)
            for name, text in chunks:
                outbox.put_output(stream_item(name, text))
                if rng.random() < 0.3:
                    await anyio.sleep(rng.choice([0, 0.001]))
            outbox.close()
        return bytes(reader.data)

    data = anyio.run(run)
    notes = [m["params"] for m in FrameDecoder().feed(data)]
    assert [n["seq"] for n in notes] == list(range(1, len(notes) + 1))
    for name in ("stdout", "stderr"):
        sent = "".join(n["content"]["text"] for n in notes if n["content"]["name"] == name)
        assert sent == "".join(t for n, t in chunks if n == name)
    # Order across streams is kept too: merging only joins neighbours.
    merged = [(n["content"]["name"], n["content"]["text"]) for n in notes]
    expected: list[tuple[str, str]] = []
    for name, text in chunks:
        if expected and expected[-1][0] == name:
            expected[-1] = (name, expected[-1][1] + text)
        else:
            expected.append((name, text))
    joined: list[tuple[str, str]] = []
    for name, text in merged:
        if joined and joined[-1][0] == name:
            joined[-1] = (name, joined[-1][1] + text)
        else:
            joined.append((name, text))
    assert joined == expected


def test_slow_reader_gets_fewer_bigger_notifications() -> None:
    async def run() -> list[dict[str, Any]]:
        outbox = Outbox(coalesce_window=0.01)
        reader = SlowReader([0.01])
        async with anyio.create_task_group() as tg:
            tg.start_soon(outbox.run_writer, reader)
            for i in range(2000):
                outbox.put_output(stream_item("stdout", f"line {i}\n"))
                if i % 100 == 0:
                    await anyio.lowlevel.checkpoint()
            outbox.close()
        return [m["params"] for m in FrameDecoder().feed(bytes(reader.data))]

    notes = anyio.run(run)
    assert "".join(n["content"]["text"] for n in notes) == "".join(
        f"line {i}\n" for i in range(2000))
    assert len(notes) <= 200  # at most one notification per 10 lines


# -- the shaper -----------------------------------------------------------------------


def message(msg_type: str, content: dict[str, Any]) -> Message:
    return Message.new(msg_type, content, session="s")


class Collected:
    def __init__(self) -> None:
        self.items: list[OutputItem] = []

    def __call__(self, item: OutputItem) -> None:
        self.items.append(item)

    def contents(self) -> list[tuple[str, dict[str, Any]]]:
        return [(i.type, orjson.loads(i.content_json())) for i in self.items]


def shaper(tmp_path: Path, **options: Any) -> tuple[OutputShaper, Collected, OutputStore]:
    out = Collected()
    store = OutputStore()
    return (OutputShaper("k", OutputOptions(**options), store, ImageStore(tmp_path / "img"),
                         out), out, store)


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nnot really").decode()


def test_mime_choice_keeps_a_text_fallback_and_the_rest_on_request(tmp_path: Path) -> None:
    s, out, store = shaper(tmp_path, mime_types=("text/markdown", "text/html", "text/plain"))
    data = {"text/html": "<b>x</b>", "text/plain": "x", "application/json": {"a": 1}}
    s.output("e", message("display_data", {"data": data, "metadata": {}, "transient": {}}))
    ((_, content),) = out.contents()
    assert content["data"] == {"text/html": "<b>x</b>", "text/plain": "x"}
    output_id = out.items[0].output_id
    assert output_id is not None and store.data("k", output_id) == data


def test_images_go_to_content_addressed_files(tmp_path: Path) -> None:
    s, out, _ = shaper(tmp_path)
    for _ in range(2):
        s.output("e", message("display_data", {"data": {"image/png": PNG, "text/plain": "<Fig>"},
                                               "metadata": {}}))
    first, second = out.contents()
    assert first[1]["files"] == second[1]["files"]
    path = Path(first[1]["files"]["image/png"])
    assert path.read_bytes() == base64.b64decode(PNG)
    assert path.parent == tmp_path / "img" and path.suffix == ".png"
    assert "image/png" not in first[1]["data"]
    assert first[1]["data"]["text/plain"] == "<Fig>"
    s2, out2, _ = shaper(tmp_path, inline_images=True)
    s2.output("e", message("display_data", {"data": {"image/png": PNG}, "metadata": {}}))
    assert out2.contents()[0][1]["data"]["image/png"] == PNG


def test_update_display_goes_to_the_execution_of_its_display(tmp_path: Path) -> None:
    s, out, _ = shaper(tmp_path)
    s.output("first", message("display_data", {"data": {"text/plain": "0%"}, "metadata": {},
                                               "transient": {"display_id": "bar"}}))
    s.output("second", message("update_display_data", {
        "data": {"text/plain": "50%"}, "metadata": {}, "transient": {"display_id": "bar"}}))
    assert [(i.type, i.execution_id, i.display_id) for i in out.items] == [
        ("display_data", "first", "bar"), ("update_display_data", "first", "bar")]


def test_clear_output_wait_is_sent_with_the_next_output(tmp_path: Path) -> None:
    s, out, _ = shaper(tmp_path)
    s.output("e", message("clear_output", {"wait": True}))
    assert out.items == []
    s.output("e", message("stream", {"name": "stdout", "text": "new"}))
    assert [(t, c) for t, c in out.contents()] == [
        ("clear_output", {"wait": False}), ("stream", {"name": "stdout", "text": "new"})]
    s.output("e", message("clear_output", {"wait": True}))
    s.end_execution("e")
    s.output("e", message("stream", {"name": "stdout", "text": "x"}))
    assert out.contents()[-1][0] == "stream" and len(out.items) == 3


def test_truncation_marker_and_full_text_kept(tmp_path: Path) -> None:
    s, out, store = shaper(tmp_path, max_chars_per_execution=10)
    for text in ["12345", "67890abc", "def"]:
        s.output("e", message("stream", {"name": "stdout", "text": text}))
    kinds = [(t, c.get("text")) for t, c in out.contents()]
    assert kinds == [("stream", "12345"), ("stream", "67890"), ("truncated", None)]
    lines = store.texts[("k", "e")].read_bytes().splitlines()
    assert "".join(orjson.loads(line)["text"] for line in lines) == "1234567890abcdef"
    store.close()
    assert not store.texts


def test_huge_stream_message_is_split(tmp_path: Path) -> None:
    s, out, _ = shaper(tmp_path, max_chunk_chars=1000)
    s.output("e", message("stream", {"name": "stdout", "text": "x" * 4500}))
    assert [len(c["text"]) for _, c in out.contents()] == [1000, 1000, 1000, 1000, 500]


def test_ansi_strip_option(tmp_path: Path) -> None:
    s, out, _ = shaper(tmp_path, ansi="strip")
    s.output("e", message("error", {"ename": "E", "evalue": "\x1b[31mbad\x1b[0m",
                                    "traceback": ["\x1b[31mline\x1b[0m"]}))
    s.output("e", message("execute_result", {"data": {"text/plain": "\x1b[1m42\x1b[0m"},
                                             "metadata": {}, "execution_count": 1}))
    (_, error), (_, result) = out.contents()
    assert error["traceback"] == ["line"] and error["evalue"] == "bad"
    assert result["data"]["text/plain"] == "42"
