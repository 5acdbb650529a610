"""The message envelope: headers, parents, replies, lazy content."""

from __future__ import annotations

from datetime import datetime

import orjson

from kernelbridge.jupyter import PROTOCOL_VERSION, Message, new_header


def test_header_has_every_spec_field() -> None:
    header = new_header("kernel_info_request", "sess", "me")
    assert set(header) == {"msg_id", "session", "username", "date", "msg_type", "version"}
    assert header["version"] == PROTOCOL_VERSION == "5.5"
    assert datetime.fromisoformat(header["date"]).tzinfo is not None
    assert new_header("x", "s")["msg_id"] != header["msg_id"]


def test_reply_is_built_from_its_parent() -> None:
    request = Message.new("complete_request", {"code": "a", "cursor_pos": 1}, session="client",
                          channel="shell")
    reply = request.reply({"status": "ok", "matches": []})
    assert reply.msg_type == "complete_reply"
    assert reply.parent_header == request.header
    assert reply.parent_id == request.msg_id
    assert reply.header["session"] == "client"
    assert reply.channel == "shell"


def test_child_message_inherits_parent() -> None:
    parent = Message.new("execute_request", {"code": ""}, session="c")
    child = Message.new("status", {"execution_state": "busy"}, session="k", parent=parent,
                        channel="iopub")
    assert child.parent_id == parent.msg_id
    assert child.channel == "iopub"
    assert Message.new("status", {}, session="k").parent_id is None


def test_content_is_decoded_lazily_and_bytes_kept() -> None:
    raw = orjson.dumps({"name": "stdout", "text": "x"})
    msg = Message(new_header("stream", "s"), content_bytes=raw)
    assert msg.content_bytes is raw
    assert msg.content == {"name": "stdout", "text": "x"}


def test_content_bytes_encoded_on_demand() -> None:
    msg = Message.new("stream", {"name": "stderr", "text": "y"}, session="s")
    assert orjson.loads(msg.content_bytes) == {"name": "stderr", "text": "y"}


def test_to_dict_matches_jupyter_client_shape() -> None:
    msg = Message.new("status", {"execution_state": "idle"}, session="s")
    d = msg.to_dict()
    assert d["msg_type"] == "status" and d["msg_id"] == msg.msg_id
    assert set(d) == {"header", "msg_id", "msg_type", "parent_header", "metadata", "content",
                      "buffers"}
