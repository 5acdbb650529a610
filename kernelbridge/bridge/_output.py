"""Output shaping: what editors receive of a kernel's output, and in what shape.

Every IOPub output of a kernel passes through its ``OutputShaper`` on its way to the
editor. The shaper picks MIME representations, writes images to files, strips ANSI when
asked, tracks display ids, defers ``clear_output(wait=True)``, splits huge stream
messages and enforces the optional per-execution output cap. It produces ``OutputItem``s;
the connection's queue merges consecutive ``StreamItem``s of one stream (coalescing) and
numbers items only when it sends them, so merging leaves no gaps in ``seq``.

Stream text keeps terminal semantics (protocol.md, "Stream text"): ``\\r`` returns to the
start of the line and what follows overwrites it, ``\\b`` moves back one character. Merged
text is collapsed to its final state (``collapse_cr``), so a progress bar's frames that
pile up while the editor is busy reach it as one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
    from kernelbridge.jupyter import Message


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_IMAGE_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
                 "image/svg+xml": ".svg"}
_BINARY_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif"})


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How output is shaped for the editor. Every field has a working default."""

    # Seconds a stream chunk waits in the queue for more of the same stream (0: none).
    coalesce_window: float = 0.02
    # Most stream text in one notification; larger messages are split.
    max_chunk_chars: int = 256 * 1024
    # Stream characters sent per execution before a "truncated" marker (0: no limit).
    max_chars_per_execution: int = 0
    # MIME types the editor draws, best first; () sends every representation.
    mime_types: tuple[str, ...] = ()
    ansi: Literal["keep", "strip"] = "keep"
    # Keep images' data (base64 / SVG text) in notifications besides writing the file.
    inline_images: bool = False
    # Where images are written ("": the user's cache dir, kernelbridge/images).
    image_dir: str = ""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def collapse_cr(text: str) -> str:
    """``text`` with ``\\r`` and ``\\b`` applied, as a terminal shows it. Whatever was
    shown before it and whatever follows, ``before + collapse_cr(text) + after`` shows the
    same as ``before + text + after``: the first line keeps what precedes its first
    ``\\r`` (it acts on the unknown line before it), and a last line whose cursor is not
    at its end puts the cursor back where it was."""
    if "\r" not in text and "\b" not in text:
        return text
    lines = text.split("\n")
    out = []
    last = len(lines) - 1
    for index, line in enumerate(lines):
        if "\r" not in line and "\b" not in line:
            out.append(line)
            continue
        head = ""
        if index == 0:
            # Before its first \r the line continues what is already shown: keep it.
            head, cr, line = line.partition("\r")
            if not cr:
                out.append(head)
                continue
            head += "\r"
        visible, column = _overwrite(line)
        if index == last and column < len(visible):
            visible += "\r" + visible[:column]
        out.append(head + visible)
    return "\n".join(out)


def _overwrite(line: str) -> tuple[str, int]:
    """The visible text of one line and where its cursor ends."""
    if "\b" not in line:
        visible = ""
        segment = ""
        for segment in line.split("\r"):
            visible = segment + visible[len(segment):]
        return visible, len(segment)
    chars: list[str] = []
    column = 0
    for ch in line:
        if ch == "\r":
            column = 0
        elif ch == "\b":
            column = max(0, column - 1)
        else:
            if column < len(chars):
                chars[column] = ch
            else:
                chars.append(ch)
            column += 1
    return "".join(chars), column


# -- items ----------------------------------------------------------------------------


