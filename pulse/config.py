"""Pulse configuration: `conf/pulse.yaml`, overridden by `PULSE_*` environment variables.

The configuration is read once at start (`load_config()`), validated into frozen typed
objects and passed down; nothing deeper in the package reads the environment. Any unknown key,
wrong type or missing value stops the start with a `ConfigError` naming the key and the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pulse.events.registry import domain_names

ENV_PREFIX = "PULSE_"
ENV_SEPARATOR = "__"
CONFIG_PATH_ENV = "PULSE_CONFIG"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "conf" / "pulse.yaml"

# Keys that hold secrets: accepted from the environment only, never from a file.
SECRET_KEYS = frozenset(
    {
        "postgres.password",
        "mysql.password",
        "redis.password",
        "kafka.sasl_password",
        "kafka.ssl_key_password",
        "ingest.api_keys",
        "registry.api_keys",
        "gateway.registry_key",
        "gateway.ingest_key",
        "gateway.admission_secret",
    }
)


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaConfig(_Section):
    """Where the brokers are and how to talk to them."""

    bootstrap: str = Field(min_length=1)
    client: Literal["confluent", "kafka-python"] = "confluent"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # TLS (`SSL`, `SASL_SSL`): the CA that signed the brokers' certificates (none: the system's
    # CAs), and a client certificate and key where the brokers ask for one (mutual TLS).
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    max_offsets_per_trigger: int = Field(gt=0)

    def client_params(self) -> dict[str, str]:
        """librdkafka-style connection settings, secrets included, for producers and admins."""
        params = {"bootstrap.servers": self.bootstrap, "security.protocol": self.security_protocol}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        for name, value in optional.items():
            if value:
                params[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return params


class TopicConfig(_Section):
    """One Kafka topic and its partition count."""

    name: str = Field(min_length=1)
    partitions: int = Field(gt=0)


class TopicsConfig(_Section):
    """Every topic Pulse reads or writes: one per registered domain (`pulse.events.registry`),
    keyed by its name, and the topics of Pulse's own outputs.

    Decision: the domains' topics are the section's extra keys, typed `TopicConfig` and checked
    against the registry (a key that is no domain, or a domain without its key, is an error
    naming it), rather than one declared field per domain, so that a new domain is its
    registry entry and its `topics.<name>` in `conf/pulse.yaml` and nothing here. Attribute
    access (`conf.topics.emoji`) keeps working: pydantic answers it from the extra keys.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, TopicConfig] = Field(init=False)

    deadletter: TopicConfig
    emoji_aggregated: TopicConfig

    if TYPE_CHECKING:  # pydantic's own __getattr__ answers a domain's topic at run time

        def __getattr__(self, domain: str) -> TopicConfig: ...

    @model_validator(mode="after")
    def _one_topic_per_domain(self) -> TopicsConfig:
        """Every registered domain has its topic, and every other key is one of Pulse's own."""
        registered, given = domain_names(), tuple(self.__pydantic_extra__)
        unknown = [f"topics.{key}" for key in given if key not in registered]
        if unknown:
            own = ", ".join(type(self).model_fields)
            raise ValueError(
                f"{', '.join(unknown)}: not a registered domain (domains: "
                f"{', '.join(registered)}; Pulse's own topics: {own})"
            )
        missing = [f"topics.{name}" for name in registered if name not in given]
        if missing:
            raise ValueError(f"{', '.join(missing)}: missing (every registered domain has a topic)")
        return self

    def all(self) -> dict[str, TopicConfig]:
        """Topic settings by name: every domain's in registration order, then Pulse's own."""
        own = {name: getattr(self, name) for name in type(self).model_fields}
        return {**self.of_domains(), **own}

    def of_domains(self) -> dict[str, TopicConfig]:
        """The topic of every registered domain, by domain name, in registration order."""
        return {name: self.__pydantic_extra__[name] for name in domain_names()}


