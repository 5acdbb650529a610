"""Hypothesis strategies of JSON-RPC fuzz cases, each with the answers protocol.md requires.

Methods come from the code (``kernelbridge.server._features.METHODS``, lsprotocol's method
table), so a method added to the daemon is fuzzed without editing this file. Params are
generated from each method's params class: valid values of every field's type, or values of
another JSON type; a kernelbridge request with a wrong field must be answered ``-32602``.

What a body must cause is decided from the bytes the daemon receives (``expect_body``):
decoded with orjson (the JSON grammar the daemon is specified with, protocol.md §1 "Body not
valid JSON"), then the envelope rules of protocol.md §1.1 and §1.2. The rules are restated
here from the protocol, not imported from the daemon.

Cases that would end the session or start kernels are defused (``defuse``): ``exit`` as a
notification, ``shutdown`` as a request (both tested on their own), and ``kernelbridge/start``
(also as a command) always names a kernelspec that does not exist.
"""

from __future__ import annotations

import itertools
import json
import typing
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import strategies as st
from lsprotocol import types as lsp

from kernelbridge.server._features import METHODS

from .fuzz_values import TYPES, conforms, json_scalars, json_values, kb_params
from .rpc_fuzz import VALID, Case, frame
from .wire_check import IdKey, id_key, valid_id

# -- the methods --------------------------------------------------------------------------

KB_PARAMS: dict[str, type] = {f"kernelbridge/{name}": cls for name, (cls, _) in METHODS.items()}
COMMAND_PARAMS: dict[str, type] = {f"kernelbridge.{name}": cls
                                   for name, (cls, _) in METHODS.items()}
LSP_PARAMS: dict[str, type | None] = {
    method: (params if isinstance(params, type) else None)
    for method, (_, _, params, _) in lsp.METHOD_TO_TYPES.items()
}
LSP_NOTIFICATIONS = frozenset(m for m, t in lsp.METHOD_TO_TYPES.items() if t[1] is None)
ALL_METHODS = sorted(set(KB_PARAMS) | set(LSP_PARAMS))
ALWAYS_ALLOWED = frozenset({"initialize", "exit"})
# initialize is answered -32600 once initialized whatever its params; exit and shutdown end
# the session: all three are sent by the envelope fuzzer and the lifecycle tests instead.
LSP_FUZZED = sorted(set(LSP_PARAMS) - {"initialize", "exit", "shutdown"})
KERNELSPEC_NAMES = frozenset({"", "python3", "xpython", "xpython-raw"})

# Ids made unique by a counter (the accounting is per id: unique ids make a lost answer and
# a doubled one impossible to cancel out). Edge values repeat on purpose.
_fresh = itertools.count(1)


def _next() -> int:
    return next(_fresh)


def index(draw: Callable[[Any], Any], n: int) -> int:
    """A position in 0..n drawn independently of n: n may depend on a fresh id, which
    differs when hypothesis replays a case, and the draws must not."""
    return draw(st.integers(0, 1 << 16)) % (n + 1)


def encode(obj: Any, draw: Callable[[Any], Any] | None = None) -> bytes:
    """JSON text of ``obj`` (the standard library's encoder: big integers and all), ASCII
    escaped or raw UTF-8, compact or spaced."""
    ascii_only = draw(st.booleans()) if draw else False
    spaced = draw(st.booleans()) if draw else False
    text = json.dumps(obj, ensure_ascii=ascii_only, allow_nan=False,
                      separators=(", ", ": ") if spaced else (",", ":"))
    return text.encode("utf-8", "surrogatepass")


# -- what protocol.md requires ------------------------------------------------------------


class Expect(typing.NamedTuple):
    answers: list[tuple[IdKey, int | None]]
    nulls: int
    null_codes: frozenset[int]


NONE = Expect([], 0, frozenset())


def _null(code: int) -> Expect:
    return Expect([], 1, frozenset({code}))


