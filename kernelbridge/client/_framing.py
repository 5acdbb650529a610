"""LSP base framing: ``Content-Length: N\\r\\n\\r\\n`` followed by N bytes of JSON.

The decoder is on the client's hot path (kernel output floods arrive as thousands of small
notifications per second), so it works on whole chunks: one ``bytes.find`` per frame for
the end of the header, ``int()`` on the length, one ``orjson.loads`` per body. No per-byte
loop, no regular expression, no copy of a big body while it is still arriving (its total
length is known once the header is parsed, so later chunks are only appended and counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ._errors import ProtocolError

__all__ = ["MAX_HEADER_BYTES", "FrameDecoder", "encode_message"]

#: A header block longer than this without its blank line is not LSP framing.
MAX_HEADER_BYTES = 8192

_SEPARATOR = b"\r\n\r\n"
_FAST_PREFIX = b"Content-Length: "
_FAST_PREFIX_LEN = len(_FAST_PREFIX)


def encode_message(message: Any) -> bytes:
    """One frame: the header and the orjson-encoded body. Raises ``TypeError`` for values
    orjson cannot encode, before anything is sent."""
    body = orjson.dumps(message)
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def _snippet(data: bytes | bytearray, start: int, size: int = 80) -> str:
    return repr(bytes(data[start : start + size]))


class FrameDecoder:
    """Turns a byte stream, fed in arbitrary chunks, into decoded JSON-RPC messages.

    ``feed`` returns the messages completed by a chunk, in order. Malformed input does not
    raise out of ``feed``: it returns the messages decoded before the bad frame and sets
    :attr:`error` (a :class:`ProtocolError`), because the reader must still deliver what
    came first. After an error the decoder is dead: further input is ignored.
    """

    __slots__ = ("_buf", "_need", "error")

    def __init__(self) -> None:
        # Unconsumed bytes: the start of a frame whose end has not arrived yet.
        self._buf = bytearray()
        # Total bytes of the pending frame (header + body), once its header is parsed;
        # lets a huge body be accumulated without re-scanning the header per chunk.
        self._need = 0
        self.error: ProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame held back (non-zero at EOF: the peer stopped
        in the middle of a message)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Any]:
        """Decode every frame completed by ``data`` and return the messages, in order;
        see the class docstring for errors."""
        out: list[Any] = []
        self.feed_into(data, out.append)
        return out

    def feed_into(self, data: bytes, emit: Callable[[Any], object]) -> None:
        """Like :meth:`feed`, but hand each message to ``emit`` as soon as it is decoded.

        The reader's form: a message is dispatched (and usually dropped) before the next
        one is parsed, instead of thousands of them being kept alive in a list, which
        costs garbage-collector passes. ``emit`` must not raise.
        """
        if self.error is not None:
            return
        buf: bytes | bytearray
        if self._buf:
            self._buf += data
            if self._need and len(self._buf) < self._need:
                return
            buf = self._buf
        else:
            buf = data
        pos = self._decode(buf, emit)
        if buf is self._buf:
            del self._buf[:pos]
        elif pos < len(buf):
            self._buf += memoryview(buf)[pos:]

    def _decode(self, buf: bytes | bytearray, emit: Callable[[Any], object]) -> int:
        """Decode frames from the start of ``buf``, emitting each; return the offset of
        the first byte not consumed."""
        find = buf.find
        loads = orjson.loads
        size = len(buf)
        pos = 0
        self._need = 0
        while pos < size:
            end = find(_SEPARATOR, pos)
            if end < 0:
                if size - pos > MAX_HEADER_BYTES:
                    what = f"no end of header in the first {MAX_HEADER_BYTES} bytes"
                    self._fail(what, buf, pos)
                    return size
                return pos
            # Fast path: the single header every LSP peer sends. int() refuses anything
            # but digits and surrounding whitespace, so a second header line lands in the
            # general parser.
            if buf.startswith(_FAST_PREFIX, pos):
                try:
                    length = int(buf[pos + _FAST_PREFIX_LEN : end])
                except ValueError:
                    length = -1  # (not contextlib.suppress: this runs once per frame)
            else:
                length = -1
            if length < 0:
                length = self._parse_header(buf, pos, end)
                if length < 0:
                    return size
            start = end + 4
            stop = start + length
            if stop > size:
                self._need = stop - pos
                return pos
            try:
                message = loads(buf[start:stop])
            except orjson.JSONDecodeError as exc:
                self._fail(f"body is not JSON ({exc})", buf, start)
                return size
            if type(message) is not dict:
                self._fail("body is not a JSON object", buf, start)
                return size
            emit(message)
            pos = stop
        return pos

    def _parse_header(self, buf: bytes | bytearray, pos: int, end: int) -> int:
        """The general header parser (several headers, any case, extra spaces): the
        Content-Length, or -1 with :attr:`error` set."""
        if end - pos > MAX_HEADER_BYTES:
            self._fail(f"no end of header in the first {MAX_HEADER_BYTES} bytes", buf, pos)
            return -1
        length = -1
        for line in bytes(buf[pos:end]).split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not name.strip():
                self._fail("header line without a name", buf, pos)
                return -1
            if name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = -1
                if length < 0:
                    self._fail("bad Content-Length", buf, pos)
                    return -1
        if length < 0:
            self._fail("header without Content-Length", buf, pos)
        return length

    def _fail(self, what: str, buf: bytes | bytearray, pos: int) -> None:
        self.error = ProtocolError(f"malformed frame from the peer: {what}: {_snippet(buf, pos)}")
        self._buf = bytearray()
        self._need = 0
