"""The wire codec: Jupyter messages to and from zmq multipart frames.

``[identities..., b"<IDS|MSG>", signature, header, parent_header, metadata, content,
buffers...]`` with the signature an HMAC (hex digest) over the four JSON frames. This is the
hot path of the daemon: one HMAC, four orjson decodes and a few checks per message, no date
parsing (jupyter_client's Session spends ten times as long, mostly on dates).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Sequence

import orjson

from ._errors import InvalidMessage
from ._message import Message

DELIMITER = b"<IDS|MSG>"
_REQUIRED_HEADER_FIELDS = ("msg_id", "msg_type")


def _loads_object(frame: bytes, what: str) -> dict:
    try:
        value = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage("json", f"{what} is not JSON: {exc}") from None
    if type(value) is not dict:
        raise InvalidMessage("json", f"{what} is not a JSON object")
    return value


class WireCodec:
    """Signs, serializes and checks messages for one connection.

    ``key`` is the connection's shared secret; an empty key means unsigned messages (the
    signature frame is empty and not checked). ``signature_scheme`` is ``hmac-<name>`` for
    any hash in hashlib. Signed messages whose signature was already seen are refused as
    replays; the memory of signatures is bounded by ``replay_window``.
    """

    __slots__ = ("_mac", "_seen", "key", "replay_window", "signature_scheme")

    def __init__(
        self, key: bytes = b"", signature_scheme: str = "hmac-sha256", replay_window: int = 65536
    ) -> None:
        if not signature_scheme.startswith("hmac-"):
            raise ValueError(f"unsupported signature scheme {signature_scheme!r}")
        digest = signature_scheme.removeprefix("hmac-")
        try:
            hashlib.new(digest)
        except ValueError:
            raise ValueError(f"unsupported signature scheme {signature_scheme!r}") from None
        self.key = key
        self.signature_scheme = signature_scheme
        self.replay_window = replay_window
        # A keyed HMAC object copied per message: cheaper than keying a new one each time.
        self._mac = hmac.new(key, digestmod=digest) if key else None
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __repr__(self) -> str:
        # Never show the key.
        return f"<WireCodec {self.signature_scheme} {'signed' if self.key else 'unsigned'}>"

    def sign(self, frames: Sequence[bytes]) -> bytes:
        """The hex HMAC of the four JSON frames (empty when unsigned)."""
        if self._mac is None:
            return b""
        mac = self._mac.copy()
        for frame in frames:
            mac.update(frame)
        return mac.hexdigest().encode()

    def serialize(self, msg: Message) -> list[bytes]:
        """The frames to send ``msg``: identities, delimiter, signature, JSON, buffers."""
        parts = [
            orjson.dumps(msg.header),
            orjson.dumps(msg.parent_header),
            orjson.dumps(msg.metadata),
            msg.content_bytes,
        ]
        return [*msg.identities, DELIMITER, self.sign(parts), *parts, *msg.buffers]

    def deserialize(self, frames: list[bytes]) -> Message:
        """The message in ``frames``; raises InvalidMessage for anything not acceptable."""
        try:
            split = frames.index(DELIMITER)
        except ValueError:
            raise InvalidMessage("truncated", "no <IDS|MSG> delimiter") from None
        if len(frames) < split + 6:
            raise InvalidMessage("truncated", f"{len(frames) - split - 1} frames after delimiter")
        signature = frames[split + 1]
        header_b, parent_b, metadata_b, content_b = frames[split + 2 : split + 6]
        if self._mac is not None:
            if not signature:
                raise InvalidMessage("signature", "unsigned message on a signed connection")
            mac = self._mac.copy()
            mac.update(header_b)
            mac.update(parent_b)
            mac.update(metadata_b)
            mac.update(content_b)
            if not hmac.compare_digest(mac.hexdigest().encode(), signature):
                raise InvalidMessage("signature", "HMAC does not match")
            seen = self._seen
            if signature in seen:
                raise InvalidMessage("replay", "signature seen before")
            seen[signature] = None
            if len(seen) > self.replay_window:
                seen.popitem(last=False)
        header = _loads_object(header_b, "header")
        for field in _REQUIRED_HEADER_FIELDS:
            if type(header.get(field)) is not str:
                raise InvalidMessage("header", f"header field {field!r} missing or not a string")
        return Message._from_wire(
            header,
            _loads_object(parent_b, "parent header"),
            _loads_object(metadata_b, "metadata"),
            _loads_object(content_b, "content"),
            content_b,
            frames[split + 6 :],
            frames[:split],
        )