def expect_body(body: bytes, *, initialized: bool = True,
                request_code: int | None = None) -> Expect:
    """What one correctly framed body must cause (protocol.md §1 and §1.1)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _null(-32700)
    if not isinstance(value, dict):  # a batch (array) or a scalar
        return _null(-32600)
    return expect_message(value, initialized=initialized, request_code=request_code)


def expect_message(msg: dict[str, Any], *, initialized: bool = True,
                   request_code: int | None = None) -> Expect:
    """protocol.md §1.1's checks in order, then §1.2 (``request_code``: the code a request
    that passes them must get, when the generator knows it; None: any answer)."""
    has_id = "id" in msg
    msg_id = msg.get("id")
    good_id = has_id and valid_id(msg_id)

    def invalid() -> Expect:  # -32600, id echoed when it is a valid one
        return Expect([(id_key(msg_id), -32600)], 0, frozenset()) if good_id else _null(
            -32600)

    if msg.get("jsonrpc") != "2.0":
        return invalid()
    method = msg.get("method")
    if method is None:
        if has_id and ("result" in msg or "error" in msg):
            return NONE  # a response: never answered (§1.3)
        return invalid()
    if not isinstance(method, str):
        return invalid()
    if has_id and not good_id:
        return _null(-32600)
    params = msg.get("params")
    if params is not None and not isinstance(params, dict | list):
        return Expect([(id_key(msg_id), -32600)], 0, frozenset()) if has_id else NONE
    if isinstance(params, list):
        return Expect([(id_key(msg_id), -32602)], 0, frozenset()) if has_id else NONE
    if not has_id:
        return NONE  # notifications are never answered (§1.2)
    if not initialized and method not in ALWAYS_ALLOWED:
        return Expect([(id_key(msg_id), -32002)], 0, frozenset())
    if initialized and method == "initialize":
        return Expect([(id_key(msg_id), -32600)], 0, frozenset())
    if method in LSP_NOTIFICATIONS or not (method in KB_PARAMS or method in LSP_PARAMS):
        # A notification method is no request method: -32601 (§1.2).
        return Expect([(id_key(msg_id), -32601)], 0, frozenset())
    return Expect([(id_key(msg_id), request_code)], 0, frozenset())


def case_of(category: str, data: bytes, expect: Expect, note: str = "") -> Case:
    return Case(category, data, list(expect.answers), expect.nulls,
                expect.null_codes or frozenset({-32700, -32600}), note)


def body_case(category: str, body: bytes, *, initialized: bool = True,
              request_code: int | None = None, note: str = "") -> Case:
    return case_of(category, frame(body),
                   expect_body(body, initialized=initialized, request_code=request_code), note)


# -- defusing -----------------------------------------------------------------------------


def defuse(msg: Any) -> Any:
    """Keep a generated message from ending the session or starting a kernel."""
    if not isinstance(msg, dict):
        return msg
    method = msg.get("method")
    if method == "exit" and "id" not in msg:
        msg["method"] = "kernelbridge/$exit"
    if method == "shutdown" and "id" in msg:
        msg["method"] = "kernelbridge/$shutdown"
    params = msg.get("params")
    if method == "kernelbridge/start" and isinstance(params, dict):
        _no_kernelspec(params)
    if method == "workspace/executeCommand" and isinstance(params, dict) and params.get(
            "command") == "kernelbridge.start":
        args = params.get("arguments")
        if not isinstance(args, list) or not args or args[0] is None:
            params["arguments"] = [{"kernelspec": "nokernel"}]
        elif isinstance(args[0], dict):
            _no_kernelspec(args[0])
    return msg


def _no_kernelspec(params: dict[str, Any]) -> None:
    spec = params.get("kernelspec")
    if spec is None or (isinstance(spec, str) and spec in KERNELSPEC_NAMES):
        params["kernelspec"] = "nokernel"
    elif isinstance(spec, str):
        params["kernelspec"] = "nokernel-" + spec


# -- ids ------------------------------------------------------------------------------------

ABSENT = object()

EDGE_INTS = [0, -1, 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1]
TOO_BIG = [2**64, -(2**63) - 1, 10**30]  # integers orjson reads as floats: invalid ids


@st.composite
def ids(draw: Callable[[Any], Any], *, absent: bool = True) -> Any:
    """Ids of every JSON type: mostly fresh valid ones, also edge values and invalid ones."""
    kind = draw(st.sampled_from(
        ["int", "int", "str", "str", "edge", "big", "float", "bool", "null", "object",
         "array"] + (["absent"] if absent else [])))
    if kind == "int":
        n = _next()
        return 10**9 + n if draw(st.booleans()) else -(10**9) - n
    if kind == "str":
        return f"{draw(st.text(max_size=12))}#{_next()}"
    if kind == "edge":
        return draw(st.sampled_from(EDGE_INTS))
    if kind == "big":
        return draw(st.sampled_from(TOO_BIG))
    if kind == "float":
        return draw(st.sampled_from([1.5, 1.0, -0.0, 1e3, 2.5e-3]))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "null":
        return None
    if kind == "object":
        return draw(st.dictionaries(st.text(max_size=4), json_scalars, max_size=2))
    if kind == "array":
        return draw(st.lists(json_scalars, max_size=2))
    return ABSENT


# The last ids handed out: $/cancelRequest targets requests that may still be running.
RECENT_IDS: deque[int | str] = deque(maxlen=32)


def fresh_id(draw: Callable[[Any], Any]) -> int | str:
    msg_id: int | str = _next() + 10**9 if draw(st.booleans()) else f"id-{_next()}"
    RECENT_IDS.append(msg_id)
    return msg_id


def request(method: str, params: Any = ABSENT, msg_id: Any = ABSENT) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0"}
    if msg_id is not ABSENT:
        msg["id"] = msg_id
    msg["method"] = method
    if params is not ABSENT:
        msg["params"] = params
    return msg


# -- framing ------------------------------------------------------------------------------


def _clean(data: bytes) -> bytes:
    """Garbage the daemon must skip: no CRLF (which would join a header block), no
    ``content-length`` text (where a resynchronising reader looks for the next header), not
    only blanks (blanks before a header name are ignored, protocol.md §1)."""
    data = data.replace(b"\r\n", b"\r.")
    if not data.strip(b" \t"):
        data += b"#"
    lowered = data.lower()
    while (at := lowered.find(b"content-length")) >= 0:
        data = data[:at] + b"#" + data[at + 1 :]
        lowered = data.lower()
    return data


garbage = st.binary(min_size=1, max_size=200).map(_clean)
long_garbage = st.builds(lambda unit, n: _clean((unit * (n // len(unit) + 1))[:n]),
                         st.binary(min_size=1, max_size=64), st.integers(8193, 40000))


def ping(msg_id: int | str) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "kernelbridge/kernels"})


HEADER_NAMES = st.sampled_from([b"Content-Length", b"content-length", b"CONTENT-LENGTH",
                                b"Content-length", b"cOnTeNt-LeNgTh"])
SPACES = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t "])
EXTRA_HEADERS = st.sampled_from([
    b"Content-Type: application/vscode-jsonrpc; charset=utf-8", b"X-Foo: bar", b"X-Empty:",
    b"NoColonAtAll", b"X-Unicode: \xc3\xa9\xff", b": no name",
    b"X-Note: the content-length comes below",
])
BAD_LENGTHS = st.one_of(
    st.sampled_from([b"", b"abc", b"-5", b"+5", b"5.0", b"0x10", b"1 2", b"5a",
                     "\u0663".encode(), b"\xff", b"1e3", b"-0"]),
    st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")).filter(
        lambda b: not b.strip().isdigit()),
)


@st.composite
def framing_case(draw: Callable[[Any], Any]) -> Case:
    kind = draw(st.sampled_from(["headers", "bad-length", "no-length", "garbage",
                                 "long-garbage", "short-length", "bad-then-garbage"]))
    follow = draw(st.booleans())  # a valid request after the damage
    tail = b""
    answers: list[tuple[IdKey, int | None]] = []
    if follow:
        follow_id = fresh_id(draw)
        tail = frame(ping(follow_id))
        answers.append((id_key(follow_id), None))
    if kind == "headers":
        msg_id = fresh_id(draw)
        body = ping(msg_id)
        lines = [draw(EXTRA_HEADERS) for _ in range(draw(st.integers(0, 2)))]
        length = b"%b%b:%b%d%b" % (draw(SPACES), draw(HEADER_NAMES), draw(SPACES), len(body),
                                   draw(SPACES))
        lines.insert(draw(st.integers(0, len(lines))), length)
        if draw(st.booleans()):  # a second Content-Length: the first one counts
            lines.append(b"Content-Length: " + draw(BAD_LENGTHS | st.just(b"3")))
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
        return Case("framing", data + tail, [(id_key(msg_id), None), *answers], 0,
                    note=kind)
    if kind in ("bad-length", "no-length", "bad-then-garbage"):
        if kind == "no-length":
            names = draw(st.lists(EXTRA_HEADERS | st.sampled_from(
                [b"Content_Length: 5", b"ContentLength: 5", b"Content-Lengt: 5"]),
                min_size=1, max_size=2))
            header = b"\r\n".join(names)
        else:
            header = draw(HEADER_NAMES) + b":" + draw(SPACES) + draw(BAD_LENGTHS)
        body = draw(garbage | st.just(b"") | st.just(b'{"jsonrpc":"2.0","id":1}'))
        if draw(st.booleans()):  # a header end inside the skipped bytes: still one error
            body += b"\r\n\r\n" + draw(garbage)
        if kind == "bad-then-garbage":
            body += draw(long_garbage)
        data = header + b"\r\n\r\n" + body
        return Case("framing", data + tail, answers, 1, frozenset({-32700}), note=kind)
    if kind in ("garbage", "long-garbage"):
        junk = draw(garbage if kind == "garbage" else long_garbage)
        if draw(st.booleans()):
            junk += b"\r\n\r\n" + draw(garbage)  # a header block without Content-Length
        return Case("framing", junk + tail, answers, 1, frozenset({-32700}), note=kind)
    # short-length: the body is cut by its Content-Length; the rest is garbage.
    msg_id = fresh_id(draw)
    body = _clean(ping(msg_id))
    cut = index(draw, len(body) - 1)
    data = b"Content-Length: %d\r\n\r\n%b" % (cut, body)
    return Case("framing", data + tail, answers, 2, frozenset({-32700}), note=kind)


# -- bodies ---------------------------------------------------------------------------------

INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\xc0\x80", b"\x80", b"\xe2\x82",
                                b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc3"])
NOT_RFC_JSON = st.sampled_from([
    b'{"jsonrpc":"2.0","id":NaN,"method":"kernelbridge/kernels"}',
    b'{"jsonrpc":"2.0","id":1,"method":"kernelbridge/kernels","params":{"a":Infinity}}',
    b"{'jsonrpc':'2.0','id':1,'method':'kernelbridge/kernels'}",
    b'{"jsonrpc":"2.0","id":1,"method":"kernelbridge/kernels",}',
    b'{"jsonrpc":"2.0",/*c*/"id":1,"method":"kernelbridge/kernels"}',
    b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"kernelbridge/kernels"}',
    b'{"jsonrpc":"2.0","id":1,"method":"kernelbridge/kernels"} trailing',
    b'{"jsonrpc":"2.0","id":"\\ud800","method":"kernelbridge/kernels"}',
    b'{"jsonrpc":"2.0","id":"a\x00b","method":"kernelbridge/kernels"}',
    b"", b" ", b"{", b"}", b"null", b"[]", b"[{}]", b'"2.0"', b"0", b"-", b"tru",
])


@st.composite
def body_case_strategy(draw: Callable[[Any], Any]) -> Case:
    kind = draw(st.sampled_from(
        ["utf8", "bytes", "value", "mutated", "nested", "not-rfc", "batch", "nested-params"] * 5
        + ["big"]))
    if kind == "utf8":
        text = ping(f"u-{_next()}")
        at = index(draw, len(text))
        body = text[:at] + draw(INVALID_UTF8) + text[at:]
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "value":
        body = encode(defuse(draw(json_values)), draw)
    elif kind == "mutated":
        body = _mutate_text(draw, encode(defuse(draw(envelopes())), draw))
    elif kind == "nested":
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        body = opener * depth + b"1" + closer * depth
    elif kind == "not-rfc":
        body = draw(NOT_RFC_JSON)
    elif kind == "batch":
        members = [request("kernelbridge/kernels", msg_id=f"batched-{_next()}")
                   for _ in range(draw(st.integers(0, 3)))]
        body = encode(members, draw)
        # The ids in a batch must never be answered (batches are not supported).
        case = body_case("body", body, note=kind)
        case.silent = [id_key(m["id"]) for m in members]
        return case
    elif kind == "big":
        size = draw(st.sampled_from([1 << 16, 1 << 18, 1 << 20]))
        msg_id = fresh_id(draw)
        body = orjson.dumps(request("kernelbridge/execute",
                                    {"code": draw(st.sampled_from("x1é😀")) * size},
                                    msg_id))
    else:  # nested-params: a request whose params nest deeply
        depth = draw(st.integers(1, 1500))
        msg_id = fresh_id(draw)
        body = (b'{"jsonrpc":"2.0","id":%b,"method":"kernelbridge/execute","params":'
                b'{"code":%b1%b}}' % (json.dumps(msg_id).encode(), b"[" * depth, b"]" * depth))
        return body_case("body", body, request_code=-32602, note=kind)
    return body_case("body", body, note=kind)


def _mutate_text(draw: Callable[[Any], Any], text: bytes) -> bytes:
    """Truncate, delete, insert, replace or duplicate bytes of a JSON text."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "duplicate"]))
        at = index(draw, len(text))
        if op == "truncate":
            text = text[:at]
        elif op == "delete":
            text = text[:at] + text[at + 1 :]
        elif op == "insert":
            text = text[:at] + draw(st.binary(min_size=1, max_size=3) | st.sampled_from(
                [b'"', b"{", b"}", b"[", b",", b":", b"\\"])) + text[at:]
        elif op == "replace":
            text = text[:at] + draw(st.binary(min_size=1, max_size=1)) + text[at + 1 :]
        else:
            end = at + index(draw, len(text) - at)
            text = text[:end] + text[at:end] + text[end:]
    return text


