"""Cassettes of 1, 1,000 or 100,000 interactions, made without recording them.

Interaction `i` is the bench request for product `i` (so replay's index holds N distinct keys
and the load generator, drawing product ids from 1..N, always hits) with the stand-in's 201.
They are written with the gateway's own encoder, so the files are laid out exactly as
`portal-proxy record` would write them.
"""

from __future__ import annotations

from pathlib import Path

from proxy.cassette import Interaction, RecordedRequest, RecordedResponse
from proxy.storage import HEADER, encode_interaction

#: Where the recorded requests went (the stand-in's port in the bench).
RECORDED_ORIGIN = "http://127.0.0.1:18190"

RESPONSE_BODY = (
    b'{"Name":"foo","ID":11,"Description":"Web application","GrantType":"authorization_code",'
    b'"OktaAppType":"web","CreatedAt":"2023-06-23 21:02","UpdatedAt":"2023-06-23 21:02"}'
)


def interaction(product_id: int) -> Interaction:
    """The recorded exchange for `POST /portal-api/products/<product_id>/client_types`."""
    return Interaction(
        RecordedRequest(
            method="POST",
            uri=f"{RECORDED_ORIGIN}/portal-api/products/{product_id}/client_types",
            headers=(("Content-Type", "application/json"), ("Authorization", "REDACTED")),
            body=b'{"ID": 11}',
        ),
        RecordedResponse(
            status=201,
            reason="Created",
            headers=(("Content-Type", "application/json; charset=utf-8"),),
            body=RESPONSE_BODY,
        ),
    )


def write_cassette(directory: Path, name: str, count: int) -> Path:
    """Write `<directory>/<name>.yaml` with interactions for products 1..`count`."""
    path = directory / f"{name}.yaml"
    with path.open("wb") as out:
        out.write(HEADER)
        for product_id in range(1, count + 1):
            out.write(encode_interaction(interaction(product_id)))
    return path
