"""`IngestClient`: the ingest API as a node uses it, to forward its viewers' emoji."""

from __future__ import annotations

from typing import Any

from pulse.services.gateway.json_api import ApiError, JsonApi


class IngestError(ApiError):
    """The ingest API refused or did not answer a forwarded emoji."""

    service = "ingest"


class IngestClient(JsonApi):
    """The ingest API at `ingest.url`, with the node's key (`gateway.ingest_key`)."""

    error = IngestError

    async def post_emoji(self, reaction: dict[str, Any]) -> str:
        """Send one reaction; the event id the API assigned."""
        return str((await self._call("POST", "/v1/emoji", reaction))["event_id"])