# -- envelopes ------------------------------------------------------------------------------

JSONRPC_VALUES = st.sampled_from(["2.0", "2.0", "2.0", "2.0", "2", "1.0", "2.0 ", "", 2.0, 2,
                                  None, ABSENT])


@st.composite
def envelopes(draw: Callable[[Any], Any]) -> dict[str, Any]:
    """Messages with every part varied: jsonrpc, id (all JSON types), method (known,
    unknown, not a string), params (absent, null, object, array, scalar), and
    result/error keys (responses to requests never made)."""
    msg: dict[str, Any] = {}
    parts = []
    jsonrpc = draw(JSONRPC_VALUES)
    if jsonrpc is not ABSENT:
        parts.append(("jsonrpc", jsonrpc))
    msg_id = draw(ids())
    if msg_id is not ABSENT:
        parts.append(("id", msg_id))
    method = draw(st.one_of(st.sampled_from(ALL_METHODS), st.sampled_from(ALL_METHODS),
                            st.text(max_size=20), json_values, st.just(ABSENT)))
    if method is not ABSENT:
        parts.append(("method", method))
    params = draw(st.one_of(st.just(ABSENT), st.none(), st.just({}), st.just([]),
                            st.lists(json_values, max_size=3), json_scalars,
                            st.dictionaries(st.text(max_size=10), json_values, max_size=4)))
    if params is not ABSENT:
        parts.append(("params", params))
    response = draw(st.sampled_from(["", "", "", "result", "error", "bad-error", "both"]))
    if response in ("result", "both"):
        parts.append(("result", draw(json_values)))
    if response in ("error", "both"):
        parts.append(("error", {"code": draw(st.integers(-33000, 2000)),
                                "message": draw(st.text(max_size=10))}))
    if response == "bad-error":
        parts.append(("error", draw(json_values)))
    for key, value in draw(st.permutations(parts)):
        msg[key] = value
    return defuse(msg)


