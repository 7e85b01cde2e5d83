"""`pulse simulate --via-api`: concurrent HTTP clients send the simulated events through the
ingest API instead of producing them to Kafka, one request per event (docs/ARCHITECTURE.md,
"Simulating traffic")."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

from pulse.config import IngestConfig
from pulse.simulate.records import Send

QUEUE_PER_CLIENT = 16  # records waiting per client: enough to keep each connection busy
REQUEST_TIMEOUT = 10.0  # seconds for one answer
RECONNECT_PATIENCE = 10.0  # seconds a client keeps re-connecting before it gives the run up
HEALTH_POLL = 0.2  # seconds between /health probes while waiting for the API at start
EXCERPT = 300  # characters of an unexpected answer shown in the summary

# Domains whose endpoint assigns the event id: their events are sent without one.
ASSIGNED_IDS = frozenset({"emoji"})
# What a malformed record is expected to get: refused for its body (422; 413 when it is over
# `ingest.max_body_bytes`). Any other answer to one, and anything but 202 to a good one, is
# unexpected: counted, shown with its body, and the run fails.
REFUSALS_OF_MALFORMED = frozenset({400, 413, 415, 422})


class ApiClientError(RuntimeError):
    """The clients cannot start: no API key, or the API does not answer; says what to do."""


@dataclass(frozen=True)
class ApiOptions:
    """`--via-api` and its options, as given on the command line."""

    clients: int = 4
    url: str | None = None  # default: `ingest.host` and `ingest.port` of the configuration
    wait: float = 10.0  # seconds to wait for the API to answer /health before giving up


def ingest_url(ingest: IngestConfig) -> str:
    """The API's base URL from the configuration; a listen-on-all address becomes loopback."""
    host = "127.0.0.1" if ingest.host in ("0.0.0.0", "::", "") else ingest.host
    return f"http://{f'[{host}]' if ':' in host else host}:{ingest.port}"


def endpoint(domain: str, key: bytes | None = None) -> str:
    """The path a domain's event is posted to; a product's names its id (the record's key)."""
    if domain == "emoji":
        return "/v1/emoji"
    if domain == "product":
        product_id = "{id}" if key is None else quote(key.decode("utf-8", "replace"), safe="")
        return f"/v1/products/{product_id}"
    return f"/v1/events/{domain}"


def retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds to wait from a `Retry-After` header: delta seconds or an HTTP date."""
    if value is None:
        return default
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError):
        return default


@dataclass
class Tally:
    """What the API answered for one domain's events."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # malformed ones, by "status reason"
    unexpected: Counter[str] = field(default_factory=Counter)  # anything else but 202, likewise
    examples: dict[str, str] = field(default_factory=dict)  # the first body per unexpected kind
    retries: Counter[str] = field(default_factory=Counter)  # "503 queue_full", "connection"
    unsent: int = 0  # queued, then given up (Ctrl-C twice, or the run failed)

    def lines(self, sent: int) -> list[str]:
        """The summary of the answers, under the stream's line."""
        text = f"  sent {sent:,}: accepted {self.accepted:,} (202)"
        rejected = sum(self.rejected.values())
        text += f"; rejected {rejected:,}"
        if rejected:
            text += f" malformed ({_counts(self.rejected)})"
        text += f"; retries {sum(self.retries.values()):,}"
        if self.retries:
            text += f" ({_counts(self.retries)})"
        lines = [text]
        if self.unexpected:
            lines.append(
                f"  unexpected {sum(self.unexpected.values()):,}: {_counts(self.unexpected)}"
            )
            lines += [f"    {kind}: {body}" for kind, body in self.examples.items()]
        if self.unsent:
            lines.append(f"  not sent {self.unsent:,}")
        return lines

    @property
    def failed(self) -> bool:
        """Whether anything went other than expected."""
        return bool(self.unexpected or self.unsent)