class OutputItem:
    """One ``kernelbridge/output`` notification, waiting in the queue for its ``seq``."""

    __slots__ = ("_content", "_raw", "display_id", "execution_id", "kernel_id", "output_id",
                 "type")

    def __init__(self, kernel_id: str, execution_id: str | None, type: str, *,
                 content: dict[str, Any] | None = None, raw: bytes | None = None,
                 output_id: str | None = None, display_id: str | None = None) -> None:
        self.kernel_id = kernel_id
        self.execution_id = execution_id
        self.type = type
        self.output_id = output_id
        self.display_id = display_id
        self._content = content
        self._raw = raw  # the kernel's own content JSON, forwarded as is

    def merge(self, other: OutputItem) -> bool:
        """Absorb ``other`` (queued right after this one) if it continues it."""
        return False

    def content_json(self) -> bytes:
        if self._raw is not None:
            return self._raw
        return orjson.dumps(self._content)


class StreamItem(OutputItem):
    """Stream text of one execution and stream name; merges with what follows it."""

    __slots__ = ("created", "limit", "name", "parts", "size", "strip")

    def __init__(self, kernel_id: str, execution_id: str | None, name: str, text: str, *,
                 limit: int, strip: bool = False) -> None:
        super().__init__(kernel_id, execution_id, "stream")
        self.name = name
        self.parts = [text]
        self.size = len(text)
        self.limit = limit
        self.strip = strip
        self.created = time.monotonic()

    def merge(self, other: OutputItem) -> bool:
        if (not isinstance(other, StreamItem) or other.name != self.name
                or other.execution_id != self.execution_id
                or other.kernel_id != self.kernel_id or self.size + other.size > self.limit):
            return False
        self.parts.extend(other.parts)
        self.size += other.size
        if len(self.parts) > 64 or "\r" in other.parts[-1]:
            # Keep a flood of progress frames from piling up: collapse as they merge.
            text = collapse_cr("".join(self.parts))
            self.parts = [text]
            self.size = len(text)
        return True

    @property
    def text(self) -> str:
        text = collapse_cr("".join(self.parts))
        return strip_ansi(text) if self.strip else text

    def content_json(self) -> bytes:
        return orjson.dumps({"name": self.name, "text": self.text})


# -- stores ---------------------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_image_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "kernelbridge" / "images"


class ImageStore:
    """Images written once under a content-addressed name (sha256 of the bytes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, mime: str, value: str) -> str:
        """The file of image ``value`` (base64 for binary types, text for SVG)."""
        # Imported here, not at the top: hashlib and tempfile (with shutil, random, bz2,
        # lzma) were ~10 ms of the daemon's start-up, before any image exists.
        import hashlib
        import tempfile

        binary = mime in _BINARY_IMAGES
        data = base64.b64decode(value, validate=False) if binary else value.encode()
        name = hashlib.sha256(data).hexdigest()[:32] + _IMAGE_SUFFIX[mime]
        path = self.directory / name
        if not path.exists():
            _private_dir(self.directory)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return str(path)


class OutputStore:
    """What the daemon keeps so an editor can ask for more later: the full data of
    displays it sent reduced (bounded, least recently used dropped first), and the full
    stream text of executions whose output was truncated (in private temp files)."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._sizes: dict[tuple[str, str], int] = {}
        self._bytes = 0
        self._text_dir: Path | None = None
        self.texts: dict[tuple[str, str], Path] = {}  # (kernel, execution) -> file

    def keep_data(self, kernel_id: str, output_id: str, data: dict[str, Any]) -> None:
        key = (kernel_id, output_id)
        size = sum(len(v) if isinstance(v, str) else 64 for v in data.values())
        self._data[key] = data
        self._sizes[key] = size
        self._bytes += size
        while self._bytes > self.max_bytes and self._data:
            old, _ = self._data.popitem(last=False)
            self._bytes -= self._sizes.pop(old)

    def data(self, kernel_id: str, output_id: str) -> dict[str, Any] | None:
        key = (kernel_id, output_id)
        data = self._data.get(key)
        if data is not None:
            self._data.move_to_end(key)
        return data

    def text_file(self, kernel_id: str, execution_id: str) -> Path:
        key = (kernel_id, execution_id)
        path = self.texts.get(key)
        if path is None:
            import tempfile  # see ImageStore.write

            if self._text_dir is None:
                self._text_dir = Path(tempfile.mkdtemp(prefix="kernelbridge-output-"))
            fd, name = tempfile.mkstemp(dir=self._text_dir, suffix=".jsonl")
            os.close(fd)
            path = self.texts[key] = Path(name)
        return path

    def close(self) -> None:
        for path in self.texts.values():
            path.unlink(missing_ok=True)
        self.texts.clear()
        if self._text_dir is not None:
            with contextlib.suppress(OSError):
                self._text_dir.rmdir()
        self._data.clear()


