"""What a loaded spec is made of: operations, their parameters, bodies and credentials.

`proxy.spec.Spec` builds these from an OpenAPI document; validation, synthesis and the
sources read them. Schemas are compiled (`CompiledSchema`): a fast yes/no where
`proxy.fastcheck` compiles them, jsonschema for the messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxy.fastcheck import Check
from proxy.memo import Memo

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

#: Verdicts kept per operation (response verdicts here, request body verdicts in validation).
VERDICTS_MAX = 1024


class CompiledSchema:
    """A schema ready to check: a fast yes/no where it compiles, jsonschema for the errors.

    The jsonschema validator is built on first use (often never, on a valid-traffic path).
    """

    __slots__ = ("_fast", "_make", "_validator")

    def __init__(self, make: Callable[[], Validator], fast: Check | None = None) -> None:
        self._make = make
        self._validator: Validator | None = None
        self._fast = fast

    @property
    def validator(self) -> Validator:
        """The full jsonschema validator (for messages, and schemas with no fast path)."""
        if self._validator is None:
            self._validator = self._make()
        return self._validator

    def is_valid(self, instance: Any) -> bool:
        """True when `instance` is valid (the compiled fast path when there is one)."""
        if self._fast is not None:
            return self._fast(instance)
        return bool(self.validator.is_valid(instance))

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        """Every error jsonschema finds (only called once `is_valid` said no)."""
        return iter(self.validator.iter_errors(instance))


@dataclass(frozen=True, slots=True)
class Parameter:
    """One path, query, header or cookie parameter of an operation."""

    name: str
    location: str
    required: bool
    schema: Mapping[str, Any]
    validator: CompiledSchema


@dataclass(frozen=True, slots=True)
class MediaType:
    """A documented body: media type, its schema's compiled validator, examples."""

    media_type: str
    schema: Mapping[str, Any] | None
    validator: CompiledSchema | None
    examples: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SecurityScheme:
    """A credential an operation accepts (an OpenAPI security scheme, resolved)."""

    name: str
    kind: str  # apiKey, http, oauth2, openIdConnect, mutualTLS
    location: str  # header, query or cookie
    param: str  # the header, query parameter or cookie that carries it


@dataclass(slots=True)
class Operation:
    """One method on one path template, with everything needed to validate it."""

    method: str
    template: str
    operation_id: str
    parameters: tuple[Parameter, ...]
    request_body: tuple[MediaType, ...]
    request_body_required: bool
    responses: dict[str, tuple[MediaType, ...]]
    # Alternatives: any one requirement satisfied is enough; an empty one means anonymous.
    security: tuple[tuple[SecurityScheme, ...], ...]
    # Response verdicts by (status, Content-Type, Content-Encoding, body): see validation.
    verdicts: Memo[tuple[int, str | None, str | None, bytes], list[Any]] = field(
        default_factory=lambda: Memo(VERDICTS_MAX), repr=False, compare=False
    )

    #: The status a mock answers with: the lowest documented 2xx, else the lowest code.
    default_status: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        codes = sorted(int(c) for c in self.responses if c.isdigit())
        success = [code for code in codes if 200 <= code < 300]
        self.default_status = (success or codes or [200])[0]

    def response_for(self, status: int) -> tuple[str, tuple[MediaType, ...]] | None:
        """The documented response for a status: exact, then `4XX`-style ranges, then default."""
        for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
            if key in self.responses:
                return key, self.responses[key]
        return None


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """What a concrete path resolved to: an operation, or only the allowed methods."""

    operation: Operation | None
    path_params: dict[str, str]
    allowed: tuple[str, ...]