class ApiClients:
    """`clients` threads, one keep-alive connection each, that post queued records to the API.

    The runner's destination for `--via-api` (see `runner.Destination`): `sender(domain)` queues
    a domain's records, `close()` waits until every queued record is answered.
    """

    assigned_ids = ASSIGNED_IDS

    def __init__(self, url: str, key: str, clients: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiClientError(f"--api-url: not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self._parts = parts
        self._prefix = parts.path.rstrip("/")
        self._headers = {"X-API-Key": key, "Content-Type": "application/json"}
        self._queue: queue.Queue[tuple[str, str, bytes, str | None] | None] = queue.Queue(
            maxsize=clients * QUEUE_PER_CLIENT
        )
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self.tallies: dict[str, Tally] = {}
        self.fatal: str | None = None
        self._threads = [
            threading.Thread(target=self._run_client, name=f"api-client-{n}", daemon=True)
            for n in range(clients)
        ]

    @classmethod
    def connect(cls, ingest: IngestConfig, options: ApiOptions) -> ApiClients:
        """Clients of the API at `options.url` (default from `ingest`), with the first key of
        `ingest.api_keys`, started once the API answers /health (within `options.wait` s)."""
        if not ingest.api_keys:
            raise ApiClientError(
                "no API key is configured; set PULSE_INGEST__API_KEYS=key1[,key2...] "
                "(the clients use the first)"
            )
        key = ingest.api_keys[0].get_secret_value()
        clients = cls(options.url or ingest_url(ingest), key, options.clients)
        clients.wait_until_healthy(options.wait)
        for thread in clients._threads:
            thread.start()
        return clients

    def wait_until_healthy(self, wait: float) -> None:
        """Raise `ApiClientError` unless GET /health answers 200 within `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            connection = self._connection()
            try:
                connection.request("GET", self._prefix + "/health")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    return
                problem = f"GET /health answered {response.status}"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            finally:
                connection.close()
            if time.monotonic() + HEALTH_POLL > deadline:
                raise ApiClientError(
                    f"the ingest API at {self.url} does not answer ({problem}); start it with "
                    "`pulse serve ingest`, or pass --api-url"
                )
            time.sleep(HEALTH_POLL)

    def label(self, domain: str) -> str:
        """Where a domain's events go, for the summary."""
        return self.url + endpoint(domain)

    def sender(self, domain: str) -> Send:
        """Queue one record of `domain` for the clients; blocks while the queue is full."""
        put = self._queue.put
        with self._lock:
            self.tallies.setdefault(domain, Tally())

        def send(key: bytes | None, value: bytes, kind: str | None) -> None:
            put((domain, endpoint(domain, key), value, kind))

        return send

    def failure(self) -> str | None:
        """Why the run must stop (a refused key, an API that went away), or None."""
        return self.fatal

    def close(self) -> int:
        """Let the clients answer every queued record, then stop them; the exit code.

        Ctrl-C meanwhile gives the queued records up (counted as not sent) and returns 130.
        """
        code = 0
        try:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
        except KeyboardInterrupt:
            self._abort.set()
            for _ in self._threads:
                self._queue.put(None)  # room: aborted clients drain the queue without sending
            for thread in self._threads:
                thread.join()
            code = 130
        if self.fatal:
            return 1
        if code == 0 and any(tally.failed for tally in self.tallies.values()):
            return 1
        return code

    def report(self, domain: str, sent: int) -> list[str]:
        """Summary lines of the answers to a domain's `sent` events."""
        lines = self.tallies[domain].lines(sent)
        if self.fatal:
            lines.append(f"  stopped: {self.fatal}")
        return lines

    def _connection(self) -> http.client.HTTPConnection:
        kind = (
            http.client.HTTPSConnection
            if self._parts.scheme == "https"
            else http.client.HTTPConnection
        )
        return kind(self._parts.hostname or "", self._parts.port, timeout=REQUEST_TIMEOUT)

    def _run_client(self) -> None:
        connection = self._connection()
        try:
            while (item := self._queue.get()) is not None:
                domain, path, body, kind = item
                if self._abort.is_set():
                    self._count(domain, unsent=True)
                    continue
                self._deliver(connection, domain, self._prefix + path, body, kind)
        finally:
            connection.close()

    def _deliver(
        self,
        connection: http.client.HTTPConnection,
        domain: str,
        path: str,
        body: bytes,
        kind: str | None,
    ) -> None:
        """Post until answered: 503/429 waited out, a broken connection opened again."""
        give_up_at: float | None = None
        backoff = 0.1
        while not self._abort.is_set():
            try:
                connection.request("POST", path, body, self._headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()  # the next request opens a new connection
                now = time.monotonic()
                give_up_at = give_up_at or now + RECONNECT_PATIENCE
                if now >= give_up_at:
                    self._stop(f"no answer from {self.url} for {RECONNECT_PATIENCE:.0f} s: {exc!r}")
                    break
                self._count(domain, retry="connection")
                self._abort.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            status, reason = response.status, _reason(data) or response.reason
            if status in (429, 503):
                self._count(domain, retry=f"{status} {reason}")
                self._abort.wait(retry_after(response.getheader("Retry-After")))
                continue
            self._answered(domain, status, reason, data, kind)
            return
        self._count(domain, unsent=True)

    def _answered(
        self, domain: str, status: int, reason: str, data: bytes, kind: str | None
    ) -> None:
        with self._lock:
            tally = self.tallies[domain]
            if status == 202:
                tally.accepted += 1
                if kind is None:
                    return
                label = f"202 for a malformed record ({kind})"
            elif status in REFUSALS_OF_MALFORMED and kind is not None:
                tally.rejected[f"{status} {reason}"] += 1
                return
            else:
                label = f"{status} {reason}"
            tally.unexpected[label] += 1
            tally.examples.setdefault(label, _excerpt(data))
        if status in (401, 403):  # every request would get the same: stop the run
            self._stop(f"the API refused the key: {status} {_excerpt(data)}")

    def _count(self, domain: str, retry: str | None = None, unsent: bool = False) -> None:
        with self._lock:
            tally = self.tallies[domain]
            if retry is not None:
                tally.retries[retry] += 1
            if unsent:
                tally.unsent += 1

    def _stop(self, why: str) -> None:
        with self._lock:
            self.fatal = self.fatal or why
        self._abort.set()


def _reason(data: bytes) -> str:
    """The API's `error` of a JSON answer (`invalid`, `queue_full`, ...), else empty (the
    status line's reason phrase is used then)."""
    try:
        body = json.loads(data)
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{kind}: {count:,}" for kind, count in counter.most_common())
