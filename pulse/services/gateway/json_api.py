"""`JsonApi`: a small client of Pulse's own JSON HTTP APIs (the registry, the ingest API), as
the delivery tier calls them. Its calls are few, so each is one request with the standard
library's `http.client` in a worker thread (the event loop stays free); no HTTP client library
is added for them.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any, ClassVar
from urllib.parse import urlsplit

KEY_HEADER = "X-API-Key"


class ApiError(RuntimeError):
    """An API answered a request with an error; `status` is 0 when it did not answer."""

    service: ClassVar[str] = "api"

    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"{self.service} {method} {path}: {status or 'no answer'}: {detail}")
        self.status = status

    @property
    def retryable(self) -> bool:
        """Whether asking again later may succeed: no answer, or 503 (busy, no room)."""
        return self.status in (0, 503)


class JsonApi:
    """An API at `base_url` whose requests and answers are JSON, with an optional API key."""

    error: ClassVar[type[ApiError]] = ApiError

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 5.0) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._key = api_key
        self._timeout = timeout

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return await asyncio.to_thread(self._request, method, self._prefix + path, body)

    def _request(self, method: str, path: str, body: Any) -> Any:
        """One request on a fresh connection: the JSON answer, None for an empty one."""
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers[KEY_HEADER] = self._key
        factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = factory(self._netloc, timeout=self._timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except OSError as exc:
            raise self.error(method, path, 0, str(exc) or type(exc).__name__) from None
        finally:
            connection.close()
        if response.status >= 400:
            raise self.error(method, path, response.status, data.decode(errors="replace"))
        return json.loads(data) if data else None
