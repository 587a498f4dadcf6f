"""JSON pointers (RFC 6901) into the loaded document: follow one, escape a token for one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote


def follow(document: Any, pointer: str) -> Any:
    """What a JSON pointer (RFC 6901, percent-encoded as a URI fragment) points to.

    Follows it as `referencing` does; a pointer to nowhere raises `LookupError`, or a
    `ValueError`/`TypeError` when it walks into an array with a name or into a scalar.
    """
    node = document
    if not pointer:
        return node
    for token in unquote(pointer[1:]).split("/"):
        if isinstance(node, Sequence):  # strings too, as `referencing` has it
            node = node[int(token)]
        else:
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def escape(token: str) -> str:
    """Escape a JSON pointer token (RFC 6901) for use inside a URI fragment."""
    escaped = token.replace("~", "~0").replace("/", "~1")
    # Characters that are not allowed raw in a URI fragment are percent-encoded;
    # `referencing` unquotes the fragment before following the pointer.
    return re.sub(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@]", lambda m: f"%{ord(m.group()):02X}", escaped)
