"""What the daemon writes, checked from protocol.md §1 alone: :class:`StrictFrameReader`
splits its stdout into messages and :func:`check_message` checks each one, stricter than
a client needs to be and sharing no code with kernelbridge (not the client library's
decoder). Also the fuzzer's id keys, which keep an id's JSON type."""

from __future__ import annotations

import json
import re
from typing import Any

# What the daemon writes before each body: exactly this, nothing else (protocol.md §1).
_HEADER = re.compile(rb"Content-Length: (0|[1-9][0-9]{0,11})\r\n\r\n")


class WireViolation(AssertionError):
    """The daemon wrote something protocol.md does not allow."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


class StrictFrameReader:
    """Splits the daemon's stdout into messages and checks every one of them.

    A frame is ``Content-Length: <n>\\r\\n\\r\\n`` (the only header the daemon sends)
    followed by exactly ``n`` bytes of UTF-8 JSON: one object, no duplicate keys, no NaN,
    ``"jsonrpc": "2.0"``, and the shape of a response, a request or a notification.
    Decoded with the standard library's ``json``, independently of the daemon's orjson.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.bytes = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self._buf += chunk
        self.bytes += len(chunk)
        out = []
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > 64:
                    match = _HEADER.match(self._buf)
                    if match is None:
                        raise WireViolation(f"not a header: {bytes(self._buf[:80])!r}")
                return out
            match = _HEADER.match(self._buf)
            if match is None or match.end() != end + 4:
                raise WireViolation(f"bad header block: {bytes(self._buf[: end + 4])!r}")
            length = int(match.group(1))
            if len(self._buf) < end + 4 + length:
                return out
            body = bytes(self._buf[end + 4 : end + 4 + length])
            del self._buf[: end + 4 + length]
            self.frames += 1
            out.append(check_message(body))

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame (must be 0 when the daemon has exited)."""
        return len(self._buf)


def check_message(body: bytes) -> dict[str, Any]:
    """One body, decoded and checked (``WireViolation`` if it is not a valid message)."""
    try:
        text = body.decode("utf-8")
        message = json.loads(text, parse_constant=_reject_constant,
                             object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireViolation(f"body is not strict UTF-8 JSON ({exc}): {body[:200]!r}") from None
    if not isinstance(message, dict):
        raise WireViolation(f"body is not an object: {body[:200]!r}")
    if message.get("jsonrpc") != "2.0":
        raise WireViolation(f"jsonrpc is not '2.0': {body[:200]!r}")
    keys = set(message) - {"jsonrpc"}
    if "method" in keys:
        if not isinstance(message["method"], str):
            raise WireViolation(f"method is not a string: {body[:200]!r}")
        if "id" in keys and not valid_id(message["id"]):
            raise WireViolation(f"request with an invalid id: {body[:200]!r}")
        if keys - {"method", "id", "params"}:
            raise WireViolation(f"unexpected keys in a request/notification: {body[:200]!r}")
        if "params" in message and not isinstance(message["params"], dict | list):
            raise WireViolation(f"params is not structured: {body[:200]!r}")
        return message
    # A response: id, and exactly one of result and error.
    if "id" not in keys or len(keys & {"result", "error"}) != 1 or keys - {"id", "result",
                                                                            "error"}:
        raise WireViolation(f"neither a response nor a request: {body[:200]!r}")
    if message["id"] is not None and not valid_id(message["id"]):
        raise WireViolation(f"response with an invalid id: {body[:200]!r}")
    if "error" in message:
        error = message["error"]
        if (not isinstance(error, dict) or set(error) - {"code", "message", "data"}
                or type(error.get("code")) is not int
                or not isinstance(error.get("message"), str)):
            raise WireViolation(f"malformed error object: {body[:200]!r}")
    elif message["id"] is None:
        raise WireViolation(f"a result with id null: {body[:200]!r}")
    return message


# -- ids ----------------------------------------------------------------------------------

IdKey = tuple[str, int | str]


def valid_id(value: Any) -> bool:
    """protocol.md §1.1 rule 4: an id is a JSON integer or a string."""
    return (type(value) is int) or isinstance(value, str)


def id_key(value: Any) -> IdKey:
    """A dict key that keeps the JSON type of an id (1, 1.0, True and "1" all differ)."""
    assert valid_id(value), value
    return ("s", value) if isinstance(value, str) else ("i", value)


__all__ = ["IdKey", "StrictFrameReader", "WireViolation", "check_message", "id_key",
           "valid_id"]
