"""Cassette files: VCR.py's version-1 YAML, loaded fast and appended to safely.

One module per job: `format` (the layout we write, and encoding an interaction),
`items` (interactions from parsed data, in every form VCR.py writes), `loading` (files to
interactions), `writer` (the kill-safe append protocol), `lock` (one recorder per cassette),
`names` (cassette names and files). The names other modules use are re-exported here.
"""

from proxy.storage.format import (
    HEADER,
    CassetteError,
    decode_for_cassette,
    encode_interaction,
    interaction_to_dict,
)
from proxy.storage.items import interaction_from_dict
from proxy.storage.loading import gc_paused, load_cassette
from proxy.storage.lock import CassetteLockedError
from proxy.storage.names import NAME_MAX, cassette_path, validate_cassette_name
from proxy.storage.writer import CassetteWriter, redacted

__all__ = [
    "HEADER",
    "NAME_MAX",
    "CassetteError",
    "CassetteLockedError",
    "CassetteWriter",
    "cassette_path",
    "decode_for_cassette",
    "encode_interaction",
    "gc_paused",
    "interaction_from_dict",
    "interaction_to_dict",
    "load_cassette",
    "redacted",
    "validate_cassette_name",
]
