"""Build a response body from the spec: examples first, then the schema's shape.

Unlike Prism, which ignores `example` and picks the first enum value, the mock uses the
document's own examples (they are what the portal's authors wrote down as realistic), echoes
request fields the response shares (`ID`), and stamps timestamps with the current UTC time in
whatever format the property's pattern accepts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

import orjson

from proxy.fastcheck import Check, compile_check
from proxy.jsonout import dumps as dumps_json
from proxy.memo import Memo
from proxy.patterns import ecma_search, make_validator

#: Timestamp layouts tried, in order, against a timestamp property's pattern.
_TIME_LAYOUTS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)
_MAX_DEPTH = 12
#: A fixed moment for working out layouts and filling templates before `render`.
_REFERENCE = dt.datetime(2023, 6, 23, 21, 2, 0, tzinfo=dt.UTC)
#: Encoded bodies kept per second by `BodyPlan.encode`, and the largest request body that
#: may key one (the memo is for the usual small bodies a frontend sends again and again).
_MEMO_SIZE = 256
_MEMO_KEY_MAX = 4096


Path = tuple[str | int, ...]


class BodyPlan:
    """A body for one schema, worked out once; `render` fills in the time and the echo.

    The mock answers every request from the same plan: walking the schema per request
    would cost more than serving it.
    """

    def __init__(self, schema: Mapping[str, Any] | None) -> None:
        self.schema = schema or {}
        self.stamps: list[tuple[Path, str]] = []
        self.template = _value(self.schema, 0, "", (), self.stamps)
        self._encoded = dumps_json(self.template)
        self._echo = _properties(self.schema) if isinstance(self.schema, Mapping) else {}
        self._fits: dict[str, Check] = {}  # echoable property -> its full validity check
        self._stamped = frozenset(str(path[0]) for path, _ in self.stamps if len(path) == 1)
        self._clock: tuple[int, dict[str, str]] = (-1, {})
        # Encoded bodies of the current second by request body: within one second the
        # timestamps cannot change, so the same request gets the same bytes.
        self._memo: Memo[bytes, bytes] = Memo(_MEMO_SIZE)
        self._memo_second = -1

    def encode(self, echo: Mapping[str, Any] | None, key: bytes) -> bytes:
        """`render(echo)` as JSON bytes; `key` is the request body `echo` was parsed from.

        Rendering and encoding cost more than the rest of a mock answer, and clients send
        the same body again and again: the bytes are kept for the rest of the second.
        """
        second = int(time.time())
        if second != self._memo_second:
            self._memo.clear()
            self._memo_second = second
        encoded = self._memo.get(key)
        if encoded is None:
            encoded = dumps_json(self.render(echo))
            if len(key) <= _MEMO_KEY_MAX:
                self._memo.keep(key, encoded)
        return encoded

    def render(self, echo: Mapping[str, Any] | None = None, now: dt.datetime | None = None) -> Any:
        """A fresh value: timestamps set to `now` (UTC), echoed request fields copied in.

        An echoed value is used only when it fits the response property's schema, so the
        result stays valid for the spec.
        """
        value = orjson.loads(self._encoded) if self.stamps or echo else self.template
        if self.stamps:
            texts = self._times(now)
            for path, layout in self.stamps:
                if path:
                    _set(value, path, texts[layout])
                else:
                    value = texts[layout]  # the body itself is a timestamp
        if echo and isinstance(value, dict):
            for key, sent in echo.items():
                schema = self._echo.get(key)
                if schema is not None and self._fit(key, schema)(sent):
                    value[key] = sent
        return value

    def _fit(self, key: str, schema: Mapping[str, Any]) -> Check:
        """The property's whole schema as a check: an echoed value must fit at every depth
        (array items, nested objects), not only by its top-level type."""
        check = self._fits.get(key)
        if check is None:
            check = self._fits[key] = fits_check(schema)
        return check

    def stamped_keys(self) -> frozenset[str]:
        """Top-level properties that carry the current time (`CreatedAt`, `UpdatedAt`)."""
        return self._stamped

    def _times(self, now: dt.datetime | None) -> dict[str, str]:
        if now is not None:
            return {layout: now.strftime(layout) for _, layout in self.stamps}
        moment = dt.datetime.now(dt.UTC)
        second = int(moment.timestamp())
        if self._clock[0] != second:  # strftime once a second, not once a request
            self._clock = (second, {layout: moment.strftime(layout) for _, layout in self.stamps})
        return self._clock[1]


def synthesize(
    schema: Mapping[str, Any] | None,
    *,
    echo: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Any:
    """A value for `schema` (already dereferenced), echoing `echo`'s matching top-level fields."""
    return BodyPlan(schema).render(echo, now or dt.datetime.now(dt.UTC))


