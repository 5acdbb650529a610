"""The typed message contents: registry, round trips, tolerance and strictness."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernelbridge.jupyter import _content
from kernelbridge.jupyter._content import (
    CONTENT_TYPES,
    CommOpen,
    CompleteReply,
    Content,
    DisplayData,
    ExecuteReply,
    ExecuteRequest,
    HistoryRequest,
    IsCompleteReply,
    KernelInfoReply,
    ReplyContent,
    RequestContent,
    ShutdownRequest,
    Stream,
    UnknownContent,
    parse_content,
)

TRACEBACK = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
]
SUBSHELL = "3ee6a787-d9e4-4c60-9763-bdad49df6cef"
COMM = "4f1c6c1a5c2e4c0e9a0b7c2d1e3f4a5b"

# One realistic content per msg_type, after the spec and what ipykernel 7 sends.
EXAMPLES: dict[str, dict[str, Any]] = {
    "execute_request": {
        "code": "print('hi')",
        "silent": False,
        "store_history": True,
        "user_expressions": {"a": "1+2"},
        "allow_stdin": True,
        "stop_on_error": True,
    },
    "execute_reply": {
        "status": "ok",
        "execution_count": 1,
        "user_expressions": {
            "a": {"status": "ok", "data": {"text/plain": "3"}, "metadata": {}},
        },
        "payload": [],
    },
    "inspect_request": {"code": "print", "cursor_pos": 5, "detail_level": 0},
    "inspect_reply": {
        "status": "ok",
        "found": True,
        "data": {"text/plain": "Docstring: Prints the values to a stream."},
        "metadata": {},
    },
    "complete_request": {"code": "import o", "cursor_pos": 8},
    "complete_reply": {
        "status": "ok",
        "matches": ["opcode", "operator", "os"],
        "cursor_start": 7,
        "cursor_end": 8,
        "metadata": {
            "_jupyter_types_experimental": [
                {"start": 7, "end": 8, "text": "os", "type": "module", "signature": ""},
            ],
        },
    },
    "history_request": {
        "output": False,
        "raw": True,
        "hist_access_type": "search",
        "n": 10,
        "pattern": "import *",
        "unique": True,
    },
    "history_reply": {"status": "ok", "history": [[7, 1, ["1+1", "2"]], [7, 2, ["1/0", None]]]},
    "is_complete_request": {"code": "for i in range(3):"},
    "is_complete_reply": {"status": "incomplete", "indent": "    "},
    "connect_request": {},
    "connect_reply": {
        "status": "ok",
        "shell_port": 38229,
        "iopub_port": 36143,
        "stdin_port": 47123,
        "hb_port": 42731,
        "control_port": 47925,
    },
    "comm_info_request": {"target_name": "jupyter.widget"},
    "comm_info_reply": {"status": "ok", "comms": {COMM: {"target_name": "jupyter.widget"}}},
    "kernel_info_request": {},
    "kernel_info_reply": {
        "status": "ok",
        "protocol_version": "5.3",
        "implementation": "ipython",
        "implementation_version": "9.18.1",
        "language_info": {
            "name": "python",
            "version": "3.11.7",
            "mimetype": "text/x-python",
            "codemirror_mode": {"name": "ipython", "version": 3},
            "pygments_lexer": "ipython3",
            "nbconvert_exporter": "python",
            "file_extension": ".py",
        },
        "banner": "Python 3.11.7\nIPython 9.18.1 -- An enhanced Interactive Python.\n",
        "debugger": True,
        "help_links": [{"text": "Python Reference", "url": "https://docs.python.org/3.11"}],
        "supported_features": ["kernel subshells", "debugger"],
    },
    "shutdown_request": {"restart": False},
    "shutdown_reply": {"status": "ok", "restart": False},
    "interrupt_request": {},
    "interrupt_reply": {"status": "ok"},
    "debug_request": {"seq": 1, "type": "request", "command": "debugInfo", "arguments": {}},
    "debug_reply": {
        "seq": 2,
        "type": "response",
        "request_seq": 1,
        "success": True,
        "command": "debugInfo",
        "body": {"isStarted": False, "hashMethod": "Murmur2", "breakpoints": []},
    },
    "create_subshell_request": {},
    "create_subshell_reply": {"status": "ok", "subshell_id": SUBSHELL},
    "delete_subshell_request": {"subshell_id": SUBSHELL},
    "delete_subshell_reply": {"status": "ok"},
    "list_subshell_request": {},
    "list_subshell_reply": {"status": "ok", "subshell_id": [SUBSHELL]},
    "stream": {"name": "stdout", "text": "hi\n"},
    "display_data": {
        "data": {"text/plain": "<IPython.core.display.HTML object>", "text/html": "<b>x</b>"},
        "metadata": {"image/png": {"width": 640, "height": 480}},
        "transient": {"display_id": "7a0c840054c0221c62825bf0235b7de4"},
    },
    "update_display_data": {
        "data": {"text/plain": "<IPython.core.display.HTML object>", "text/html": "<i>y</i>"},
        "metadata": {},
        "transient": {"display_id": "7a0c840054c0221c62825bf0235b7de4"},
    },
    "execute_input": {"code": "1+1", "execution_count": 1},
    "execute_result": {"execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}},
    "error": {"ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": TRACEBACK},
    "status": {"execution_state": "busy"},
    "clear_output": {"wait": True},
    "debug_event": {
        "seq": 3,
        "type": "event",
        "event": "stopped",
        "body": {"reason": "breakpoint", "threadId": 1},
    },
    "comm_open": {
        "comm_id": COMM,
        "target_name": "jupyter.widget",
        "data": {"state": {"_model_name": "IntSliderModel", "value": 3}, "buffer_paths": []},
    },
    "comm_msg": {"comm_id": COMM, "data": {"method": "update", "state": {"value": 4}}},
    "comm_close": {"comm_id": COMM, "data": {}},
    "iopub_welcome": {"subscription": ""},
    "input_request": {"prompt": "name? ", "password": False},
    "input_reply": {"value": "bob"},
}

CHANNELS = {
    "shell": [
        "execute_request", "execute_reply", "inspect_request", "inspect_reply",
        "complete_request", "complete_reply", "history_request", "history_reply",
        "is_complete_request", "is_complete_reply", "connect_request", "connect_reply",
        "comm_info_request", "comm_info_reply", "kernel_info_request", "kernel_info_reply",
    ],
    "control": [
        "shutdown_request", "shutdown_reply", "interrupt_request", "interrupt_reply",
        "debug_request", "debug_reply", "create_subshell_request", "create_subshell_reply",
        "delete_subshell_request", "delete_subshell_reply", "list_subshell_request",
        "list_subshell_reply",
    ],
    "iopub": [
        "stream", "display_data", "update_display_data", "execute_input", "execute_result",
        "error", "status", "clear_output", "debug_event", "comm_open", "comm_msg",
        "comm_close", "iopub_welcome",
    ],
    "stdin": ["input_request", "input_reply"],
}  # fmt: skip
ALL_TYPES = {msg_type for names in CHANNELS.values() for msg_type in names}

# The fields the spec makes required (for replies: required when status is "ok").
REQUIRED: dict[str, set[str]] = {
    "execute_request": {"code"},
    "execute_reply": {"execution_count"},
    "inspect_request": {"code", "cursor_pos"},
    "inspect_reply": {"found", "data"},
    "complete_request": {"code", "cursor_pos"},
    "complete_reply": {"matches", "cursor_start", "cursor_end"},
    "history_reply": {"history"},
    "is_complete_request": {"code"},
    "comm_info_reply": {"comms"},
    "kernel_info_reply": {"protocol_version", "language_info"},
    "debug_request": {"seq", "command"},
    "create_subshell_reply": {"subshell_id"},
    "delete_subshell_request": {"subshell_id"},
    "list_subshell_reply": {"subshell_id"},
    "stream": {"name", "text"},
    "display_data": {"data"},
    "update_display_data": {"data", "transient"},
    "execute_input": {"code", "execution_count"},
    "execute_result": {"execution_count", "data"},
    "error": {"ename", "evalue", "traceback"},
    "status": {"execution_state"},
    "debug_event": {"event"},
    "comm_open": {"comm_id", "target_name"},
    "comm_msg": {"comm_id"},
    "comm_close": {"comm_id"},
    "input_reply": {"value"},
}

ALL = sorted(ALL_TYPES)
REQUIRED_CASES = sorted((t, f) for t, names in REQUIRED.items() for f in names)
OPTIONAL_CASES = sorted(
    (t, f) for t, example in EXAMPLES.items() for f in example if f not in REQUIRED.get(t, ())
)
REPLY_TYPES = sorted(t for t, cls in CONTENT_TYPES.items() if issubclass(cls, ReplyContent))


# -- registry -------------------------------------------------------------------------------


def test_registry_holds_exactly_the_spec_types() -> None:
    assert set(CONTENT_TYPES) == ALL_TYPES
    assert len(ALL_TYPES) == 43
    assert set(EXAMPLES) == ALL_TYPES


@pytest.mark.parametrize("msg_type", ALL)
def test_registered_class_names_its_msg_type_and_channel(msg_type: str) -> None:
    cls = CONTENT_TYPES[msg_type]
    assert issubclass(cls, Content)
    assert cls.msg_type == msg_type
    assert msg_type in CHANNELS[cls.channel]


def test_every_request_names_its_registered_reply() -> None:
    requests = {t: c for t, c in CONTENT_TYPES.items() if t.endswith("_request")}
    assert len(requests) == 15
    for msg_type, cls in requests.items():
        assert issubclass(cls, RequestContent), msg_type
        reply = cls.reply_type
        assert reply.msg_type == msg_type.removesuffix("_request") + "_reply"
        assert CONTENT_TYPES[reply.msg_type] is reply
        assert reply.channel == cls.channel
    others = {t for t, c in CONTENT_TYPES.items() if issubclass(c, RequestContent)}
    assert others == set(requests)


def test_replies_without_the_status_vocabulary_are_not_reply_content() -> None:
    # is_complete, debug and input replies have no ok/error/aborted status.
    replies = {t for t in CONTENT_TYPES if t.endswith("_reply")}
    assert replies - set(REPLY_TYPES) == {"is_complete_reply", "debug_reply", "input_reply"}


def test_module_is_data_only() -> None:
    tree = ast.parse(Path(_content.__file__).read_text())
    imported = {
        ((node.module or "") if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections", "dataclasses", "functools", "types", "typing"}


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", ALL)
def test_example_round_trips(msg_type: str) -> None:
    example = EXAMPLES[msg_type]
    original = copy.deepcopy(example)
    content = parse_content(msg_type, example)
    assert type(content) is CONTENT_TYPES[msg_type]
    assert content.extra == {}
    assert content.to_dict() == original
    assert json.loads(json.dumps(content.to_dict())) == original
    assert type(content).from_dict(content.to_dict()) == content
    assert example == original  # parsing leaves its input alone


@pytest.mark.parametrize("msg_type", ALL)
def test_extra_fields_are_preserved(msg_type: str) -> None:
    extended = {**EXAMPLES[msg_type], "x_vendor": {"trace": [1, 2]}, "engine_info": None}
    content = parse_content(msg_type, extended)
    assert content.extra == {"x_vendor": {"trace": [1, 2]}, "engine_info": None}
    assert content.to_dict() == extended


def test_typed_fields_are_read() -> None:
    reply = parse_content("complete_reply", EXAMPLES["complete_reply"])
    assert isinstance(reply, CompleteReply)
    assert reply.status == "ok"
    assert reply.matches == ["opcode", "operator", "os"]
    assert (reply.cursor_start, reply.cursor_end) == (7, 8)
    info = parse_content("kernel_info_reply", EXAMPLES["kernel_info_reply"])
    assert isinstance(info, KernelInfoReply)
    assert info.language_info is not None
    assert info.language_info["name"] == "python"
    assert info.supported_features == ["kernel subshells", "debugger"]


def test_ipykernel_error_reply_round_trips_with_its_extras() -> None:
    # What ipykernel 7 sends for `1/0`: error fields plus the ok-shaped ones and engine_info.
    raw: dict[str, Any] = {
        "status": "error",
        "traceback": TRACEBACK,
        "ename": "ZeroDivisionError",
        "evalue": "division by zero",
        "engine_info": {"engine_uuid": "e0cad091", "engine_id": -1, "method": "execute"},
        "execution_count": 2,
        "user_expressions": {},
        "payload": [],
    }
    reply = parse_content("execute_reply", raw)
    assert isinstance(reply, ExecuteReply)
    assert (reply.status, reply.ename, reply.execution_count) == ("error", "ZeroDivisionError", 2)
    assert reply.traceback == TRACEBACK
    assert reply.extra == {"engine_info": raw["engine_info"]}
    assert reply.to_dict() == raw


def test_explicit_null_in_an_optional_field_round_trips() -> None:
    # ipykernel's comm_open carries "target_module": null.
    raw = {"comm_id": COMM, "target_name": "jupyter.widget", "data": {}, "target_module": None}
    content = parse_content("comm_open", raw)
    assert isinstance(content, CommOpen)
    assert content.target_module is None
    assert content.to_dict() == raw


@pytest.mark.parametrize("msg_type", REPLY_TYPES)
@pytest.mark.parametrize(
    "raw",
    [
        {"status": "error", "ename": "KeyError", "evalue": "'x'", "traceback": ["KeyError: 'x'"]},
        {"status": "aborted"},
    ],
    ids=["error", "aborted"],
)
def test_every_reply_parses_error_and_aborted_without_ok_fields(
    msg_type: str, raw: dict[str, Any]
) -> None:
    reply = parse_content(msg_type, raw)
    assert isinstance(reply, ReplyContent)
    assert reply.status == raw["status"]
    assert reply.ename == raw.get("ename")
    assert reply.to_dict() == raw


# -- unknown types --------------------------------------------------------------------------


def test_unknown_msg_type_passes_through_untouched() -> None:
    raw = {"msg_type": "inner", "status": 3, "code": None, "nested": {"a": [1, {"b": 2}]}}
    content = parse_content("x_custom_request", raw)
    assert type(content) is UnknownContent
    assert isinstance(content, UnknownContent)
    assert content.msg_type == "x_custom_request"
    assert content.extra == raw
    assert content.to_dict() == raw
    content.to_dict()["added"] = 1  # to_dict hands out a copy
    assert content.to_dict() == raw
    assert "x_custom_request" not in CONTENT_TYPES
    assert UnknownContent.from_dict(raw, msg_type="x") == UnknownContent(msg_type="x", extra=raw)


def test_unknown_content_is_not_registered() -> None:
    assert UnknownContent not in CONTENT_TYPES.values()
    assert all(isinstance(t, str) and t for t in CONTENT_TYPES)


# -- strictness -----------------------------------------------------------------------------


@pytest.mark.parametrize(("msg_type", "name"), REQUIRED_CASES)
def test_missing_required_field_raises_naming_it(msg_type: str, name: str) -> None:
    raw = {k: v for k, v in EXAMPLES[msg_type].items() if k != name}
    with pytest.raises(ValueError, match=rf"^{msg_type}\b.*'{name}'"):
        parse_content(msg_type, raw)


@pytest.mark.parametrize(("msg_type", "name"), OPTIONAL_CASES)
def test_missing_optional_field_is_tolerated(msg_type: str, name: str) -> None:
    raw = {k: v for k, v in EXAMPLES[msg_type].items() if k != name}
    content = parse_content(msg_type, raw)
    assert type(content) is CONTENT_TYPES[msg_type]
    assert content.extra == {}


@pytest.mark.parametrize(
    ("msg_type", "name", "value"),
    [
        ("execute_request", "code", 1),
        ("execute_request", "code", None),
        ("execute_request", "silent", "yes"),
        ("execute_result", "execution_count", True),
        ("execute_result", "execution_count", "1"),
        ("complete_request", "cursor_pos", 2.5),
        ("stream", "text", ["a"]),
        ("display_data", "data", "text"),
        ("error", "traceback", "Traceback..."),
        ("complete_reply", "matches", {"os": 1}),
        ("kernel_info_reply", "language_info", "python"),
        ("status", "execution_state", None),
    ],
)
def test_wrong_basic_type_raises_naming_the_field(msg_type: str, name: str, value: Any) -> None:
    raw = {**EXAMPLES[msg_type], name: value}
    with pytest.raises(ValueError, match=rf"^{msg_type}\b.*'{name}'"):
        parse_content(msg_type, raw)


@pytest.mark.parametrize("data", [[], "x", None, 3])
def test_content_that_is_not_an_object_raises(data: Any) -> None:
    with pytest.raises(ValueError, match="execute_request"):
        parse_content("execute_request", data)
    with pytest.raises(ValueError, match="x_other"):
        parse_content("x_other", data)


def test_is_complete_status_is_its_own_vocabulary() -> None:
    reply = parse_content("is_complete_reply", {"status": "invalid"})
    assert isinstance(reply, IsCompleteReply)
    assert (reply.status, reply.indent) == ("invalid", None)
    assert reply.to_dict() == {"status": "invalid"}


# -- construction ---------------------------------------------------------------------------


def test_constructors_use_the_spec_defaults() -> None:
    assert ExecuteRequest(code="1").to_dict() == {
        "code": "1",
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": True,
        "stop_on_error": True,
    }
    assert ExecuteRequest.from_dict({"code": "1"}) == ExecuteRequest(code="1")
    assert ShutdownRequest().to_dict() == {"restart": False}
    assert HistoryRequest(hist_access_type="tail", n=5).to_dict() == {
        "output": False,
        "raw": True,
        "hist_access_type": "tail",
        "n": 5,
    }
    assert DisplayData(data={"text/plain": "x"}).to_dict() == {
        "data": {"text/plain": "x"},
        "metadata": {},
    }
    assert CompleteReply(matches=[], cursor_start=0, cursor_end=0).to_dict() == {
        "status": "ok",
        "matches": [],
        "cursor_start": 0,
        "cursor_end": 0,
    }


def test_fields_are_keyword_only_and_slotted() -> None:
    with pytest.raises(TypeError):
        ExecuteRequest("1")  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError):
        ExecuteRequest()  # type: ignore[call-arg]
    request = ExecuteRequest(code="1")
    with pytest.raises(AttributeError):
        request.not_a_field = 1  # type: ignore[attr-defined]


def test_declared_fields_win_over_extra() -> None:
    request = ExecuteRequest(code="a", extra={"code": "b", "x": 1})
    assert request.to_dict()["code"] == "a"
    assert request.to_dict()["x"] == 1


def test_extra_is_part_of_equality() -> None:
    assert Stream(name="stdout", text="x") != Stream(name="stdout", text="x", extra={"a": 1})


# -- properties -----------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
counts = st.integers(min_value=0, max_value=2**31)


def extras(cls: type[Content]) -> st.SearchStrategy[dict[str, Any]]:
    declared = {f.name for f in dataclasses.fields(cls)}
    return st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in declared), json_values, max_size=3
    )


contents: st.SearchStrategy[Content] = st.one_of(
    st.builds(
        ExecuteRequest,
        code=st.text(),
        silent=st.booleans(),
        store_history=st.booleans(),
        user_expressions=st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=3),
        allow_stdin=st.booleans(),
        stop_on_error=st.booleans(),
        extra=extras(ExecuteRequest),
    ),
    st.builds(
        ExecuteReply,
        status=st.just("ok"),
        execution_count=counts,
        payload=st.none() | st.lists(json_objects, max_size=2),
        user_expressions=st.none() | json_objects,
        extra=extras(ExecuteReply),
    ),
    st.builds(
        CompleteReply,
        status=st.just("ok"),
        matches=st.lists(st.text(max_size=8), max_size=4),
        cursor_start=counts,
        cursor_end=counts,
        metadata=st.none() | json_objects,
        extra=extras(CompleteReply),
    ),
    st.builds(
        CompleteReply,
        status=st.sampled_from(["error", "aborted"]),
        ename=st.none() | st.text(max_size=8),
        evalue=st.none() | st.text(max_size=8),
        traceback=st.none() | st.lists(st.text(max_size=8), max_size=3),
        extra=extras(CompleteReply),
    ),
    st.builds(
        HistoryRequest,
        output=st.booleans(),
        raw=st.booleans(),
        hist_access_type=st.sampled_from(["range", "tail", "search"]),
        session=st.none() | st.integers(-5, 5),
        start=st.none() | counts,
        stop=st.none() | counts,
        n=st.none() | counts,
        pattern=st.none() | st.text(max_size=5),
        unique=st.none() | st.booleans(),
        extra=extras(HistoryRequest),
    ),
    st.builds(
        Stream,
        name=st.sampled_from(["stdout", "stderr"]),
        text=st.text(),
        extra=extras(Stream),
    ),
    st.builds(
        DisplayData,
        data=json_objects,
        metadata=json_objects,
        transient=st.none() | json_objects,
        extra=extras(DisplayData),
    ),
    st.builds(
        CommOpen,
        comm_id=st.text(max_size=32),
        target_name=st.text(max_size=16),
        data=json_objects,
        target_module=st.none() | st.text(max_size=8),
        extra=extras(CommOpen),
    ),
)


@given(contents)
def test_from_dict_inverts_to_dict(content: Content) -> None:
    as_dict = content.to_dict()
    assert type(content).from_dict(as_dict) == content
    assert parse_content(content.msg_type, json.loads(json.dumps(as_dict))) == content


@given(st.text(max_size=20).filter(lambda t: t not in CONTENT_TYPES), json_objects)
def test_unknown_content_round_trips_any_object(msg_type: str, raw: dict[str, Any]) -> None:
    content = parse_content(msg_type, raw)
    assert content == UnknownContent(msg_type=msg_type, extra=raw)
    assert content.to_dict() == raw
    assert UnknownContent.from_dict(content.to_dict(), msg_type=msg_type) == content
