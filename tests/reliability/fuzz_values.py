"""Values for the JSON-RPC fuzzer: random JSON, and the wire values of a params type
(valid ones from the type, wrong ones that do not conform), generated from the classes
themselves (kernelbridge's params classes, lsprotocol's types) so that a new field is
fuzzed without editing this file."""

from __future__ import annotations

import types as pytypes
import typing
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

import attrs
from hypothesis import strategies as st
from lsprotocol import validators as lsp_validators

# -- JSON values ----------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond 64 bits: orjson reads floats
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)


# -- params from types ----------------------------------------------------------------------


def wire_name(name: str) -> str:
    """lsprotocol's (and so the daemon's) camelCase of a field name."""
    name = name.removesuffix("_")
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return {f.name: f.type for f in attrs.fields(cls)}


def _field_range(field: attrs.Attribute) -> tuple[int, int] | None:
    validator = field.validator
    if validator is lsp_validators.uinteger_validator:
        return (0, 2**31 - 1)
    if validator is lsp_validators.integer_validator:
        return (-(2**31), 2**31 - 1)
    return None


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is pytypes.UnionType:
        return typing.get_args(tp)
    return None


def conforms(value: Any, tp: Any) -> bool:
    """Whether a decoded JSON value is a valid wire value of ``tp`` (the params types of
    kernelbridge: str, int, bool, float, None, unions, dict[str, X], attrs classes)."""
    if tp is Any or tp is object:
        return True
    if tp is type(None) or tp is None:
        return value is None
    if tp is str:
        return isinstance(value, str)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return type(value) is int
    if tp is float:
        return type(value) in (int, float)
    args = _union_args(tp)
    if args is not None:
        return any(conforms(value, arg) for arg in args)
    origin = typing.get_origin(tp)
    if origin in (dict, Mapping):
        _, value_tp = typing.get_args(tp)
        return isinstance(value, dict) and all(conforms(v, value_tp) for v in value.values())
    if origin in (list, Sequence):
        (item_tp,) = typing.get_args(tp)
        return isinstance(value, list) and all(conforms(v, item_tp) for v in value)
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, dict):
            return False
        hints = _hints(tp)
        for field in attrs.fields(tp):
            name = wire_name(field.name)
            optional = field.default is not attrs.NOTHING
            if name not in value or (value[name] is None and optional):
                # protocol.md, conventions: an optional param sent as null is absent.
                if not optional:
                    return False
                continue
            item = value[name]
            if not conforms(item, hints[field.name]):
                return False
            bounds = _field_range(field)
            if bounds is not None and not bounds[0] <= item <= bounds[1]:
                return False
        return True
    if isinstance(tp, type) and issubclass(tp, Enum):
        return value in {m.value for m in tp}
    return True  # types the params of kernelbridge do not use: not judged


class Types:
    """Strategies of valid wire values of a type (lsprotocol's types included)."""

    def __init__(self, text: st.SearchStrategy[str] | None = None, max_depth: int = 3) -> None:
        self.text = text if text is not None else st.text(max_size=16)
        self.max_depth = max_depth
        self._objects: dict[tuple[type, int], st.SearchStrategy[dict[str, Any]]] = {}

    def valid(self, tp: Any, depth: int = 0) -> st.SearchStrategy[Any]:
        if tp is Any or tp is object or isinstance(tp, str | typing.ForwardRef):
            return json_values
        if tp is type(None) or tp is None:
            return st.none()
        if tp is str:
            return self.text
        if tp is bool:
            return st.booleans()
        if tp is int:
            return st.integers(min_value=0, max_value=1000) | st.integers(-(2**31), 2**31 - 1)
        if tp is float:
            return st.floats(-1e6, 1e6)
        args = _union_args(tp)
        if args is not None:
            if depth >= self.max_depth and type(None) in args:
                return st.none()
            return st.one_of([self.valid(arg, depth) for arg in args])
        origin = typing.get_origin(tp)
        if origin is typing.Literal:
            return st.sampled_from(typing.get_args(tp))
        if origin in (dict, Mapping):
            _, value_tp = typing.get_args(tp)
            return st.dictionaries(self.text, self.valid(value_tp, depth + 1), max_size=3)
        if origin in (list, Sequence, tuple):
            item_args = typing.get_args(tp)
            if origin is tuple:
                return st.tuples(*[self.valid(a, depth + 1) for a in item_args]).map(list)
            if depth >= self.max_depth:
                return st.just([])
            return st.lists(self.valid(item_args[0], depth + 1), max_size=2)
        if isinstance(tp, type) and issubclass(tp, Enum):
            return st.sampled_from([m.value for m in tp])
        if isinstance(tp, type) and attrs.has(tp):
            return self.object_of(tp, depth)
        return json_values

    def object_of(self, cls: type, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
        """Wire objects of an attrs class: required fields, optional ones sometimes (built
        once per class and depth: lsprotocol's types are large)."""
        key = (cls, depth)
        if key not in self._objects:
            self._objects[key] = self._object_of(cls, depth)
        return self._objects[key]

    def _object_of(self, cls: type, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        hints = _hints(cls)
        required: dict[str, st.SearchStrategy[Any]] = {}
        optional: dict[str, st.SearchStrategy[Any]] = {}
        for field in attrs.fields(cls):
            if field.name in ("jsonrpc", "method"):
                continue
            bounds = _field_range(field)
            strategy = (st.integers(*bounds) if bounds is not None
                        else self.valid(hints.get(field.name, Any), depth + 1))
            if field.default is attrs.NOTHING:
                required[wire_name(field.name)] = strategy
            elif depth < self.max_depth:
                optional[wire_name(field.name)] = strategy
        return st.fixed_dictionaries(required, optional=optional)


TYPES = Types()


# One value of each JSON type and a few edge values: most wrong values come from here
# (cheap), the rest are random JSON.
REPRESENTATIVES = st.sampled_from([0, -1, 2**31, 2**64, 1.5, -0.0, True, False, "", "x",
                                   [], [1], ["x"], {}, {"a": 1}, {"a": "x"}, None])


def wrong_for(tp: Any, *, required: bool) -> st.SearchStrategy[Any]:
    """JSON values that are not valid for ``tp`` (null only where it is not allowed)."""
    return st.one_of(REPRESENTATIVES, REPRESENTATIVES, REPRESENTATIVES, json_values).filter(
        lambda v: not conforms(v, tp) and not (v is None and not required))


@st.composite
def kb_params(draw: Callable[[Any], Any], cls: type) -> tuple[Any, bool]:
    """Params for a kernelbridge params class: each field absent, null, valid or of a wrong
    type, plus unknown keys sometimes. Returns (params, whether they are valid)."""
    hints = _hints(cls)
    params: dict[str, Any] = {}
    for field in attrs.fields(cls):
        name = wire_name(field.name)
        required = field.default is attrs.NOTHING
        choice = draw(st.sampled_from(["valid", "valid", "wrong", "absent", "null"]))
        if choice == "valid" or (required and choice in ("absent", "null")
                                 and draw(st.booleans())):
            params[name] = draw(TYPES.valid(hints[field.name]))
        elif choice == "wrong":
            params[name] = draw(wrong_for(hints[field.name], required=required))
        elif choice == "null":
            params[name] = None
    if draw(st.integers(0, 4)) == 0:
        params[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return params, conforms(params, cls)


__all__ = [
    "TYPES", "Types", "conforms", "json_scalars", "json_values", "kb_params", "wire_name",
    "wrong_for",
]