class StreamingConfig(_Section):
    """Micro-batch cadence and where queries keep their checkpoints."""

    trigger_seconds: float = Field(gt=0)
    enrich_trigger_seconds: float = Field(gt=0)
    lake_trigger_seconds: float = Field(gt=0)
    lake_max_batch_records: int = Field(gt=0)
    monitor_trigger_seconds: float = Field(gt=0)
    watermark_seconds: float = Field(ge=0)
    dedupe_seconds: float = Field(ge=0)
    node_heartbeat_seconds: float = Field(gt=0)
    checkpoint_dir: Path


class EmojiConfig(_Section):
    """Emoji aggregation: every started block of `ratio` same emojis becomes one unit."""

    ratio: int = Field(gt=0)
    top_n: int = Field(gt=0)
    window_seconds: float = Field(gt=0)


class MonitorConfig(_Section):
    """The monitor job's windows, each its own setting (the job once reused its trigger).

    `rollup_window_seconds`: the processing-time window of a rollup row (`monitoring_rollups`).
    A rollup's percentiles cannot be added up over batches, so each window is one batch: it
    must equal `streaming.monitor_trigger_seconds`, checked at start, so that a changed trigger
    is refused rather than silently changing the rollups. `arrivals_window_seconds`: the window
    of Kafka timestamps of the input rate (`topic_arrivals`, added up over batches: any length).
    """

    rollup_window_seconds: float = Field(gt=0)
    arrivals_window_seconds: float = Field(gt=0)


class EnrichConfig(_Section):
    """Media enrichment: how often the user-segment dimension is re-read from PostgreSQL."""

    segments_refresh_seconds: float = Field(gt=0)


class LakeConfig(_Section):
    """Where the Delta tables live (a local path or an object-store URL), and how their files
    are kept few (`pulse.compaction`)."""

    path: str
    compact_every_seconds: float = Field(gt=0)
    compact_min_files: int = Field(gt=1)
    retain_hours: int = Field(ge=0)


class PostgresConfig(_Section):
    """PostgreSQL connection; `user: null` means the operating-system user, as libpq does.

    TLS is libpq's: `sslmode` (`prefer` uses TLS when the server offers it; `require` refuses a
    plain connection; `verify-full` also checks the certificate against `sslrootcert` and the
    host name), with a client certificate and key where the server asks for one.
    """

    host: str
    port: int = Field(gt=0, lt=65536)
    database: str
    user: str | None = None
    password: SecretStr | None = None
    socket_dir: str | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None


class MySQLConfig(_Section):
    """MySQL/MariaDB connection; `socket` is tried when TCP login is refused (Debian's root).

    `tls`, as MySQL's `--ssl-mode`: `preferred` uses TLS when the server offers it, `required`
    refuses a connection without it, `verify_ca` also checks the server's certificate against
    `ssl_ca`, `verify_identity` its host name too; `disabled` never uses it. `ssl_cert` and
    `ssl_key` are the client's, where the server asks for one.
    """

    host: str
    port: int = Field(gt=0, lt=65536)
    database: str
    user: str
    password: SecretStr | None = None
    socket: str | None = None
    tls: Literal["disabled", "preferred", "required", "verify_ca", "verify_identity"] = "preferred"
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None

    @model_validator(mode="after")
    def _ca_to_verify(self) -> MySQLConfig:
        """Verifying the server needs the CA that signed its certificate."""
        if self.tls in ("verify_ca", "verify_identity") and not self.ssl_ca:
            raise ValueError(f"mysql.tls {self.tls} needs mysql.ssl_ca (the CA file)")
        return self


class RedisConfig(_Section):
    """Redis connection and the lifetime of per-event keys. A `rediss://` URL is TLS, checked
    against `ssl_ca_certs` (none: the system's CAs)."""

    url: str
    password: SecretStr | None = None
    ssl_ca_certs: str | None = None
    event_ttl_seconds: int = Field(gt=0)


