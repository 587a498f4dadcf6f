"""Record mode's writer: each forwarded exchange appended to the cassette, redacted.

What reaches disk is what VCR.py would have stored for a client calling the upstream
directly: the upstream's absolute URI, the headers it got and sent (secrets redacted), and
the body decoded when it was compressed (`decode_for_cassette`), for readable cassettes.
"""

from __future__ import annotations

from pathlib import Path

from proxy.cassette import Cassette, Interaction, RecordedResponse
from proxy.exchange import Exchange
from proxy.library import Library, plain_pairs
from proxy.storage import CassetteWriter, decode_for_cassette
from proxy.upstream import UpstreamResponse


class Recorder:
    """Appends exchanges to one cassette; `replays_into`, when given, also gets each one
    (`new_episodes` replays what this run recorded)."""

    def __init__(
        self, writer: CassetteWriter, library: Library, replays_into: Cassette | None
    ) -> None:
        self.writer = writer
        self.library = library
        self.replays_into = replays_into
        self.recorded = 0  # interactions recorded by this run

    @classmethod
    async def open(cls, path: Path, library: Library, replays_into: Cassette | None) -> Recorder:
        """Lock the cassette at `path` and open it for appending."""
        writer = await CassetteWriter.open(path, redactor=library.redactor)
        return cls(writer, library, replays_into)

    @property
    def path(self) -> Path:
        """The cassette file being written."""
        return self.writer.path

    def record(self, ex: Exchange, answer: UpstreamResponse) -> None:
        """Append the exchange to the cassette (redacted, body decoded for readability)."""
        headers, body = decode_for_cassette(plain_pairs(answer.headers.items()), answer.body)
        redacted = tuple(self.library.redactor.headers(headers))
        response = RecordedResponse(answer.status, answer.reason, redacted, body)
        interaction = Interaction(self.library.recorded_request(ex), response)
        self.writer.append(interaction)
        self.recorded += 1
        if self.replays_into is not None:
            # Only new_episodes replays what this run recorded; `all` never looks anything
            # up, so it keeps nothing in memory (a long recording stays flat in RSS).
            self.replays_into.add(interaction)

    async def close(self) -> None:
        """Flush what is buffered and release the cassette."""
        await self.writer.close()