def fits_check(schema: Mapping[str, Any]) -> Check:
    """A yes/no check that a value is valid for `schema` (Draft 2020-12, ECMA patterns)."""
    fast = compile_check(schema)
    if fast is not None:
        return fast
    validator = make_validator(schema)

    def full(value: Any) -> bool:
        try:
            return bool(validator.is_valid(value))
        except Exception:  # an integer beyond 64 bits, a pattern regress refuses
            return False

    return full


def reshape(shape: Any, echo: Mapping[str, Any] | None, plan: BodyPlan) -> Any:
    """A recorded body (`shape`) made this request's answer: the fields that echo the
    request taken from `echo`, and the timestamps the server sets set to now (`plan` is
    the documented body's, `documented.plan_for`)."""
    if not isinstance(shape, dict):
        return shape
    template = plan.render(echo)
    if not isinstance(template, dict):
        return shape
    reshaped = dict(shape)
    for key in (*(echo or {}), *plan.stamped_keys()):
        if key in reshaped and key in template:
            reshaped[key] = template[key]
    return reshaped


def _set(value: Any, path: Path, text: str) -> None:
    for step in path[:-1]:
        value = value[step]
    value[path[-1]] = text


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        if isinstance(part, Mapping):
            merged.update(_properties(part))
    return merged


def _fits_type(value: Any, schema: Mapping[str, Any]) -> bool:
    """A cheap check that `value` suits `schema`: its type, enum and pattern."""
    if "enum" in schema and value not in schema["enum"]:
        return False
    pattern = schema.get("pattern")
    if isinstance(value, str) and isinstance(pattern, str) and not ecma_search(pattern, value):
        return False
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if kind is None:
        return True
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return False  # beyond what the portal (and orjson) can carry
    checks = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }
    return any(checks.get(str(k), False) for k in kinds)


def _value(
    schema: Mapping[str, Any], depth: int, name: str, path: Path, stamps: list[tuple[Path, str]]
) -> Any:
    layout = _timestamp_layout(schema, name)
    if layout is not None:
        stamps.append((path, layout))
        return _REFERENCE.strftime(layout)
    # The spec's own examples, when they fit their schema: some of Tyk's do not (an
    # example "code,token" for an enum of single values), and the mock must stay valid.
    candidates = [schema["example"]] if "example" in schema else []
    if isinstance(schema.get("examples"), list):
        candidates.extend(schema["examples"])
    for candidate in candidates:
        if _fits_type(candidate, schema):
            return candidate
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("allOf",):
        if schema.get(combinator):
            merged: dict[str, Any] = {}
            for part in schema[combinator]:
                part_value = _value(part, depth + 1, name, path, stamps)
                if isinstance(part_value, dict):
                    merged.update(part_value)
            return merged
    for combinator in ("oneOf", "anyOf"):
        if schema.get(combinator):
            return _value(schema[combinator][0], depth + 1, name, path, stamps)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        if depth >= _MAX_DEPTH:
            return {}
        return {
            key: _value(sub, depth + 1, key, (*path, key), stamps)
            for key, sub in (schema.get("properties") or {}).items()
        }
    if kind == "array":
        if depth >= _MAX_DEPTH:
            return []
        items = schema.get("items") or {}
        count = max(1, int(schema.get("minItems", 1)))
        return [_value(items, depth + 1, name, (*path, i), stamps) for i in range(count)]
    return _scalar(str(kind), schema, name)


def _scalar(kind: str, schema: Mapping[str, Any], name: str = "") -> Any:
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "string":
        minimum = int(schema.get("minLength", 0))
        # An id kept as a string (Tyk's posts) is still used as an integer path parameter:
        # a digit string serves both (clients and Schemathesis follow it into paths).
        text = "1" if name == "ID" or name.endswith(("ID", "Id")) else "string"
        if "pattern" in schema and not ecma_search(str(schema["pattern"]), text):
            text = "string"
        return text + "x" * max(0, minimum - len(text))
    return None


def _timestamp_layout(schema: Mapping[str, Any], name: str) -> str | None:
    """The strftime layout for a property that is a timestamp, one its schema accepts."""
    if schema.get("type") not in ("string", None):
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        return "%Y-%m-%dT%H:%M:%SZ"
    if fmt == "date":
        return "%Y-%m-%d"
    pattern = schema.get("pattern")
    example = schema.get("example")
    examples = schema.get("examples")
    if example is None and isinstance(examples, list) and examples:
        example = examples[0]  # OpenAPI 3.1's `examples` (Tyk's newer schemas use it)
    looks_like_time = name.endswith("At") or "date" in name.lower() or "time" in name.lower()
    if not (pattern and isinstance(example, str) and looks_like_time):
        return None
    for layout in _TIME_LAYOUTS:
        if ecma_search(str(pattern), _REFERENCE.strftime(layout)):
            return layout
    return None
