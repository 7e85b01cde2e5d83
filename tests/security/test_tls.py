"""Encrypted connections to every store and to Kafka are configuration, not code changes.

PostgreSQL and Redis are checked for real: a private PostgreSQL cluster and a Redis server with
TLS on, certificates from a throwaway CA (trustme), Pulse connecting through its one connection
module with only the configuration changed. The machine's own servers have no TLS, so a
configuration that requires it must refuse them, saying why. Kafka's TLS settings are checked
to reach librdkafka (which loads the CA file when the client is made) and the Spark source.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import pytest
import redis
import trustme
from pydantic import SecretStr

from pulse.config import DEFAULT_CONFIG_PATH, ConfigError, PulseConfig, load_config
from pulse.kafka.options import SourceOptions
from pulse.kafka.read import _from_config
from pulse.stores import StoreUnavailable, mysql_connect, postgres_connect, redis_client
from tests.conftest import free_tcp_port
from tests.private_stores import private_postgres, set_password


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def other_ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed nothing the servers hold."""
    path = tmp_path_factory.mktemp("other-ca") / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def server_pems(ca: trustme.CA) -> tuple[bytes, bytes]:
    """Certificate chain and key of a server at 127.0.0.1, signed by `ca`."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
    return chain, cert.private_key_pem.bytes()


def test_postgres_over_tls_verifies_the_server_against_the_configured_ca(
    server_pems: tuple[bytes, bytes], ca_file: Path, other_ca_file: Path
) -> None:
    chain, key = server_pems
    tls = {"ssl": "on", "ssl_cert_file": "../server.crt", "ssl_key_file": "../server.key"}
    with private_postgres(tls, {"server.crt": chain, "server.key": key}) as pg:
        set_password(pg, getpass.getuser(), "tls-test")
        verified = pg.model_copy(
            update={
                "password": SecretStr("tls-test"),
                "sslmode": "verify-full",
                "sslrootcert": str(ca_file),
                "socket_dir": None,
            }
        )
        conn = postgres_connect(verified)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                ssl_on, version = cur.fetchone()
        finally:
            conn.close()
        assert ssl_on and version.startswith("TLS"), (ssl_on, version)

        with pytest.raises(StoreUnavailable) as untrusted:
            postgres_connect(verified.model_copy(update={"sslrootcert": str(other_ca_file)}))
        assert "certificate verify failed" in str(untrusted.value)


def test_postgres_requiring_tls_refuses_a_server_without_it(conf: PulseConfig) -> None:
    with pytest.raises(StoreUnavailable) as refused:
        postgres_connect(
            conf.postgres.model_copy(update={"sslmode": "require", "socket_dir": None})
        )

    assert "server does not support SSL, but SSL was required" in str(refused.value)


def test_mysql_requiring_tls_refuses_a_server_without_it(conf: PulseConfig) -> None:
    with pytest.raises(StoreUnavailable) as refused:
        mysql_connect(conf.mysql.model_copy(update={"tls": "required"}))

    assert str(refused.value) == (
        f"mysql: cannot connect to {conf.mysql.host}:{conf.mysql.port}/{conf.mysql.database} "
        "(mysql.tls is required but the server offers no TLS)"
    )


def test_mysql_verification_without_a_ca_stops_the_start_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"mysql\.ssl_ca"):
        load_config(environ={"PULSE_MYSQL__TLS": "verify_identity"})


@pytest.fixture(scope="module")
def tls_redis(
    server_pems: tuple[bytes, bytes], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """A Redis server that speaks TLS only, on a free port."""
    home = tmp_path_factory.mktemp("redis-tls")
    chain, key = server_pems
    (home / "server.crt").write_bytes(chain)
    (home / "server.key").write_bytes(key)
    port = free_tcp_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--save", "", "--appendonly",
         "no", "--tls-cert-file", home / "server.crt", "--tls-key-file", home / "server.key",
         "--tls-auth-clients", "no", "--dir", home],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    yield _until_listening(server, port)
    server.terminate()
    server.wait(timeout=10)


def _until_listening(server: subprocess.Popen, port: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert server.poll() is None, "redis-server with TLS exited; is it built with TLS?"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return port
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"redis-server did not listen on {port} within 10 s")


def test_redis_over_tls_with_a_rediss_url_and_the_ca(
    conf: PulseConfig, tls_redis: int, ca_file: Path, other_ca_file: Path
) -> None:
    settings = conf.redis.model_copy(
        update={"url": f"rediss://127.0.0.1:{tls_redis}/0", "ssl_ca_certs": str(ca_file)}
    )
    client = redis_client(settings)
    assert client.set("pulse:tls", "yes") and client.get("pulse:tls") == b"yes"

    untrusted = redis_client(settings.model_copy(update={"ssl_ca_certs": str(other_ca_file)}))
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        untrusted.ping()


def test_kafka_tls_settings_reach_librdkafka_and_the_spark_source(
    ca_file: Path, tmp_path: Path
) -> None:
    environ = {
        "PULSE_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "PULSE_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "PULSE_KAFKA__SASL_USERNAME": "pulse",
        "PULSE_KAFKA__SASL_PASSWORD": "from-the-environment",
        "PULSE_KAFKA__SSL_CA_LOCATION": str(ca_file),
    }
    kafka = load_config(environ=environ).kafka
    params = kafka.client_params()

    # librdkafka reads the CA file when the client is made: a wrong path fails here.
    confluent_kafka.Producer(params).flush(0)
    missing = {**params, "ssl.ca.location": str(tmp_path / "missing.pem")}
    with pytest.raises(confluent_kafka.KafkaException, match=r"ssl\.ca\.location"):
        confluent_kafka.Producer(missing)

    source = SourceOptions.parse({**_from_config(kafka), "subscribe": "t"})
    assert source.client_params == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "pulse",
        "sasl.password": "from-the-environment",
        "ssl.ca.location": str(ca_file),
    }


def test_the_kafka_key_password_is_a_secret_from_the_environment_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PULSE_KAFKA__SSL_KEY_PASSWORD"):
        load_config(environ={}, path=_with_kafka_key_password(tmp_path))


def _with_kafka_key_password(tmp_path: Path) -> Path:
    text = DEFAULT_CONFIG_PATH.read_text().replace(
        "kafka:\n", "kafka:\n  ssl_key_password: in-the-file\n", 1
    )
    path = tmp_path / "conf" / "pulse.yaml"
    path.parent.mkdir()
    path.write_text(text)
    return path