@st.composite
def envelope_case(draw: Callable[[Any], Any], initialized: bool = True) -> Case:
    kind = draw(st.sampled_from(["any", "any", "any", "response", "duplicate",
                                 "notification"]))
    if kind == "response":  # a response to a request the daemon never sent: ignored
        msg = {"jsonrpc": "2.0", "id": draw(ids(absent=False)),
               draw(st.sampled_from(["result", "error"])): draw(json_values)}
        body = encode(msg, draw)
        return body_case("envelope", body, initialized=initialized, note=kind)
    if kind == "duplicate":  # the same id twice in a row: each request answered once
        msg_id = draw(st.sampled_from(EDGE_INTS) | st.text(max_size=6))
        method = draw(st.sampled_from(["kernelbridge/kernelspecs", "kernelbridge/kernels",
                                       "textDocument/hover"]))
        body = orjson.dumps(request(method, msg_id=msg_id))
        expect = expect_body(body, initialized=initialized)
        return Case("envelope", frame(body) * 2, expect.answers * 2, 0, note=kind)
    if kind == "notification":  # known methods without id, bad params: no answer
        method = draw(st.sampled_from(ALL_METHODS))
        msg = defuse(request(method, draw(json_values)))
        return body_case("envelope", encode(msg, draw), initialized=initialized, note=kind)
    msg = draw(envelopes())
    if not initialized and msg.get("method") == "initialize" and isinstance(
            msg.get("params"), dict):
        msg["params"].pop("capabilities", None)  # stays uninitialized: -32602
    return body_case("envelope", encode(msg, draw), initialized=initialized, note=kind)


