"""Answers synthesized from the spec: the operation's first documented 2xx, spec-valid.

A `Prefer` header (Prism's convention) picks a documented status (`code=422`) or a named
example (`example=bad`). With `shapes` (replay's `--on-miss mock`), an answer is shaped by
the newest recording of the same operation: its body, with the fields that echo the request
(`ID`) taken from this request. No peer tool generalizes from one recording.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from proxy.documented import body_response, pick_media, plan_for
from proxy.exchange import Exchange
from proxy.library import Library
from proxy.problems import problem
from proxy.responses import empty_response, json_bytes_response, json_response
from proxy.spec import Operation
from proxy.synth import reshape
from proxy.validation import is_json_media, parse_json


class MockSource:
    """Synthesizes an answer for every operation of the spec; passes other requests."""

    def __init__(self, shapes: Library | None = None) -> None:
        self.shapes = shapes
        # The recording each operation's answers are shaped by, found and parsed once: the
        # library of a replay does not change while it runs.
        self._shapes: dict[int, tuple[int, Any] | None] = {}

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """A spec-valid answer (shaped by a recording when there is one to shape by)."""
        operation = ex.operation
        if operation is None:
            return None
        if self.shapes is not None:
            found = self._shape_of(operation)
            if found is not None:
                return self.synthesize(ex, status=found[0], shape=found[1])
        prefer = parse_prefer(ex.request.headers.get("Prefer", ""))
        code = prefer.get("code")
        status = int(code) if code is not None and code.isdigit() else None
        return self.synthesize(ex, status=status, example=prefer.get("example"))

    def _shape_of(self, operation: Operation) -> tuple[int, Any] | None:
        key = id(operation)
        if key not in self._shapes:
            assert self.shapes is not None
            nearest = self.shapes.example_of(operation)
            if nearest is None:
                self._shapes[key] = None
            else:
                parsed = parse_json(nearest.response.body)
                value = parsed.value if parsed.present else None
                self._shapes[key] = (nearest.response.status, value)
        return self._shapes[key]

    def synthesize(
        self,
        ex: Exchange,
        status: int | None = None,
        example: str | None = None,
        shape: Any = None,
    ) -> web.Response:
        """A spec-valid response for the operation: its first 2xx unless `status` is given."""
        operation = ex.operation
        assert operation is not None
        chosen = status if status is not None else operation.default_status
        documented = operation.response_for(chosen)
        if documented is None:
            codes = ", ".join(operation.responses)
            return problem(
                "bad-request",
                f"status {chosen} is not documented for {operation.operation_id}; "
                f"documented: {codes}",
            )
        _, media_types = documented
        ex.source = "mock"
        if not media_types:
            return empty_response(chosen, "mock")
        media = pick_media(media_types)
        plan = plan_for(media.schema)
        echo = ex.parsed.value if isinstance(ex.parsed.value, dict) else None
        if not is_json_media(media.media_type) and example is None:
            # A JPEG, YAML, zip or text body, as documented (proxy.documented).
            return body_response(chosen, media, plan.render(echo), "mock")
        if example is not None:
            if example not in media.examples:
                known = ", ".join(media.examples) or "none"
                ex.source = "gateway"
                return problem(
                    "bad-request",
                    f"no example named {example!r} for status {chosen} of "
                    f"{operation.operation_id}; examples: {known}",
                )
            return json_response(chosen, media.examples[example], "mock")
        if shape is not None:
            # The recording's body, with the echoed fields and the server's timestamps new.
            return json_response(chosen, reshape(shape, echo, plan), "mock")
        # The request body keys the plan's memo; without an echo, every body renders alike.
        key = ex.body if echo is not None else b""
        return json_bytes_response(chosen, plan.encode(echo, key), "mock")


def parse_prefer(header: str) -> dict[str, str]:
    """`Prefer: code=422, example=bad` -> {"code": "422", "example": "bad"} (RFC 7240 style)."""
    preferences: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name and value:
            preferences[name.strip().lower()] = value.strip().strip('"')
    return preferences