# -- the shaper -----------------------------------------------------------------------


@dataclass(slots=True)
class _ExecutionOutput:
    chars: int = 0  # stream characters sent
    truncated: bool = False
    pending_clear: bool = False
    kept: list[tuple[str, str]] | None = None  # stream text so far, while under the cap


class OutputShaper:
    """Shapes one kernel's outputs and hands the items to ``emit``, in order."""

    def __init__(self, kernel_id: str, options: OutputOptions, store: OutputStore,
                 images: ImageStore, emit: Callable[[OutputItem], None]) -> None:
        self.kernel_id = kernel_id
        self.options = options
        self.store = store
        self.images = images
        self.emit = emit
        self._executions: dict[str, _ExecutionOutput] = {}
        self._displays: dict[str, str | None] = {}  # display_id -> executionId of its display
        self._next_output = 0

    def end_execution(self, execution_id: str) -> None:
        """The execution is over: a deferred clear without output after it is dropped."""
        self._executions.pop(execution_id, None)

    def _state(self, execution_id: str | None) -> _ExecutionOutput | None:
        if execution_id is None:
            return None
        state = self._executions.get(execution_id)
        if state is None:
            state = self._executions[execution_id] = _ExecutionOutput()
        return state

    def output(self, execution_id: str | None, msg: Message) -> None:
        kind = msg.msg_type
        state = self._state(execution_id)
        if kind == "clear_output":
            if msg.content.get("wait") and state is not None:
                # Cleared when the next output comes, in the same batch: no flicker.
                state.pending_clear = True
                return
            self.emit(OutputItem(self.kernel_id, execution_id, kind, raw=msg.content_bytes))
            return
        if state is not None and state.pending_clear:
            state.pending_clear = False
            self.emit(OutputItem(self.kernel_id, execution_id, "clear_output",
                                 content={"wait": False}))
        if kind == "stream":
            self._stream(execution_id, state, msg.content)
        elif kind in ("display_data", "execute_result", "update_display_data"):
            self._display(execution_id, kind, msg)
        elif kind == "error" and self.options.ansi == "strip":
            content = dict(msg.content)
            content["traceback"] = [strip_ansi(t) for t in content.get("traceback", [])]
            content["evalue"] = strip_ansi(str(content.get("evalue", "")))
            self.emit(OutputItem(self.kernel_id, execution_id, kind, content=content))
        else:
            self.emit(OutputItem(self.kernel_id, execution_id, kind, raw=msg.content_bytes))

    # -- streams ------------------------------------------------------------------------

    def _stream(self, execution_id: str | None, state: _ExecutionOutput | None,
                content: dict[str, Any]) -> None:
        name = str(content.get("name", "stdout"))
        text = content.get("text", "")
        if not isinstance(text, str) or not text:
            return
        cap = self.options.max_chars_per_execution
        if cap and state is not None and execution_id is not None:
            text = self._capped(execution_id, state, name, text, cap)
            if not text:
                return
        self._stream_items(execution_id, name, text)

    def _capped(self, execution_id: str, state: _ExecutionOutput, name: str, text: str,
                cap: int) -> str:
        """The part of ``text`` still under the cap; past it, a marker once and the
        full text kept in a file for ``kernelbridge/outputText``."""
        if state.truncated:
            self._append_text(execution_id, [(name, text)])
            return ""
        room = cap - state.chars
        if len(text) <= room:
            state.chars += len(text)
            if state.kept is None:
                state.kept = []
            state.kept.append((name, text))
            return text
        state.truncated = True
        self._append_text(execution_id, [*(state.kept or []), (name, text)])
        state.kept = None
        sent, state.chars = text[:room], cap
        if sent:
            self._stream_items(execution_id, name, sent)
        self.emit(OutputItem(self.kernel_id, execution_id, "truncated", content={
            "name": name, "limit": cap,
            "message": f"output truncated after {cap} characters; "
                       "kernelbridge/outputText has all of it"}))
        return ""

    def _stream_items(self, execution_id: str | None, name: str, text: str) -> None:
        # One stream message can be tens of MB: split it, so no notification is.
        step = self.options.max_chunk_chars
        strip = self.options.ansi == "strip"
        for start in range(0, len(text), step):
            self.emit(StreamItem(self.kernel_id, execution_id, name, text[start:start + step],
                                 limit=step, strip=strip))

    def _append_text(self, execution_id: str, parts: list[tuple[str, str]]) -> None:
        path = self.store.text_file(self.kernel_id, execution_id)
        with open(path, "ab") as f:
            for name, text in parts:
                f.write(orjson.dumps({"name": name, "text": text}) + b"\n")

    # -- displays -----------------------------------------------------------------------

    def _display(self, execution_id: str | None, kind: str, msg: Message) -> None:
        content = msg.content
        transient = content.get("transient") or {}
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        if not isinstance(display_id, str):
            display_id = None
        if display_id is not None:
            if kind == "update_display_data":
                # An update belongs to the execution whose output it updates.
                execution_id = self._displays.get(display_id, execution_id)
            else:
                self._displays[display_id] = execution_id
        data = content.get("data")
        self._next_output += 1
        output_id = str(self._next_output)
        if not isinstance(data, dict):
            self.emit(OutputItem(self.kernel_id, execution_id, kind, raw=msg.content_bytes,
                                 output_id=output_id, display_id=display_id))
            return
        shaped, files = self._shape_data(data)
        if shaped is data:
            self.emit(OutputItem(self.kernel_id, execution_id, kind, raw=msg.content_bytes,
                                 output_id=output_id, display_id=display_id))
            return
        if any(mime not in shaped for mime in data):
            # Left out or sent as a file: kernelbridge/outputData can still give it.
            self.store.keep_data(self.kernel_id, output_id, data)
        out = dict(content)
        out["data"] = shaped
        if files:
            out["files"] = files
        self.emit(OutputItem(self.kernel_id, execution_id, kind, content=out,
                             output_id=output_id, display_id=display_id))

    def _shape_data(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """(data to send, image files by MIME type); ``data`` itself when nothing
        changes. Images go to files; their data stays only with ``inline_images``."""
        options = self.options
        chosen = data
        if options.mime_types:
            best = next((m for m in options.mime_types if m in data), None)
            if best is not None:
                chosen = {best: data[best]}
                if best != "text/plain" and "text/plain" in data:
                    chosen["text/plain"] = data["text/plain"]
        strip = options.ansi == "strip"
        if chosen is data and not strip and not any(m in _IMAGE_SUFFIX for m in data):
            return data, {}
        files: dict[str, str] = {}
        shaped: dict[str, Any] = {}
        for mime, value in chosen.items():
            if mime in _IMAGE_SUFFIX and isinstance(value, str | list):
                text = "".join(value) if isinstance(value, list) else value
                try:
                    files[mime] = self.images.write(mime, text)
                except (OSError, binascii.Error, ValueError):
                    shaped[mime] = value  # cannot write it: send it as it came
                    continue
                if options.inline_images:
                    shaped[mime] = value
            elif mime == "text/plain" and strip and isinstance(value, str):
                shaped[mime] = strip_ansi(value)
            else:
                shaped[mime] = value
        return shaped, files