# -- params of every method ---------------------------------------------------------------


@st.composite
def params_case(draw: Callable[[Any], Any]) -> Case:
    """Every method with params built from its params class, valid or broken, as a
    request, a notification or (kernelbridge methods) a workspace/executeCommand."""
    form = draw(st.sampled_from(["kb", "kb", "command", "lsp", "lsp", "notification"]))
    msg_id = fresh_id(draw)
    if form in ("kb", "command"):
        method = draw(st.sampled_from(sorted(KB_PARAMS)))
        cls = KB_PARAMS[method]
        params, ok = draw(kb_params(cls))
        code = VALID if ok else -32602
        if form == "kb":
            msg = defuse(request(method, params, msg_id))
        else:
            shape = draw(st.sampled_from(["one", "one", "one", "none", "empty", "null",
                                          "two", "scalar"]))
            args: Any = {"one": [params], "empty": [], "null": [None],
                         "two": [params, params],
                         "scalar": [draw(json_scalars.filter(lambda v: v is not None))]
                         }.get(shape)
            command = {"command": "kernelbridge." + method.split("/", 1)[1]}
            if args is not None:
                command["arguments"] = args
            if shape in ("none", "empty", "null"):
                code = VALID if conforms({}, cls) else -32602
            elif shape in ("two", "scalar"):
                code = -32602
            msg = defuse(request("workspace/executeCommand", command, msg_id))
        body = encode(msg, draw)
        return body_case("params", body, request_code=code, note=form + " " + method)
    method = draw(st.sampled_from(LSP_FUZZED))
    cls = LSP_PARAMS[method]
    params = draw(TYPES.object_of(cls)) if cls is not None else draw(
        st.none() | st.just({}) | json_values)
    if draw(st.booleans()):
        params = _mutate_value(draw, params)
    msg = defuse(request(method, params, msg_id if form == "lsp" else ABSENT))
    return body_case("params", encode(msg, draw), note=form + " " + method)


