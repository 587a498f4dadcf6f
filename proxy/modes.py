"""The one table of modes: a mode is the list of sources that answer its requests.

This module is the only place (with start-up) that compares a mode's name. What a mode
needs is opened here, in `open_mode`, and closed again by `Opened.close`: its cassettes,
the upstream session and, in `record`, the cassette writer.

| mode    | sources, in order                                                           |
|---------|-----------------------------------------------------------------------------|
| mock    | cassette (if `--cassette`), state (`--state on`), refuse invalid, mock      |
| replay  | cassette, then miss (404) or, with `--on-miss mock`, refuse invalid, mock   |
| record  | `none`: cassette, miss; `new_episodes`: cassette, upstream + recorder;      |
|         | `all`: upstream + recorder (`once`: `none` if the cassette exists, else `all`) |
| proxy   | upstream                                                                    |

`--strict` puts "refuse invalid" in front of the upstream. In mock and replay, what a
cassette or the mock answers can be delayed (`--latency`, `Prefer: delay=`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from proxy.cassette import Cassette
from proxy.library import Library, cassette_paths
from proxy.recorder import Recorder
from proxy.redact import Redactor
from proxy.settings import Mode, RecordMode, Settings
from proxy.sources import Source
from proxy.sources.cassette import CassetteSource, MissSource
from proxy.sources.latency import Delayed
from proxy.sources.mock import MockSource
from proxy.sources.refuse import RefuseInvalid
from proxy.sources.upstream import UpstreamSource
from proxy.spec import Spec
from proxy.state import StateSource
from proxy.storage import cassette_path
from proxy.upstream import Upstream


@dataclass
class Opened:
    """What a mode opened at start: its sources and the resources they use."""

    library: Library
    sources: list[Source] = field(default_factory=list)
    upstream: Upstream | None = None
    recorder: Recorder | None = None
    record_mode: RecordMode | None = None  # as it applies to this run (`once` decided)
    state: StateSource | None = None  # the mock's memory (`--state on`), for /__proxy/state

    @property
    def forwards(self) -> bool:
        """True when requests the spec does not describe go upstream (with a Warning)."""
        return any(isinstance(source, UpstreamSource) for source in self.sources)

    async def close(self) -> None:
        """Close the sources that hold something, flush the recorder, close the upstream."""
        try:
            for source in self.sources:
                close = getattr(source, "close", None)
                if close is not None:
                    await close()
            if self.recorder is not None:
                await self.recorder.close()
        finally:
            if self.upstream is not None:
                await self.upstream.close()


@dataclass
class _Parts:
    settings: Settings
    spec: Spec
    redactor: Redactor
    pause_gc: bool

    def library(self, paths: list[Path], upstream: Upstream | None = None) -> Library:
        origin = (upstream.origin, upstream.prefix) if upstream is not None else None
        return Library.load(
            self.settings, self.spec, self.redactor, origin, paths, pause_gc=self.pause_gc
        )

    async def upstream(self) -> Upstream:
        settings = self.settings
        upstream = Upstream.from_settings(settings, self.spec.base_path)
        await upstream.start()
        return upstream

    def strict(self) -> list[Source]:
        return [RefuseInvalid("gateway")] if self.settings.strict else []

    def delayed(self, sources: list[Source]) -> Source:
        """The first of `sources` to answer, delayed by `--latency` or `Prefer: delay=`."""
        return Delayed(sources, self.settings.latency)


async def _mock(parts: _Parts) -> Opened:
    library = parts.library(cassette_paths(parts.settings, every_in_dir=False))
    settings = parts.settings
    state = StateSource(parts.spec, settings.state_limit) if settings.state == "on" else None
    remembers: list[Source] = [state] if state is not None else []
    # The mock's 401/422 refusals are the portal's answers too: they are delayed as well.
    sources = [CassetteSource(library), *remembers, RefuseInvalid("mock"), MockSource()]
    return Opened(library, [parts.delayed(sources)], state=state)


async def _replay(parts: _Parts) -> Opened:
    library = parts.library(cassette_paths(parts.settings, every_in_dir=True))
    sources: list[Source] = [CassetteSource(library)]
    if parts.settings.on_miss == "mock":
        sources += [RefuseInvalid("mock"), MockSource(shapes=library)]
    # A miss is the gateway's own error: never delayed.
    return Opened(library, [parts.delayed(sources), MissSource(library)])


async def _record(parts: _Parts) -> Opened:
    settings = parts.settings
    path = cassette_path(settings.cassette_dir, settings.cassette or "default")
    record_mode = settings.record_mode
    if record_mode == "once":  # VCR.py's meaning: decided once, when the proxy starts
        record_mode = "none" if path.exists() else "all"
    upstream = await parts.upstream()
    library = parts.library([path] if path.exists() else [], upstream)
    opened = Opened(library, upstream=upstream, record_mode=record_mode)
    if record_mode == "none":
        opened.sources = [CassetteSource(library), MissSource(library)]
        return opened
    replays_into: Cassette | None = None
    if record_mode == "new_episodes":
        if not library.cassettes:
            library.cassettes.append(Cassette(path.stem, settings.match_on))
        replays_into = library.cassettes[0]
    try:
        opened.recorder = await Recorder.open(path, library, replays_into)
    except BaseException:
        await opened.close()
        raise
    forward = UpstreamSource(upstream, opened.recorder, strict=settings.strict)
    replays = [CassetteSource(library)] if replays_into is not None else []
    opened.sources = [*replays, *parts.strict(), forward]
    return opened


async def _proxy(parts: _Parts) -> Opened:
    upstream = await parts.upstream()
    library = parts.library([], upstream)
    forward = UpstreamSource(upstream, None, strict=parts.settings.strict)
    return Opened(library, [*parts.strict(), forward], upstream=upstream)


MODES: dict[Mode, Callable[[_Parts], Awaitable[Opened]]] = {
    "mock": _mock,
    "replay": _replay,
    "record": _record,
    "proxy": _proxy,
}


#: Whether `--cors auto` answers browsers in a mode: yes where the gateway stands
#: in for the portal; no in front of one, whose own CORS headers then pass through untouched.
CORS_BY_DEFAULT: dict[Mode, bool] = {
    "mock": True,
    "replay": True,
    "record": False,
    "proxy": False,
}


def cors_enabled(settings: Settings) -> bool:
    """True when the gateway answers CORS for this run (`--cors`, `auto` decided by mode)."""
    if settings.cors == "auto":
        return CORS_BY_DEFAULT[settings.mode]
    return settings.cors == "on"


def redactor_for(settings: Settings, spec: Spec) -> Redactor:
    """The one redactor of a gateway: the spec's credentials and `--filter-header`. Cassettes
    and the violations page's kept exchanges are redacted by the same one."""
    return Redactor.for_spec(spec.document, settings.filter_header)


async def open_mode(
    settings: Settings,
    spec: Spec,
    *,
    pause_gc: bool = False,
    redactor: Redactor | None = None,
) -> Opened:
    """Open what `settings.mode` needs and build its sources (`redactor`: see `redactor_for`,
    which builds it when not given)."""
    redactor = redactor or redactor_for(settings, spec)
    return await MODES[settings.mode](_Parts(settings, spec, redactor, pause_gc))
