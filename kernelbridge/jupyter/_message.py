"""The Jupyter message envelope: header, parent header, metadata, content, buffers.

The envelope keeps the raw JSON of its content next to the decoded dict, so that output can
be forwarded to an editor without encoding it again. The typed view of the content
(``kernelbridge.jupyter._content``) is built only when asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

import orjson

if TYPE_CHECKING:
    from ._content import Content

PROTOCOL_VERSION = "5.5"


class Header(TypedDict):
    """A message header, as the spec names its fields."""

    msg_id: str
    session: str
    username: str
    date: str
    msg_type: str
    version: str


def new_id() -> str:
    """A fresh message or session id: a UUID4 in hex, as jupyter_client makes them, built
    from ``os.urandom`` directly (``uuid.uuid4().hex`` costs 5x more, on every request)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def new_header(msg_type: str, session: str, username: str = "kernelbridge") -> Header:
    """A header for a new message of ``msg_type`` sent by ``session``."""
    return {
        "msg_id": new_id(),
        "session": session,
        "username": username,
        "date": datetime.now(UTC).isoformat(),
        "msg_type": msg_type,
        "version": PROTOCOL_VERSION,
    }


class Message:
    """One Jupyter message.

    ``header`` and ``parent_header`` are plain dicts (``Header`` shaped; the parent is empty
    for messages without one). ``content`` is the decoded content dict; ``content_bytes``
    its JSON, exactly as received when the message came off the wire. ``channel`` names the
    channel it came from or goes to, when known. ``identities`` are the zmq routing frames.
    """

    __slots__ = (
        "_content",
        "_content_bytes",
        "buffers",
        "channel",
        "header",
        "identities",
        "metadata",
        "parent_header",
    )

    def __init__(
        self,
        header: Mapping[str, Any],
        content: Mapping[str, Any] | None = None,
        *,
        parent_header: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        buffers: Sequence[bytes] = (),
        channel: str = "",
        identities: Sequence[bytes] = (),
        content_bytes: bytes | None = None,
    ) -> None:
        self.header: dict[str, Any] = dict(header)
        self.parent_header: dict[str, Any] = dict(parent_header or {})
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._content: dict[str, Any] | None = dict(content) if content is not None else None
        self._content_bytes = content_bytes
        if self._content is None and content_bytes is None:
            self._content = {}
        self.buffers: list[bytes] = list(buffers)
        self.channel = channel
        self.identities: list[bytes] = list(identities)

    @classmethod
    def _from_wire(
        cls,
        header: dict[str, Any],
        parent_header: dict[str, Any],
        metadata: dict[str, Any],
        content: dict[str, Any],
        content_bytes: bytes,
        buffers: list[bytes],
        identities: list[bytes],
    ) -> Message:
        # The codec has validated and decoded everything: skip __init__'s copies.
        msg = cls.__new__(cls)
        msg.header = header
        msg.parent_header = parent_header
        msg.metadata = metadata
        msg._content = content
        msg._content_bytes = content_bytes
        msg.buffers = buffers
        msg.identities = identities
        msg.channel = ""
        return msg

    # -- building ------------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        msg_type: str,
        content: Mapping[str, Any] | None = None,
        *,
        session: str,
        username: str = "kernelbridge",
        parent: Message | None = None,
        metadata: Mapping[str, Any] | None = None,
        buffers: Sequence[bytes] = (),
        channel: str = "",
    ) -> Message:
        """A new message; with ``parent``, a reply or child of it (its header becomes our
        parent header, and its channel is inherited unless one is given)."""
        return cls(
            new_header(msg_type, session, username),
            content if content is not None else {},
            parent_header=parent.header if parent is not None else None,
            metadata=metadata,
            buffers=buffers,
            channel=channel or (parent.channel if parent is not None else ""),
        )

    @classmethod
    def from_content(
        cls,
        content: Content,
        *,
        session: str,
        username: str = "kernelbridge",
        parent: Message | None = None,
        metadata: Mapping[str, Any] | None = None,
        buffers: Sequence[bytes] = (),
    ) -> Message:
        """A new message from a typed content object; its msg_type and channel are the
        content class's."""
        return cls.new(
            content.msg_type,
            content.to_dict(),
            session=session,
            username=username,
            parent=parent,
            metadata=metadata,
            buffers=buffers,
            channel=content.channel,
        )

    def reply(self, content: Content | Mapping[str, Any], *, msg_type: str = "") -> Message:
        """A reply to this message, from the same session as this message's header names
        (what a kernel does). ``msg_type`` defaults to ours with ``_request`` → ``_reply``."""
        if not isinstance(content, Mapping):
            msg_type = msg_type or content.msg_type
            content = content.to_dict()
        if not msg_type:
            msg_type = self.msg_type.removesuffix("_request") + "_reply"
        return Message.new(
            msg_type,
            content,
            session=self.header.get("session", ""),
            username=self.header.get("username", "kernel"),
            parent=self,
        )

    # -- reading -------------------------------------------------------------------------

    @property
    def msg_type(self) -> str:
        return self.header["msg_type"]

    @property
    def msg_id(self) -> str:
        return self.header["msg_id"]

    @property
    def parent_id(self) -> str | None:
        """The msg_id of the message this one answers, or None."""
        return self.parent_header.get("msg_id")

    @property
    def content(self) -> dict[str, Any]:
        if self._content is None:
            self._content = orjson.loads(self._content_bytes)  # type: ignore[arg-type]
        return self._content

    @property
    def content_bytes(self) -> bytes:
        """The content as JSON: the bytes the kernel sent, or a fresh encoding."""
        if self._content_bytes is None:
            self._content_bytes = orjson.dumps(self._content)
        return self._content_bytes

    def typed(self) -> Content:
        """The content as its typed class (``UnknownContent`` for unknown types).

        Raises ValueError when the content lacks a field its type requires."""
        from ._content import parse_content

        return parse_content(self.msg_type, self.content)

    def to_dict(self) -> dict[str, Any]:
        """The message as jupyter_client represents it (without identities)."""
        return {
            "header": self.header,
            "msg_id": self.msg_id,
            "msg_type": self.msg_type,
            "parent_header": self.parent_header,
            "metadata": self.metadata,
            "content": self.content,
            "buffers": self.buffers,
        }

    def __repr__(self) -> str:
        parent = self.parent_id
        where = f" on {self.channel}" if self.channel else ""
        parent_part = f" parent={parent[:8]}" if parent else ""
        return f"<Message {self.msg_type} id={self.msg_id[:8]}{parent_part}{where}>"
