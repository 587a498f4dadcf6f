"""The gateway's state and the steps every mode is built from.

A mode (`proxy/modes/`) is a short function over these steps: look a request up in the
cassettes, replay an interaction, forward to the upstream, record an exchange, synthesize a
body from the spec. The `Gateway` owns the long-lived pieces (spec, cassettes, writer,
upstream session, reporter) and is created and closed by `proxy.app`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from proxy.cassette import Cassette, Interaction, RecordedRequest, RecordedResponse
from proxy.documented import body_response
from proxy.exchange import Exchange
from proxy.problems import problem
from proxy.redact import Redactor
from proxy.report import Reporter
from proxy.responses import Prepared, json_bytes_response, json_response, passthrough, prepare
from proxy.settings import Settings
from proxy.spec import MediaType, Spec
from proxy.state import StateSource
from proxy.storage import (
    CassetteWriter,
    cassette_path,
    decode_for_cassette,
    gc_paused,
    load_cassette,
)
from proxy.synth import BodyPlan, reshape
from proxy.upstream import Upstream, UpstreamError, UpstreamResponse, end_to_end
from proxy.validation import find_media, is_json_media, validate_response

log = logging.getLogger("portal_proxy")

#: The origin used for matching when no upstream is configured and no cassette names one.
PLACEHOLDER_ORIGIN = "http://portal.invalid"


class Gateway:
    """Everything one running gateway holds; built from `Settings` by `proxy.app`."""

    def __init__(self, settings: Settings, spec: Spec, reporter: Reporter) -> None:
        self.settings = settings
        self.spec = spec
        self.reporter = reporter
        self.redactor = Redactor.from_security_schemes(
            spec.document.get("components", {}).get("securitySchemes", {}),
            extra_headers=settings.filter_header,
        )
        self.cassettes: list[Cassette] = []
        self.writer: CassetteWriter | None = None
        self.upstream: Upstream | None = None
        if settings.upstream:
            self.upstream = Upstream(settings.upstream, spec.base_path, settings.upstream_timeout)
        self.origin = self.upstream.origin if self.upstream else PLACEHOLDER_ORIGIN
        self.host = self.origin.split("://", 1)[1]
        self.prefix = self.upstream.prefix if self.upstream else ""
        # Record mode as it applies to this run: `once` is decided at start (VCR.py's
        # meaning): replay an existing cassette, or record everything into a new one.
        self.record_mode = settings.record_mode
        self.recorded = 0  # interactions recorded by this run
        self._match_headers = "headers" in settings.match_on
        self._plans: dict[int, BodyPlan] = {}  # mock bodies, worked out once per media type
        # Passthrough headers per recorded response (interactions live as long as we do).
        self._prepared: dict[int, Prepared] = {}
        # issue 13: the stateful mock's source (a source of its own in the new pipeline).
        self.state = (
            StateSource(spec, settings.state_limit)
            if settings.mode == "mock" and settings.state == "on"
            else None
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Load cassettes, open the recorder and the upstream session."""
        settings = self.settings
        if settings.mode in ("mock", "replay", "record"):
            self.cassettes = self._load_cassettes()
        if settings.mode == "record":
            path = self.record_path()
            if self.record_mode == "once":
                self.record_mode = "none" if path.exists() else "all"
            if self.record_mode in ("all", "new_episodes"):
                self.writer = await CassetteWriter.open(path)
                if not self.cassettes:
                    self.cassettes = [Cassette(path.stem, settings.match_on)]
        if not self.upstream and self.cassettes:
            self.origin, self.prefix = self._recorded_origin()
            self.host = self.origin.split("://", 1)[1]
        if self.upstream is not None:
            await self.upstream.start()
        await self.reporter.start()

    async def close(self) -> None:
        """Flush recordings, then close the upstream session and the reporter."""
        if self.writer is not None:
            await self.writer.close()
            self.writer = None
        if self.upstream is not None:
            await self.upstream.close()
        await self.reporter.close()

    def record_path(self) -> Path:
        """The file `record` writes to."""
        return cassette_path(self.settings.cassette_dir, self.settings.cassette or "default")

    def _load_cassettes(self) -> list[Cassette]:
        settings = self.settings
        if settings.cassette is not None:
            paths = [cassette_path(settings.cassette_dir, settings.cassette)]
            paths = [p for p in paths if p.exists()]
        elif settings.mode == "replay" and settings.cassette_dir.is_dir():
            paths = sorted(settings.cassette_dir.glob("*.yaml"))
        else:
            paths = []
        with gc_paused():  # indexing makes many small objects, none in a cycle
            loaded = [Cassette(path.stem, settings.match_on, load_cassette(path)) for path in paths]
        if loaded:
            # Cassettes live as long as the process: move them out of the collector's sight,
            # or every full collection walks all of them (100,000 interactions: millions of
            # objects) while requests wait.
            gc.freeze()
        return loaded

    def _recorded_origin(self) -> tuple[str, str]:
        for cassette in self.cassettes:
            for interaction in cassette.interactions:
                uri = interaction.request.uri
                origin, _, rest = uri.partition("://")
                host, _, path = rest.partition("/")
                base = self.spec.base_path
                path = "/" + path.split("?", 1)[0]
                prefix = path[: path.find(base)] if base and base in path else ""
                return f"{origin}://{host}", prefix
        return PLACEHOLDER_ORIGIN, ""

    # -- cassettes ---------------------------------------------------------------------------

    def recorded_request(self, ex: Exchange, *, lookup: bool = False) -> RecordedRequest:
        """The request as a cassette stores it: upstream URI, redacted headers, raw body.

        For a `lookup`, headers are left out unless a matcher compares them (the hot path
        of replay need not build what it does not compare).
        """
        uri = self.redactor.uri(f"{self.origin}{self.prefix}{ex.raw_path_qs}")
        if lookup and not self._match_headers:
            return RecordedRequest(ex.request.method, uri, (), ex.body)
        # The headers the upstream got: end-to-end ones, with its own Host.
        sent = [
            (name, self.host if name.lower() == "host" else value)
            for name, value in end_to_end(plain_pairs(ex.request.headers.items()))
        ]
        headers = tuple(self.redactor.headers(sent))
        return RecordedRequest(ex.request.method, uri, headers, ex.body)

    def lookup(self, ex: Exchange) -> Interaction | None:
        """The next recorded interaction for this request, if any cassette has one."""
        if not self.cassettes:
            return None
        wanted = self.recorded_request(ex, lookup=True)
        for cassette in self.cassettes:
            found = cassette.find(wanted)
            if found is not None:
                return found
        return None

    def replay(self, ex: Exchange, interaction: Interaction) -> web.Response:
        """Answer with a recorded response, validated against the spec (once, then cached)."""
        recorded = interaction.response
        if ex.operation is not None:
            if interaction.checked is None:
                interaction.checked = validate_response(
                    ex.operation, recorded.status, CIMultiDict(recorded.headers), recorded.body
                )
            ex.violations.extend(interaction.checked)
        ex.source = "cassette"
        prepared = self._prepared.get(id(recorded))
        if prepared is None:
            prepared = self._prepared[id(recorded)] = prepare(recorded.headers)
        return passthrough(
            recorded.status,
            recorded.reason,
            recorded.headers,
            recorded.body,
            "cassette",
            refresh_date=True,
            prepared=prepared,
        )

    def miss(self, ex: Exchange) -> web.Response:
        """A replay miss: 404 problem+json naming the nearest recordings and what differed."""
        wanted = self.recorded_request(ex)
        nearest: list[Any] = []
        for cassette in self.cassettes:
            nearest.extend(cassette.nearest(wanted))
        nearest.sort(key=lambda near: len(near["mismatches"]))
        names = ", ".join(c.name for c in self.cassettes) or "(none loaded)"
        return problem(
            "replay-miss",
            f"no recorded interaction in cassette {names} matches {ex.request.method} "
            f"{ex.request.rel_url.raw_path} on {', '.join(self.settings.match_on)}",
            nearest=nearest[:3],
            cassettes=[c.name for c in self.cassettes],
            match_on=list(self.settings.match_on),
        )

    def nearest_interaction(self, ex: Exchange) -> Interaction | None:
        """A recorded interaction of the same operation, to shape a mock answer."""
        if ex.operation is None:
            return None
        for cassette in self.cassettes:
            for interaction in reversed(cassette.interactions):
                request = interaction.request
                path = request.uri.split("://", 1)[-1].partition("/")[2]
                route = self.spec.match(request.method, "/" + path.split("?", 1)[0])
                same = route is not None and route.operation is ex.operation
                if same and 200 <= interaction.response.status < 300:
                    return interaction
        return None

    # -- upstream ----------------------------------------------------------------------------

    async def forward(self, ex: Exchange) -> UpstreamResponse | web.Response:
        """Send the request upstream; a failure becomes a 502/504 problem response."""
        assert self.upstream is not None
        try:
            answer = await self.upstream.send(
                ex.request.method, ex.raw_path_qs, ex.request.headers.items(), ex.body
            )
        except UpstreamError as exc:
            kind = "upstream-timeout" if exc.kind == "timeout" else "upstream-unreachable"
            return problem(kind, exc.detail, upstream=self.upstream.origin)
        ex.upstream_latency = answer.latency
        ex.source = "upstream"
        if ex.operation is not None:
            ex.violations.extend(
                validate_response(ex.operation, answer.status, answer.headers, answer.body)
            )
        return answer

    def record(self, ex: Exchange, answer: UpstreamResponse) -> None:
        """Append the exchange to the cassette (redacted, body decoded for readability)."""
        if self.writer is None:
            return
        headers, body = decode_for_cassette(plain_pairs(answer.headers.items()), answer.body)
        response = RecordedResponse(
            answer.status, answer.reason, tuple(self.redactor.headers(headers)), body
        )
        interaction = Interaction(self.recorded_request(ex), response)
        self.writer.append(interaction)
        self.recorded += 1
        if self.record_mode == "new_episodes":
            # Only new_episodes replays what this run recorded; `all` never looks anything
            # up, so it keeps nothing in memory (a long recording stays flat in RSS).
            self.cassettes[0].add(interaction)

    # -- mock --------------------------------------------------------------------------------

    def _plan(self, media: MediaType) -> BodyPlan:
        plan = self._plans.get(id(media))
        if plan is None:
            plan = self._plans[id(media)] = BodyPlan(media.schema)
        return plan

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
        if not media_types:
            response = web.Response(status=chosen)
            response.headers["X-Portal-Proxy-Source"] = "mock"
            ex.source = "mock"
            return response
        media = find_media(media_types, "application/json") or media_types[0]
        echo = ex.parsed.value if isinstance(ex.parsed.value, dict) else None
        if not is_json_media(media.media_type) and example is None:
            # issue 13: a JPEG, YAML, zip or text body, as documented (proxy.documented).
            ex.source = "mock"
            return body_response(chosen, media, self._plan(media).render(echo), "mock")
        if example is not None:
            if example not in media.examples:
                known = ", ".join(media.examples) or "none"
                return problem(
                    "bad-request",
                    f"no example named {example!r} for status {chosen} of "
                    f"{operation.operation_id}; examples: {known}",
                )
            body = media.examples[example]
        elif shape is not None:
            body = _reshape(shape, echo, media.schema)
        else:
            # The request body keys the plan's memo; without an echo, every body renders alike.
            key = ex.body if echo is not None else b""
            encoded = self._plan(media).encode(echo, key)
            ex.source = "mock"
            return json_bytes_response(chosen, encoded, "mock")
        ex.source = "mock"
        return json_response(chosen, body, "mock")


def plain_pairs(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with plain `str` names (multidict's `istr` is not a JSON key to orjson)."""
    return [(str(name), value) for name, value in items]


def _reshape(shape: Any, echo: dict[str, Any] | None, schema: Any) -> Any:
    """A recorded body with the request's echoed fields taken from this request."""
    # issue 13: `synth.reshape` also sets CreatedAt/UpdatedAt to now (as the plain mock does).
    return reshape(shape, echo, schema)
