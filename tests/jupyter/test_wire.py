"""The wire codec: round trips, signatures, and everything it must refuse."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelbridge.jupyter import DELIMITER, InvalidMessage, Message, WireCodec

KEY = b"0123456789abcdef0123456789abcdef"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
contents = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


def sample(content: dict | None = None, **kwargs) -> Message:
    parent = Message.new("execute_request", {"code": "1"}, session="client")
    return Message.new(
        "stream", {"name": "stdout", "text": "hi\n"} if content is None else content,
        session="kernel",
        parent=parent, **kwargs,
    )


def test_frames_have_the_spec_layout() -> None:
    msg = sample(metadata={"a": 1}, buffers=[b"\x00\x01"])
    msg.identities = [b"id1"]
    frames = WireCodec(KEY).serialize(msg)
    assert frames[0] == b"id1"
    assert frames[1] == DELIMITER
    expected = hmac.new(KEY, b"".join(frames[3:7]), hashlib.sha256).hexdigest().encode()
    assert frames[2] == expected
    assert orjson.loads(frames[3])["msg_type"] == "stream"
    assert orjson.loads(frames[4])["msg_type"] == "execute_request"
    assert orjson.loads(frames[5]) == {"a": 1}
    assert frames[7] == b"\x00\x01"


@pytest.mark.parametrize("scheme", ["hmac-sha256", "hmac-sha512", "hmac-md5", "hmac-sha1"])
def test_any_hashlib_scheme_round_trips(scheme: str) -> None:
    codec = WireCodec(KEY, scheme)
    msg = sample()
    back = codec.deserialize(codec.serialize(msg))
    assert back.header == msg.header
    assert back.content == msg.content
    digest = scheme.removeprefix("hmac-")
    assert len(codec.serialize(msg)[1]) == 2 * hashlib.new(digest).digest_size


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="hmac-nope"):
        WireCodec(KEY, "hmac-nope")
    with pytest.raises(ValueError):
        WireCodec(KEY, "rsa-sha256")


def test_unsigned_connection_sends_empty_signature_and_accepts_any() -> None:
    codec = WireCodec(b"")
    frames = codec.serialize(sample())
    assert frames[1] == b""
    frames[1] = b"whatever"
    assert codec.deserialize(frames).msg_type == "stream"


def test_content_bytes_are_kept_raw() -> None:
    codec = WireCodec(KEY)
    frames = codec.serialize(sample({"name": "stdout", "text": "é\n"}))
    back = codec.deserialize(frames)
    assert back.content_bytes is frames[5]


@settings(max_examples=200, deadline=None)
@given(content=contents, metadata=contents, buffers=st.lists(st.binary(max_size=16), max_size=3),
       idents=st.lists(st.binary(min_size=1, max_size=8).filter(lambda b: b != DELIMITER),
                       max_size=2))
def test_round_trip(
    content: dict, metadata: dict, buffers: list[bytes], idents: list[bytes]
) -> None:
    codec = WireCodec(KEY)
    msg = sample(content, metadata=metadata, buffers=buffers)
    msg.identities = idents
    back = WireCodec(KEY).deserialize(codec.serialize(msg))
    assert back.header == msg.header
    assert back.parent_header == msg.parent_header
    assert back.metadata == metadata
    assert back.content == content
    assert back.buffers == buffers
    assert back.identities == idents


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_every_single_byte_tamper_is_rejected(data: st.DataObject) -> None:
    codec = WireCodec(KEY)
    frames = codec.serialize(sample({"name": "stdout", "text": data.draw(st.text(max_size=30))}))
    # Tamper with the signature or any of the four signed frames.
    index = data.draw(st.integers(2, 5))
    frame = bytearray(frames[index])
    pos = data.draw(st.integers(0, len(frame) - 1))
    delta = data.draw(st.integers(1, 255))
    frame[pos] = (frame[pos] + delta) % 256
    frames[index] = bytes(frame)
    with pytest.raises(InvalidMessage) as err:
        WireCodec(KEY).deserialize(frames)
    assert err.value.reason == "signature"


def test_wrong_key_is_rejected() -> None:
    frames = WireCodec(b"another key").serialize(sample())
    with pytest.raises(InvalidMessage, match="signature"):
        WireCodec(KEY).deserialize(frames)


def test_unsigned_message_on_signed_connection_is_rejected() -> None:
    frames = WireCodec(b"").serialize(sample())
    with pytest.raises(InvalidMessage) as err:
        WireCodec(KEY).deserialize(frames)
    assert err.value.reason == "signature"


def test_replay_is_rejected() -> None:
    frames = WireCodec(KEY).serialize(sample())
    codec = WireCodec(KEY)
    codec.deserialize(list(frames))
    with pytest.raises(InvalidMessage) as err:
        codec.deserialize(list(frames))
    assert err.value.reason == "replay"


def test_replay_memory_is_bounded() -> None:
    codec = WireCodec(KEY, replay_window=4)
    for _ in range(10):
        codec.deserialize(WireCodec(KEY).serialize(sample()))
    assert len(codec._seen) == 4


@pytest.mark.parametrize("keep", [0, 1, 2, 3, 4, 5])
def test_truncated_message_is_rejected(keep: int) -> None:
    frames = WireCodec(KEY).serialize(sample())
    # keep=0: everything but the delimiter; else only the first `keep` frames.
    with pytest.raises(InvalidMessage) as err:
        WireCodec(KEY).deserialize(frames[:keep] if keep else frames[1:])
    assert err.value.reason == "truncated"


def signed(frames: list[bytes]) -> list[bytes]:
    frames[1] = WireCodec(KEY).sign(frames[2:6])
    return frames


@pytest.mark.parametrize("index,payload,reason", [
    (2, b"not json", "json"),
    (2, b"[1, 2]", "json"),
    (3, b"\xff\xfe", "json"),
    (5, b"{", "json"),
    (2, b'{"msg_id": "x"}', "header"),
    (2, b'{"msg_id": 1, "msg_type": "stream"}', "header"),
])
def test_signed_garbage_is_rejected(index: int, payload: bytes, reason: str) -> None:
    frames = WireCodec(KEY).serialize(sample())
    frames[index] = payload
    with pytest.raises(InvalidMessage) as err:
        WireCodec(KEY).deserialize(signed(frames))
    assert err.value.reason == reason


def test_key_never_in_repr() -> None:
    assert KEY.decode() not in repr(WireCodec(KEY))