def _split_commas(value: Any) -> Any:
    """`a,b` from the environment becomes two items; blanks around commas are dropped."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# A list that the environment gives as one comma-separated value.
CommaList = Annotated[tuple[str, ...], BeforeValidator(_split_commas)]


class ForwardConfig(_Section):
    """Forwarding to another Pulse instance (`pulse serve forwarder`): which domains' events go
    to the Kafka at `target_bootstrap`, under the same topic names, tagged with `origin` (this
    instance's name); `group` names the committed positions, so a restart resumes there."""

    origin: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    target_bootstrap: str | None = None
    domains: CommaList = ()
    group: str = Field(min_length=1)

    @field_validator("domains")
    @classmethod
    def _known_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each forwarded domain is one of the topics' domains."""
        known = domain_names()
        unknown = [domain for domain in value if domain not in known]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a domain (one of {', '.join(known)})")
        return value


class DashboardConfig(_Section):
    """The Streamlit dashboard (`pulse dashboard`): where it listens, how often its live parts
    redraw, and how far back its charts look."""

    host: str = Field(min_length=1)
    port: int = Field(gt=0, lt=65536)
    refresh_seconds: float = Field(gt=0)
    window_minutes: int = Field(gt=0)


class LocalConfig(_Section):
    """The one-laptop stack: where its state (pid files, logs) lives."""

    state_dir: Path
    broker_start_timeout_seconds: float = Field(gt=0)


def _split_api_keys(value: Any) -> Any:
    """`k1,k2` from the environment becomes two keys; blanks around commas are dropped."""
    if isinstance(value, str | SecretStr):
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        value = tuple(part.strip() for part in text.split(",") if part.strip())
    for key in value if isinstance(value, tuple | list) else ():
        text = key.get_secret_value() if isinstance(key, SecretStr) else key
        # Visible ASCII only: an HTTP header carries it unchanged, and `hmac.compare_digest`
        # compares it byte for byte. The message must not show the key itself.
        if not isinstance(text, str) or not text.isascii() or not text.isprintable():
            raise ValueError("every API key must be visible ASCII text")
        if " " in text:
            raise ValueError("an API key must not contain spaces")
    return value


MIN_SECRET_CHARACTERS = 32


def _signing_secret(value: Any) -> Any:
    """An empty secret (`PULSE_X=` in a deployment file) is no secret, not a short one; a
    short one is refused, saying how long it must be (never what it is)."""
    if value == "":
        return None
    if isinstance(value, str) and len(value) < MIN_SECRET_CHARACTERS:
        raise ValueError(
            f"must be {MIN_SECRET_CHARACTERS} characters or more (got {len(value)} characters)"
        )
    return value


# A comma-separated list of keys (a secret, so from the environment only): several keys let a
# key be rotated by running with the old and the new one for a while.
ApiKeyList = Annotated[tuple[SecretStr, ...], BeforeValidator(_split_api_keys)]


class IngestConfig(_Section):
    """The ingest HTTP API: where it listens, `url` where services reach it (the gateways
    forward viewers' emoji there), how its producer batches, and its limits.

    `api_keys` come from `PULSE_INGEST__API_KEYS` only.
    """

    host: str = Field(min_length=1)
    port: int = Field(gt=0, lt=65536)
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    flush_interval_ms: int = Field(gt=0)
    flush_messages: int = Field(gt=0)
    max_queue: int = Field(gt=0)
    max_body_bytes: int = Field(gt=0)
    drain_timeout_seconds: float = Field(gt=0)
    rate_limit_events_per_second: float = Field(gt=0)
    rate_limit_burst_events: int = Field(gt=0)
    api_keys: ApiKeyList = ()


class HttpConfig(_Section):
    """Time bounds of every Pulse HTTP service (the ingest API, the registry, a node's page
    and handshake): a client that sends its headers or its body too slowly, or holds an idle
    connection, is closed, so that slow clients cannot hold connections forever.

    `headers_seconds` from a request's first byte to the end of its headers (a node: to the end
    of its handshake); `body_seconds` from the end of the headers to the end of the body (a
    Content-Length that lies); `idle_seconds` a connection may wait, before its first request
    or between requests, with nothing sent.
    """

    headers_seconds: float = Field(gt=0)
    body_seconds: float = Field(gt=0)
    idle_seconds: float = Field(gt=0)


class RegistryConfig(_Section):
    """The registry API (`pulse serve registry`): where it listens, and `url`, where services
    and clients reach it (behind a proxy or on another host it differs from host:port).

    `api_keys` come from `PULSE_REGISTRY__API_KEYS` only.
    """

    host: str = Field(min_length=1)
    port: int = Field(gt=0, lt=65536)
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    api_keys: ApiKeyList = ()


class CdcConfig(_Section):
    """Change data capture of the product catalogue (`pulse serve cdc`): which table, through
    which publication and replication slot, and how often the relay confirms its position.

    Names are PostgreSQL identifiers in lower case (a slot name allows nothing else), so they
    are used in SQL and replication commands without quoting surprises.
    """

    slot: str = Field(pattern=r"^[a-z0-9_]{1,63}$")
    publication: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    table: str = Field(pattern=r"^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$")
    status_interval_seconds: float = Field(gt=0)
    drain_timeout_seconds: float = Field(gt=0)


class GatewayConfig(_Section):
    """The WebSocket delivery nodes (`pulse serve gateway`) and their cluster publishers.

    They reach the registry at `registry.url`. `registry_key` (a secret, so from
    `PULSE_GATEWAY__REGISTRY_KEY` only) is the registry API key that nodes and `pulse client`
    present: a client's credential, apart from the list of keys the registry accepts.
    `ingest_key` (from `PULSE_GATEWAY__INGEST_KEY` only) is the ingest API key with which a
    node forwards its viewers' emoji, at most `emoji_per_second` per connection: browsers never
    hold a key.
    `allowed_origins` are browser origins allowed to open a socket, `*` matching any run of
    characters (`http://localhost:*`); a client that sends no Origin header (not a browser) is
    always let in.
    `admission_secret` (from `PULSE_GATEWAY__ADMISSION_SECRET` only) is shared by the registry,
    which signs each assignment's admission token with it, and the nodes, which check the token
    at the handshake (`pulse.services.admission_tokens`); a token lives
    `admission_token_seconds`, long enough to connect, since a client asks again to reconnect.
    """

    host: str = Field(min_length=1)
    base_port: int = Field(gt=0, lt=65536)
    capacity: int = Field(gt=0)
    heartbeat_seconds: float = Field(gt=0)
    send_buffer_bytes: int = Field(gt=0)
    dedupe_window: int = Field(gt=0)
    allowed_origins: CommaList = ()
    registry_key: SecretStr | None = None
    ingest_key: SecretStr | None = None
    emoji_per_second: float = Field(gt=0)
    admission_secret: Annotated[SecretStr | None, BeforeValidator(_signing_secret)] = None
    admission_token_seconds: float = Field(gt=0)


class PulseConfig(_Section):
    """The whole configuration, one typed object."""

    kafka: KafkaConfig
    topics: TopicsConfig
    streaming: StreamingConfig
    emoji: EmojiConfig
    monitor: MonitorConfig
    enrich: EnrichConfig
    lake: LakeConfig
    postgres: PostgresConfig
    mysql: MySQLConfig
    redis: RedisConfig
    http: HttpConfig
    ingest: IngestConfig
    registry: RegistryConfig
    cdc: CdcConfig
    gateway: GatewayConfig
    forward: ForwardConfig
    dashboard: DashboardConfig
    local: LocalConfig

    @model_validator(mode="after")
    def _heartbeat_within_liveness(self) -> PulseConfig:
        """A node must heartbeat at least twice per liveness period, or one late heartbeat
        would make a healthy node look dead to the live job and the registry."""
        if self.gateway.heartbeat_seconds * 2 > self.streaming.node_heartbeat_seconds:
            raise ValueError(
                f"gateway.heartbeat_seconds ({self.gateway.heartbeat_seconds}) must be at most "
                f"half of streaming.node_heartbeat_seconds "
                f"({self.streaming.node_heartbeat_seconds})"
            )
        return self

    @model_validator(mode="after")
    def _one_rollup_window_per_monitor_batch(self) -> PulseConfig:
        """Each rollup row is one monitor batch (`MonitorConfig`)."""
        window, trigger = self.monitor.rollup_window_seconds, self.streaming.monitor_trigger_seconds
        if window != trigger:
            raise ValueError(
                f"monitor.rollup_window_seconds ({window:g}) must equal "
                f"streaming.monitor_trigger_seconds ({trigger:g}): a rollup row is one monitor "
                f"batch; change both"
            )
        return self


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> PulseConfig:
    """Read the YAML file, apply `PULSE_*` overrides and validate; raise `ConfigError` if wrong."""
    env = os.environ if environ is None else environ
    source = Path(path or env.get(CONFIG_PATH_ENV) or DEFAULT_CONFIG_PATH)
    data = _read_yaml(source)
    _refuse_secrets_in_file(data, source)
    for key, value in _env_overrides(env).items():
        _set_path(data, key, value, raw=key in SECRET_KEYS)
    try:
        config = PulseConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
    return _resolve_paths(config, source.resolve().parent.parent)


def _read_yaml(source: Path) -> dict[str, Any]:
    try:
        text = source.read_text()
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read the configuration file ({exc.strerror})"
        ) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _refuse_secrets_in_file(data: dict[str, Any], source: Path) -> None:
    for dotted in SECRET_KEYS:
        section, key = dotted.split(".")
        if isinstance(data.get(section), dict) and key in data[section]:
            variable = ENV_PREFIX + ENV_SEPARATOR.join(dotted.upper().split("."))
            raise ConfigError(
                f"{source}: {dotted}: secrets are not read from files; set {variable} instead"
            )


