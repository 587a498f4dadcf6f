"""One aiohttp resource for every path: the gateway routes by its spec, not by the router.

aiohttp's router would match a catch-all `/{path:.*}` with a regular expression and unquote
its part into a dict on every request, only for the gateway to route the path again by the
spec (`proxy.routes`); that was several percent of a replay. This resource answers every
path with the one route, through aiohttp's public `AbstractResource` interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sized

from aiohttp import hdrs, web
from yarl import URL

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ExpectHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


class Everything(web.AbstractResource, Sized):
    """Matches every path and method with one route, indexed under `prefix` (`/` for all:
    aiohttp looks paths up from their longest prefix down, so the base path is found first).
    """

    def __init__(
        self,
        prefix: str,
        handler: Handler,
        expect_handler: ExpectHandler | None = None,
    ) -> None:
        super().__init__()
        self._prefix = prefix.rstrip("/") or "/"
        self._route = web.ResourceRoute(hdrs.METH_ANY, handler, self, expect_handler=expect_handler)

    @property
    def canonical(self) -> str:
        """The prefix this resource is indexed under."""
        return self._prefix

    def url_for(self, **kwargs: str) -> URL:
        """The prefix as a URL (nothing names this resource's paths)."""
        return URL.build(path=self._prefix)

    async def resolve(
        self, request: web.Request
    ) -> tuple[web.UrlMappingMatchInfo | None, set[str]]:
        """Every request matches; the handler routes it by the spec."""
        return web.UrlMappingMatchInfo({}, self._route), {hdrs.METH_ANY}

    def add_prefix(self, prefix: str) -> None:
        """Sub-applications are not used by the gateway."""
        raise NotImplementedError("the gateway's resource is not for sub-applications")

    def get_info(self) -> dict[str, str]:  # type: ignore[override]
        """What `router.resources()` shows of it."""
        return {"prefix": self._prefix}

    def raw_match(self, path: str) -> bool:
        """Never merged with a resource added for a given path."""
        return False

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[web.ResourceRoute]:
        return iter([self._route])
