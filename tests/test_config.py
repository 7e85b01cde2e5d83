"""The configuration: the shipped file loads, the environment overrides, mistakes name the key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulse.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, ConfigError, load_config

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[Edit], Path]:
    """Write a copy of conf/pulse.yaml, changed by `edit`, and return its path."""

    def write(edit: Edit) -> Path:
        data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
        edit(data)
        path = tmp_path / "pulse.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def test_the_shipped_configuration_loads() -> None:
    conf = load_config(DEFAULT_CONFIG_PATH, environ={})

    assert conf.kafka.bootstrap.rpartition(":")[2].isdigit()
    assert conf.topics.emoji.name == "emoji.reactions"
    assert all(topic.partitions > 0 for topic in conf.topics.all().values())
    assert conf.local.state_dir == PROJECT_ROOT / ".pulse"


def test_an_environment_variable_overrides_the_file() -> None:
    conf = load_config(
        DEFAULT_CONFIG_PATH,
        environ={"PULSE_KAFKA__BOOTSTRAP": "broker:29092", "PULSE_TOPICS__EMOJI__PARTITIONS": "8"},
    )

    assert conf.kafka.bootstrap == "broker:29092"
    assert conf.topics.emoji.partitions == 8


def test_a_password_comes_from_the_environment_as_a_secret() -> None:
    conf = load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_POSTGRES__PASSWORD": "s3cret"})

    assert conf.postgres.password is not None
    assert conf.postgres.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(conf)


def test_an_unknown_key_fails_naming_the_key(config_file) -> None:
    path = config_file(lambda data: data["kafka"].update(bootstrapp="127.0.0.1:9092"))

    with pytest.raises(ConfigError, match=r"kafka\.bootstrapp"):
        load_config(path, environ={})


def test_a_wrong_type_fails_naming_the_key_and_the_value(config_file) -> None:
    path = config_file(lambda data: data["topics"]["emoji"].update(partitions="many"))

    with pytest.raises(ConfigError, match=r"topics\.emoji\.partitions: .*'many'"):
        load_config(path, environ={})


def test_a_topic_of_no_registered_domain_fails_naming_it(config_file) -> None:
    path = config_file(lambda data: data["topics"].update(toy={"name": "t", "partitions": 1}))

    with pytest.raises(ConfigError, match=r"topics\.toy: not a registered domain"):
        load_config(path, environ={})


def test_a_registered_domain_without_its_topic_fails_naming_it(config_file) -> None:
    path = config_file(lambda data: data["topics"].pop("media"))

    with pytest.raises(ConfigError, match=r"topics\.media: missing"):
        load_config(path, environ={})


def test_each_window_and_trigger_is_its_own_setting() -> None:
    windows = {"PULSE_MONITOR__ARRIVALS_WINDOW_SECONDS": "7", "PULSE_EMOJI__WINDOW_SECONDS": "3"}
    conf = load_config(DEFAULT_CONFIG_PATH, environ=windows)

    assert conf.monitor.arrivals_window_seconds == 7 and conf.emoji.window_seconds == 3
    assert conf.streaming.monitor_trigger_seconds == 5 and conf.streaming.trigger_seconds == 1


def test_a_monitor_trigger_apart_from_its_rollup_window_is_refused_naming_both() -> None:
    with pytest.raises(ConfigError, match=r"monitor\.rollup_window_seconds \(5\) must equal "):
        load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_STREAMING__MONITOR_TRIGGER_SECONDS": "10"})


def test_a_missing_required_value_fails_naming_the_key(config_file) -> None:
    path = config_file(lambda data: data["kafka"].pop("bootstrap"))

    with pytest.raises(ConfigError, match=r"kafka\.bootstrap: Field required"):
        load_config(path, environ={})


def test_a_secret_in_the_file_is_refused_naming_the_variable_to_use(config_file) -> None:
    path = config_file(lambda data: data["postgres"].update(password="hunter2"))

    with pytest.raises(ConfigError, match=r"postgres\.password.*PULSE_POSTGRES__PASSWORD") as exc:
        load_config(path, environ={})

    assert "hunter2" not in str(exc.value)


def test_pulse_with_a_bad_configuration_exits_2_naming_the_key(config_file) -> None:
    path = config_file(lambda data: data["kafka"].update(bootstrapp="127.0.0.1:9092"))

    result = subprocess.run(
        [sys.executable, "-m", "pulse", "--config", str(path), "status"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "kafka.bootstrapp" in result.stderr
    assert result.stdout == ""


def test_api_keys_come_from_the_environment_comma_separated_as_secrets() -> None:
    conf = load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_INGEST__API_KEYS": " k-1,k-2 ,"})

    assert [key.get_secret_value() for key in conf.ingest.api_keys] == ["k-1", "k-2"]
    assert "k-1" not in repr(conf)


def test_api_keys_in_the_file_are_refused(config_file) -> None:
    path = config_file(lambda data: data["ingest"].update(api_keys=["k-1"]))

    with pytest.raises(ConfigError, match=r"ingest\.api_keys.*PULSE_INGEST__API_KEYS"):
        load_config(path, environ={})


def test_registry_keys_come_from_the_environment_and_default_to_none() -> None:
    bare = load_config(DEFAULT_CONFIG_PATH, environ={})
    keyed = load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_REGISTRY__API_KEYS": "r-1,r-2"})

    assert bare.registry.api_keys == ()
    assert (bare.registry.port, bare.registry.url) == (8081, "http://127.0.0.1:8081")
    assert [key.get_secret_value() for key in keyed.registry.api_keys] == ["r-1", "r-2"]
    assert "r-1" not in repr(keyed)


def test_registry_keys_in_the_file_are_refused(config_file) -> None:
    path = config_file(lambda data: data["registry"].update(api_keys=["r-1"]))

    with pytest.raises(ConfigError, match=r"registry\.api_keys.*PULSE_REGISTRY__API_KEYS"):
        load_config(path, environ={})


def test_a_registry_url_without_a_scheme_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"registry\.url: .*'127.0.0.1:8081'"):
        load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_REGISTRY__URL": "127.0.0.1:8081"})


def test_a_secret_is_taken_as_the_exact_text_given() -> None:
    conf = load_config(
        DEFAULT_CONFIG_PATH,
        environ={"PULSE_POSTGRES__PASSWORD": "0012345", "PULSE_INGEST__API_KEYS": "null"},
    )

    assert conf.postgres.password is not None
    assert conf.postgres.password.get_secret_value() == "0012345"
    assert [key.get_secret_value() for key in conf.ingest.api_keys] == ["null"]


def test_a_bad_api_key_is_named_but_not_shown() -> None:
    with pytest.raises(ConfigError, match=r"ingest\.api_keys") as exc:
        load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_INGEST__API_KEYS": "good,bäd-key"})

    assert "bäd-key" not in str(exc.value)


def test_a_replication_slot_name_postgresql_would_refuse_fails_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"cdc\.slot: .*'Products-CDC'"):
        load_config(DEFAULT_CONFIG_PATH, environ={"PULSE_CDC__SLOT": "Products-CDC"})


def test_a_gateway_heartbeat_slower_than_half_the_node_liveness_is_refused() -> None:
    env = {"PULSE_GATEWAY__HEARTBEAT_SECONDS": "8", "PULSE_STREAMING__NODE_HEARTBEAT_SECONDS": "15"}
    with pytest.raises(ConfigError, match=r"gateway\.heartbeat_seconds \(8\.0\) must be at most"):
        load_config(environ=env)


def test_the_registry_key_of_the_gateway_is_a_secret_from_the_environment() -> None:
    conf = load_config(environ={"PULSE_GATEWAY__REGISTRY_KEY": "k-123"})
    assert conf.gateway.registry_key is not None
    assert conf.gateway.registry_key.get_secret_value() == "k-123"
    assert "k-123" not in repr(conf.gateway)


def test_a_short_admission_secret_is_refused_saying_how_long_it_must_be() -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(environ={"PULSE_GATEWAY__ADMISSION_SECRET": "too-short-1"})
    assert "gateway.admission_secret" in str(refused.value)
    assert "32 characters or more (got 11 characters)" in str(refused.value)
    assert "too-short-1" not in str(refused.value)
    blank = load_config(environ={"PULSE_GATEWAY__ADMISSION_SECRET": ""})
    assert blank.gateway.admission_secret is None  # `X=` in a deployment file: not set


def test_a_check_across_sections_names_the_keys_and_prints_no_secret():
    environ = {"PULSE_GATEWAY__HEARTBEAT_SECONDS": "100", "PULSE_INGEST__API_KEYS": "k-secret-1"}

    with pytest.raises(ConfigError) as error:
        load_config(environ=environ)

    assert "gateway.heartbeat_seconds (100.0)" in str(error.value)
    assert "k-secret-1" not in str(error.value)


def test_forwarded_domains_must_be_domains():
    assert load_config(environ={"PULSE_FORWARD__DOMAINS": "emoji, product"}).forward.domains == (
        "emoji",
        "product",
    )
    with pytest.raises(ConfigError, match=r"forward\.domains: .*nope is not a domain"):
        load_config(environ={"PULSE_FORWARD__DOMAINS": "emoji,nope"})
