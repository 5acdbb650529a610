"""LSP base framing over a pair of file descriptors: a reader that turns bytes into
JSON-RPC messages (or precise errors), and the one writer task of the connection.

pygls's own loop answers malformed input with a ``window/showMessage`` and no response
(DESIGN.md, "Traps"), and writes from whatever task calls it. Here the reader reports
every problem so the server can answer it properly, and handlers never touch the
transport: they put frames in the ``Outbox``, which the writer task drains.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson

from kernelbridge._aio import asyncio_loop
from kernelbridge.bridge import OutputItem, StreamItem

log = logging.getLogger("kernelbridge.server")

_HEADER_END = b"\r\n\r\n"
_HEADER_NAME = re.compile(rb"content-length[ \t]*:")  # matched in lower-cased headers
_READ_SIZE = 1 << 16


@dataclass(slots=True)
class FramingError:
    """Input the reader could not turn into a JSON-RPC message: answered with ``code``
    and ``message`` and ``id`` null (the id could not be read)."""

    code: int
    message: str


# -- file descriptors -----------------------------------------------------------------


def _is_pollable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class FdReader:
    """Reads a file descriptor from the event loop: a pipe or socket is made
    non-blocking and read from a reader callback (asyncio) or ``wait_readable``; anything
    else (a regular file) is read in a worker thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pollable = _is_pollable(fd)
        if self._pollable:
            os.set_blocking(fd, False)

    async def run(self, on_chunk: Callable[[bytes], None]) -> None:
        """Hand every chunk read to ``on_chunk`` until end of file."""
        loop = asyncio_loop()
        if loop is not None and self._pollable:
            await self._run_asyncio(loop, on_chunk)
            return
        while chunk := await self.read():
            on_chunk(chunk)

    async def _run_asyncio(self, loop: asyncio.AbstractEventLoop,
                           on_chunk: Callable[[bytes], None]) -> None:
        """A reader callback registered once handles input the moment it arrives: no task
        wake-up and no epoll registration per message (``wait_readable`` adds and removes
        the fd every time), a good part of a short request's cost (bench/: round trips)."""
        eof = asyncio.Event()

        def on_readable() -> None:
            try:
                chunk = os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EBADF, errno.ECONNRESET):
                    log.error("reading the editor's input failed: %s", exc)
                chunk = b""
            if not chunk:
                loop.remove_reader(self.fd)
                eof.set()
                return
            on_chunk(chunk)

        loop.add_reader(self.fd, on_readable)
        try:
            await eof.wait()
        finally:
            if not eof.is_set():
                loop.remove_reader(self.fd)

    async def read(self) -> bytes:
        """The next chunk; b"" at end of file."""
        if not self._pollable:
            return await anyio.to_thread.run_sync(os.read, self.fd, _READ_SIZE)
        while True:
            try:
                return os.read(self.fd, _READ_SIZE)
            except BlockingIOError:
                await anyio.wait_readable(self.fd)
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF, errno.ECONNRESET):
                    return b""
                raise



