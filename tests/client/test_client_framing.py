"""The frame decoder: any chunking of a stream decodes the same, and bad framing is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelbridge.client import FrameDecoder, ProtocolError, encode_message
from kernelbridge.client._framing import MAX_HEADER_BYTES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
messages = st.dictionaries(st.text(max_size=10), json_values, max_size=4)

# Header spellings a peer may send: the decoder's fast path and its general parser.
HEADERS = [
    b"Content-Length: %d\r\n\r\n",
    b"content-length: %d\r\n\r\n",
    b"Content-Length:%d\r\n\r\n",
    b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
    b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nCONTENT-LENGTH:  %d \r\n\r\n",
]


def frame(message: Any, header: bytes = HEADERS[0]) -> bytes:
    # json, not orjson: built independently of the encoder under test (non-ASCII text is
    # sent as UTF-8, so Content-Length counts bytes, not characters).
    body = json.dumps(message, ensure_ascii=False).encode()
    return header % len(body) + body


def decode_in_chunks(data: bytes, cuts: list[int]) -> list[Any]:
    decoder = FrameDecoder()
    out: list[Any] = []
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        out.extend(decoder.feed(data[previous:cut]))
        previous = cut
    assert decoder.error is None
    assert decoder.buffered == 0
    return out


@settings(max_examples=200, deadline=None)
@given(
    msgs=st.lists(messages, max_size=8),
    headers=st.lists(st.sampled_from(HEADERS), min_size=8, max_size=8),
    data=st.data(),
)
def test_any_chunking_decodes_to_the_same_messages(
    msgs: list[dict[str, Any]], headers: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(frame(m, h) for m, h in zip(msgs, headers, strict=False))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    assert decode_in_chunks(stream, cuts) == msgs


def test_one_byte_at_a_time() -> None:
    msgs = [{"id": i, "text": "é" * i} for i in range(20)]
    stream = b"".join(frame(m) for m in msgs)
    assert decode_in_chunks(stream, list(range(len(stream)))) == msgs


def test_a_big_body_arriving_in_many_chunks() -> None:
    msg = {"method": "kernelbridge/output", "params": {"text": "x" * 5_000_000}}
    stream = frame(msg) + frame({"after": True})
    cuts = list(range(0, len(stream), 65536))
    assert decode_in_chunks(stream, cuts) == [msg, {"after": True}]


def test_encode_message_round_trips() -> None:
    msg = {"jsonrpc": "2.0", "id": 1, "method": "m", "params": {"text": "ü\n\x00"}}
    data = encode_message(msg)
    assert data.startswith(b"Content-Length: ")
    assert FrameDecoder().feed(data) == [msg]


def test_encode_message_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        encode_message({"value": object()})


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b"Content-Length: abc\r\n\r\n{}", "Content-Length"),
        (b"Content-Length: -2\r\n\r\n{}", "Content-Length"),
        (b"Content-Type: x\r\n\r\n{}", "without Content-Length"),
        (b"hello from a kernel\nContent-Length: 2\r\n\r\n{}", "hello from a kernel"),
        (b"Content-Length: 5\r\n\r\n[1,2]", "not a JSON object"),
        (b"Content-Length: 5\r\n\r\n{1:2}", "not JSON"),
        (b"Content-Length: 0\r\n\r\n", "not JSON"),
        (b"x" * (MAX_HEADER_BYTES + 1), "end of header"),
    ],
)
def test_malformed_framing_is_refused_after_delivering_what_came_first(
    bad: bytes, why: str
) -> None:
    decoder = FrameDecoder()
    good = frame({"id": 1})
    assert decoder.feed(good + bad + good) == [{"id": 1}]
    assert isinstance(decoder.error, ProtocolError)
    assert why in str(decoder.error)
    # Dead after an error: the stream cannot be resynchronised.
    assert decoder.feed(good) == []


def test_feed_into_emits_in_order() -> None:
    seen: list[Any] = []
    decoder = FrameDecoder()
    decoder.feed_into(frame({"a": 1}) + frame({"b": 2}) + frame({"c": 3})[:5], seen.append)
    assert seen == [{"a": 1}, {"b": 2}]
    assert decoder.buffered == 5