def _mutate_value(draw: Callable[[Any], Any], value: Any) -> Any:
    """Replace, drop or add one node of a JSON value."""
    nodes: list[tuple[Any, Any]] = []  # (container, key)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                nodes.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                nodes.append((node, index))
                walk(node[index])

    walk(value)
    if not nodes:
        return draw(json_values)
    container, key = draw(st.sampled_from(nodes))
    op = draw(st.sampled_from(["replace", "replace", "drop", "null"]))
    if op == "drop" and isinstance(container, dict):
        del container[key]
    elif op == "null":
        container[key] = None
    else:
        container[key] = draw(json_values)
    return value


# -- params of kernel methods, against a real kernel -------------------------------------

# Code the kernel may run: no letters that spell a keyword, builtin or magic (nothing can
# import, open, loop, exit or read input), no ``*``, ``<``, ``>`` (no huge powers or shifts),
# no ``!`` or ``?`` (shell escapes, pager). What is left makes literals, arithmetic,
# containers, names a/b/x/y, comments and syntax errors.
HARMLESS = "abxy0123456789+-/%()[]{}:=,. \n\t'\"#\\\u00e9\U0001f600"
harmless = st.text(alphabet=HARMLESS, max_size=40)


@st.composite
def harmless_document(draw: Callable[[Any], Any]) -> str:
    """A document of harmless code with ``# %%`` cells."""
    cells = draw(st.lists(harmless, min_size=1, max_size=4))
    return "".join(f"# %% {draw(st.sampled_from(['', 'x', '[markdown]']))}\n{c}\n"
                   for c in cells)