class FdWriter:
    """Writes whole buffers to a file descriptor (non-blocking when it is a pipe)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._pollable = _is_pollable(fd)
        if self._pollable:
            os.set_blocking(fd, False)

    def try_write(self, data: bytes) -> int:
        """Write what the pipe takes now, without waiting (0 when full). Only for pipes
        and sockets (``pollable``)."""
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0

    @property
    def pollable(self) -> bool:
        return self._pollable

    async def write(self, data: bytes) -> None:
        """Write all of ``data``; raises BrokenPipeError when the reader is gone."""
        view = memoryview(data)
        while view:
            if not self._pollable:
                written = await anyio.to_thread.run_sync(os.write, self.fd, view)
            else:
                try:
                    written = os.write(self.fd, view)
                except BlockingIOError:
                    await anyio.wait_writable(self.fd)
                    continue
            view = view[written:]


# -- framing --------------------------------------------------------------------------


class FrameParser:
    """Splits a byte stream into message bodies; feed it chunks, take what it found.

    A header block without a usable Content-Length cannot be skipped by length, so the
    parser reports it and resynchronises on the next ``Content-Length:``. A body larger
    than ``max_body`` is reported and discarded as it streams in, never buffered.
    """

    def __init__(self, max_body: int = 256 << 20) -> None:
        self.max_body = max_body
        self._buffer = bytearray()
        self._skip = 0  # bytes of an oversized body still to discard
        self._resyncing = False  # after a bad header: skip to the next Content-Length

    def feed(self, chunk: bytes) -> list[bytes | FramingError]:
        out: list[bytes | FramingError] = []
        buf = self._buffer
        buf += chunk
        while True:
            if self._skip:
                dropped = min(self._skip, len(buf))
                del buf[:dropped]
                self._skip -= dropped
                if self._skip:
                    return out
            end = buf.find(_HEADER_END)
            if end < 0:
                if len(buf) > 8192:
                    # No header end within 8 KiB. The name is matched case-insensitively,
                    # and only a header that started in the last 8 KiB is waited for, so
                    # the buffer stays bounded whatever arrives.
                    at = bytes(buf).lower().rfind(b"content-length", 1)
                    if at < 0 or len(buf) - at > 8192:
                        # Garbage with no header in sight: report once, keep the tail.
                        if not self._resyncing:
                            out.append(FramingError(-32700, "no Content-Length header found"))
                        self._resyncing = True
                        del buf[:-16]
                    else:
                        if not self._resyncing:
                            out.append(FramingError(-32700, "unexpected bytes before a header"))
                        self._resyncing = False
                        del buf[:at]
                return out
            block = bytes(buf[:end])
            at = _header_start(block)
            if at > 0:
                # Bytes before a header: the rest of a bad message already answered
                # (resynchronising), or stray bytes, answered once here.
                if not self._resyncing:
                    out.append(FramingError(-32700, "unexpected bytes before a header"))
                del buf[:at]
                self._resyncing = False
                continue
            length = _content_length(block)
            if length is None:
                # A blank line in the bytes skipped after a bad header ends no header
                # block of its own: skipped silently like the rest (protocol.md §1).
                if not (self._resyncing and at < 0):
                    out.append(FramingError(-32700,
                                            "missing or invalid Content-Length header"))
                del buf[: end + 4]
                self._resyncing = True
                continue
            self._resyncing = False
            start = end + 4
            if length > self.max_body:
                out.append(FramingError(
                    -32600, f"message of {length} bytes exceeds the limit of {self.max_body}"
                ))
                del buf[:start]
                self._skip = length
                continue
            if len(buf) - start < length:
                return out
            out.append(bytes(buf[start : start + length]))
            del buf[: start + length]


def _header_start(block: bytes) -> int:
    """Where the header of a header block starts: 0 when one of its lines starts (after
    blanks) with the ``Content-Length:`` name — the lines before it are other headers,
    whose values may mention content-length — else the offset of the first
    ``Content-Length:`` (bytes precede it on its line: garbage), or -1 when there is none."""
    lowered = block.lower()
    first = -1
    for match in _HEADER_NAME.finditer(lowered):
        at = match.start()
        line = lowered.rfind(b"\r\n", 0, at)
        if not lowered[line + 2 if line >= 0 else 0 : at].strip(b" \t"):
            return 0
        if first < 0:
            first = at
    return first


def _content_length(header_block: bytes) -> int | None:
    for line in header_block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            value = value.strip()
            if value.isdigit():
                return int(value)
            return None
    return None


def decode_body(body: bytes) -> dict[str, Any] | FramingError:
    """One body as a JSON object, or the error that answers it."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return FramingError(-32700, f"parse error: {exc}")
    if isinstance(value, list):
        return FramingError(-32600, "batch messages are not supported (LSP framing)")
    if not isinstance(value, dict):
        return FramingError(-32600, "a message must be a JSON object")
    return value


def message_feeder(on_message: Callable[[dict[str, Any] | FramingError], None],
                   max_body: int = 256 << 20) -> Callable[[bytes], None]:
    """A chunk handler for ``FdReader.run`` that calls ``on_message`` with every message
    (or framing error) in the byte stream, in order."""
    parser = FrameParser(max_body)

    def feed(chunk: bytes) -> None:
        for item in parser.feed(chunk):
            on_message(decode_body(item) if isinstance(item, bytes) else item)

    return feed


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


# -- the outbox and its writer --------------------------------------------------------


class _Framed(bytes):
    """Bytes already framed (the rest of a frame a direct write could not finish)."""


def render_output(item: OutputItem, seq: int) -> bytes:
    """The ``kernelbridge/output`` notification of ``item`` numbered ``seq``. The
    content is spliced in as JSON bytes (the kernel's own, when it is forwarded as is)."""
    ids = b'"kernelId":%b' % orjson.dumps(item.kernel_id)
    if item.execution_id is not None:
        ids += b',"executionId":%b' % orjson.dumps(item.execution_id)
    if item.output_id is not None:
        ids += b',"outputId":%b' % orjson.dumps(item.output_id)
    if item.display_id is not None:
        ids += b',"displayId":%b' % orjson.dumps(item.display_id)
    return (b'{"jsonrpc":"2.0","method":"kernelbridge/output","params":{%b,"type":"%b",'
            b'"seq":%d,"content":%b}}' % (ids, item.type.encode(), seq, item.content_json()))


