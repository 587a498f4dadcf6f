"""Path templates to operations: which operation a concrete request path is.

OpenAPI's rules: a concrete path wins over a templated one, and among templates the one with
more literal segments wins. Matches are kept in a bounded memo: a scan of many ids must not
grow memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from proxy.memo import Memo
from proxy.operations import Operation, RouteMatch

#: Recently matched (method, path) pairs kept; the cache is emptied when it fills.
ROUTE_CACHE = 4096


@dataclass(slots=True)
class Route:
    """One path template and its operations by (lower case) method."""

    template: str
    regex: re.Pattern[str] | None  # None for a template with no parameters
    names: list[str]
    literal_segments: int
    operations: dict[str, Operation] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()  # the methods of `operations`, upper case


class Routes:
    """Every path template of a spec, matched in OpenAPI's order."""

    def __init__(self) -> None:
        self._literal: dict[str, Route] = {}
        self._templated: list[Route] = []
        self._memo: Memo[tuple[str, str], RouteMatch] = Memo(ROUTE_CACHE)

    def add(self, template: str, operations: dict[str, Operation]) -> None:
        """Add a path template with its operations (by lower case method)."""
        route = Route(
            template,
            _template_regex(template),
            _template_names(template),
            _literal_count(template),
            operations,
            tuple(method.upper() for method in operations),
        )
        if route.regex is None:
            self._literal[template] = route
        else:
            self._templated.append(route)
            # Concrete paths win over templated ones; more literal segments first.
            self._templated.sort(key=lambda r: -r.literal_segments)

    def match(self, method: str, relative: str) -> RouteMatch | None:
        """The operation for `method` on a path below the base path, or the allowed methods
        when the path exists without it; None for a path no template matches."""
        key = (method, relative)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        found = self._match(method, relative)
        if found is not None:
            self._memo.keep(key, found)
        return found

    def _match(self, method: str, relative: str) -> RouteMatch | None:
        route = self._literal.get(relative)
        params: dict[str, str] = {}
        if route is None:
            for candidate in self._templated:
                assert candidate.regex is not None
                found = candidate.regex.fullmatch(relative)
                if found:
                    route = candidate
                    values = found.groups()
                    params = {n: unquote(v) for n, v in zip(candidate.names, values, strict=True)}
                    break
        if route is None:
            return None
        return RouteMatch(route.operations.get(method.lower()), params, route.allowed)


def _template_regex(template: str) -> re.Pattern[str] | None:
    if "{" not in template:
        return None
    parts = re.split(r"\{([^}/]+)\}", template)
    pattern = ""
    for index, part in enumerate(parts):
        # Even parts are literal text, odd parts parameter names. A parameter matches any
        # segment, even an empty one, so that `/products//x` is a violation, not a 404.
        pattern += re.escape(part) if index % 2 == 0 else f"(?P<p{index // 2}>[^/]*)"
    return re.compile(pattern)


def _template_names(template: str) -> list[str]:
    # Regex group names must be identifiers and OpenAPI parameter names need not be, so
    # groups are numbered and mapped back to the names here.
    return re.findall(r"\{([^}/]+)\}", template)


def _literal_count(template: str) -> int:
    return sum(1 for segment in template.split("/") if segment and "{" not in segment)