KERNEL_METHODS = ["execute"] * 4 + [
    "complete", "inspect", "isComplete", "history", "interrupt", "outputText", "outputData",
    "bind", "cells", "executeCell", "executeRange", "runAbove", "runAll", "kernels",
    "kernelspecs", "restart", "shutdown", "connect", "textDocument/completion",
    "textDocument/hover", "textDocument/codeLens", "didChange", "cancel"]


@st.composite
def kernel_case(draw: Callable[[Any], Any], kernel_id: str, uri: str) -> Case:
    """A request to one of the kernel's methods with valid params (the right kernel or a
    wrong one, harmless code) or, sometimes, one field of a wrong type (then -32602).
    ``restart`` and ``shutdown`` only ever name a kernel that does not exist: the fuzzer's
    kernel must survive the run."""
    method = draw(st.sampled_from(KERNEL_METHODS))
    kid = draw(st.sampled_from([kernel_id] * 5 + ["nope", ""]) | harmless)
    line = st.integers(-1, 12)
    position = st.fixed_dictionaries({"line": line, "character": st.integers(0, 4)})
    doc = st.sampled_from([uri, uri, "file:///nowhere/x.py"]) | harmless
    params: dict[str, Any]
    if method == "execute":
        params = {"code": draw(harmless), "kernelId": kid}
        for key, strategy in [("executionId", harmless), ("silent", st.booleans()),
                              ("storeHistory", st.booleans()),
                              ("allowStdin", st.booleans()), ("stopOnError", st.booleans()),
                              ("userExpressions", st.dictionaries(harmless, harmless,
                                                                  max_size=2))]:
            if draw(st.booleans()):
                params[key] = draw(strategy)
        if draw(st.integers(0, 5)) == 0:
            del params["kernelId"]
            params["uri"] = draw(doc)
    elif method in ("complete", "inspect", "isComplete"):
        code = draw(harmless)
        params = {"code": code, "kernelId": kid}
        if draw(st.booleans()):
            params["cursorPos"] = draw(st.integers(-3, len(code) + 3))
        if method == "inspect" and draw(st.booleans()):
            params["detailLevel"] = draw(st.integers(-1, 3))
    elif method == "history":
        params = {"kernelId": kid,
                  "histAccessType": draw(st.sampled_from(["tail", "range", "search"])
                                         | harmless),
                  "n": draw(st.integers(-5, 500)), "output": draw(st.booleans()),
                  "raw": draw(st.booleans())}
        for key, strategy in [("session", st.integers(-3, 3)), ("start", st.integers(-5, 50)),
                              ("stop", st.integers(-5, 50)), ("pattern", harmless),
                              ("unique", st.booleans())]:
            if draw(st.booleans()):
                params[key] = draw(strategy)
    elif method in ("interrupt", "kernels", "kernelspecs"):
        params = {"kernelId": kid} if method == "interrupt" else {}
    elif method in ("restart", "shutdown"):
        wrong = draw(st.sampled_from(["nope", ""]) | harmless)
        params = {"kernelId": wrong if wrong != kernel_id else "nope"}
    elif method == "connect":
        params = {"connectionFile": draw(st.sampled_from(["/nonexistent.json", "/etc/hostname",
                                                          "/dev/null", "/tmp", ""])
                                         | harmless)}
    elif method == "outputText":
        params = {"kernelId": kid, "executionId": draw(harmless)}
    elif method == "outputData":
        params = {"kernelId": kid, "outputId": draw(st.integers(0, 30).map(str) | harmless)}
        if draw(st.booleans()):
            params["mimeType"] = draw(st.sampled_from(["text/plain", "image/png"]) | harmless)
    elif method == "bind":
        params = {"uri": draw(doc), "kernelId": kid}
    elif method in ("cells", "runAll"):
        params = {"uri": draw(doc)}
    elif method in ("executeCell", "runAbove"):
        params = {"uri": draw(doc), "position": draw(position)}
    elif method == "executeRange":
        params = {"uri": draw(doc), "range": {"start": draw(position), "end": draw(position)}}
    elif method in ("textDocument/completion", "textDocument/hover", "textDocument/codeLens"):
        params = {"textDocument": {"uri": draw(doc)}}
        if method != "textDocument/codeLens":
            params["position"] = draw(position)
        msg_id = fresh_id(draw)
        body = orjson.dumps(request(method, params, msg_id))
        return body_case("kernel", body, note=method)
    elif method == "didChange":
        change = {"text": draw(harmless_document())}
        body = orjson.dumps(request("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": _next()}, "contentChanges": [change]}))
        return body_case("kernel", body, note=method)
    elif method == "cancel":  # a request of this batch or the last, maybe still running
        recent = list(RECENT_IDS)[-draw(st.sampled_from([2, 4, 32])):] or ["x"]
        target = recent[index(draw, len(recent) - 1)]
        body = orjson.dumps(request("$/cancelRequest", {"id": target}))
        return body_case("kernel", body, note=method)
    else:
        raise AssertionError(method)
    code: int | None = None
    if draw(st.integers(0, 7)) == 0 and params:  # one field of a wrong type
        key = draw(st.sampled_from(sorted(params)))
        params[key] = draw(st.sampled_from([3, 1.5, True, [], {}, "x"]).filter(
            lambda v, old=params[key]: type(v) is not type(old)))
        code = -32602
        if key in ("cursorPos",) and isinstance(params[key], int):
            code = None
    msg_id = fresh_id(draw)
    body = orjson.dumps(request(f"kernelbridge/{method}", params, msg_id))
    return body_case("kernel", body, request_code=code, note=method)


__all__ = [
    "ALL_METHODS", "COMMAND_PARAMS", "HARMLESS", "KB_PARAMS", "LSP_NOTIFICATIONS",
    "LSP_PARAMS", "Expect", "body_case", "body_case_strategy", "defuse", "encode",
    "envelope_case", "envelopes", "expect_body", "expect_message", "framing_case",
    "harmless_document", "ids", "kernel_case", "params_case", "request",
]