class Outbox:
    """The queue between everything that sends and the connection's writer task.

    Synchronous to put into (the IOPub reader and pygls call it from callbacks), drained
    in batches: one ``write`` per batch, not per message. Output items merge into the
    item queued just before them when they continue it (stream text), so while the
    editor reads slowly, output coalesces instead of piling up; a stream item at the
    tail is held for ``coalesce_window`` seconds so that more of it can join. ``seq`` is
    assigned when an item is sent, so merging leaves no gaps.
    """

    def __init__(self, max_batch_bytes: int = 1 << 20, coalesce_window: float = 0.02) -> None:
        self._queue: deque[bytes | OutputItem] = deque()
        # Set by the writer: a non-blocking write, used while nothing waits in the queue.
        self._direct: Callable[[bytes], int] | None = None
        # asyncio's events, not anyio's: the outbox exists (and writes) before the
        # daemon's first anyio call, which imports anyio's backend (see serve()).
        self._wakeup = asyncio.Event()
        self._closed = False
        self.max_batch_bytes = max_batch_bytes
        self.coalesce_window = coalesce_window
        self._flushed = asyncio.Event()
        self._writing = False
        self.seq: dict[str, int] = {}
        self.sent_frames = 0

    def write_directly(self, writer: FdWriter) -> None:
        """Let ``put`` write to ``writer`` itself while the writer task is idle (or not
        running yet): pipes and sockets only."""
        if getattr(writer, "pollable", False):  # duck-typed writers of tests are not
            self._direct = writer.try_write

    def put(self, body: bytes) -> None:
        """Queue one JSON-RPC message body (or write it at once when nothing waits)."""
        if self._closed or self._write_now(body):
            return
        self._queue.append(body)
        self._wakeup.set()

    def _write_now(self, body: bytes) -> bool:
        """Write ``body`` right away when the queue is empty and the writer idle: a
        response then leaves in the turn of the loop that produced it, not the next."""
        if self._direct is None or self._queue or self._writing:
            return False
        frame = b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
        try:
            written = self._direct(frame)
        except OSError:
            return False  # queued instead: the writer meets the error and handles it
        if written < len(frame):
            self._queue.append(_Framed(frame[written:]))
            self._wakeup.set()
        self.sent_frames += 1
        return True

    def put_output(self, item: OutputItem) -> None:
        if self._closed:
            return
        queue = self._queue
        if queue:
            last = queue[-1]
            if isinstance(last, OutputItem) and last.merge(item):
                return
        elif not (isinstance(item, StreamItem) and self.coalesce_window > 0):
            n = self.seq.get(item.kernel_id, 0) + 1
            if self._write_now(render_output(item, n)):
                self.seq[item.kernel_id] = n
                return
        queue.append(item)
        self._wakeup.set()

    def close(self) -> None:
        """Stop accepting; the writer sends what is queued and returns."""
        self._closed = True
        self._wakeup.set()

    def _hold(self) -> float:
        """Seconds to keep the tail stream item open for more text (0: send it now)."""
        if self._closed or not self._queue or self.coalesce_window <= 0:
            return 0.0
        tail = self._queue[-1]
        if not isinstance(tail, StreamItem):
            return 0.0
        return max(0.0, tail.created + self.coalesce_window - time.monotonic())

    def _take_batch(self, keep: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        queue = self._queue
        seq = self.seq
        while len(queue) > keep and size < self.max_batch_bytes:
            item = queue.popleft()
            if isinstance(item, OutputItem):
                n = seq.get(item.kernel_id, 0) + 1
                seq[item.kernel_id] = n
                body = render_output(item, n)
            elif isinstance(item, _Framed):
                parts.append(item)
                size += len(item)
                continue
            else:
                body = item
            parts.append(b"Content-Length: %d\r\n\r\n" % len(body))
            parts.append(body)
            size += len(body)
            self.sent_frames += 1
        return b"".join(parts)

    async def run_writer(self, writer: FdWriter,
                         on_broken: Callable[[], None] | None = None) -> None:
        """Drain the queue into ``writer`` until closed and empty. A vanished reader
        (EPIPE) calls ``on_broken`` and ends the writer; what is queued is dropped, as
        nobody can read it."""
        self.write_directly(writer)
        while True:
            hold = self._hold()
            keep = 1 if hold else 0
            while len(self._queue) > keep:
                data = self._take_batch(keep)
                self._writing = True
                try:
                    await writer.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self._closed = True
                    self._direct = None
                    self._queue.clear()
                    self._flushed.set()
                    if on_broken is not None:
                        on_broken()
                    return
                finally:
                    self._writing = False
                hold = self._hold()
                keep = 1 if hold else 0
            if not self._queue:
                self._flushed.set()
                if self._closed:
                    return
            self._wakeup = asyncio.Event()
            with anyio.move_on_after(hold if hold else math.inf):
                await self._wakeup.wait()

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until everything queued so far has been written."""
        with anyio.move_on_after(timeout):
            while self._queue or self._writing:
                self._flushed = asyncio.Event()
                await self._flushed.wait()