def _env_overrides(env: Mapping[str, str]) -> dict[str, str]:
    """Map `PULSE_A__B=v` to `{"a.b": "v"}`; variables without `__` are not config keys."""
    overrides = {}
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and ENV_SEPARATOR in name:
            parts = name[len(ENV_PREFIX) :].lower().split(ENV_SEPARATOR)
            overrides[".".join(parts)] = value
    return overrides


def _set_path(data: dict[str, Any], dotted: str, value: str, raw: bool = False) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"environment: {dotted}: {part} is not a section (from {value!r})")
        node = child
    # YAML scalars let `PULSE_X__N=4` become an int and `null` become None, as in the file.
    # Secrets stay the exact text given: a password `12345` or `null` is a string, not a number.
    node[leaf] = value if raw or value == "" else yaml.safe_load(value)


def _describe(exc: ValidationError, source: Path) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        secret = any(key == name or key.startswith(name + ".") for name in SECRET_KEYS)
        # A bad secret is named, never printed; nor is the whole configuration (the input of a
        # check across sections), which holds the secrets given.
        # Nor is a whole section (the input of a check across its keys): the message names them.
        whole = isinstance(error["input"], dict)
        quiet = error["type"] == "missing" or secret or not error["loc"] or whole
        got = "" if quiet else f" (got {error['input']!r})"
        lines.append(f"{key}: {error['msg']}{got}")
    return f"{source}: invalid configuration:\n  " + "\n  ".join(lines)


def _resolve_paths(config: PulseConfig, root: Path) -> PulseConfig:
    """Relative paths are relative to the folder above `conf/` (the project root), whatever the
    working directory, so every process agrees on them; a job shipped as a zip included."""

    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else root / path

    lake = config.lake.path
    if "://" not in lake and not Path(lake).is_absolute():
        lake = str(root / lake)
    return config.model_copy(
        update={
            "streaming": config.streaming.model_copy(
                update={"checkpoint_dir": resolve(config.streaming.checkpoint_dir)}
            ),
            "lake": config.lake.model_copy(update={"path": lake}),
            "local": config.local.model_copy(update={"state_dir": resolve(config.local.state_dir)}),
        }
    )
