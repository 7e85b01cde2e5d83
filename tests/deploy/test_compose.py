"""docker/compose.yaml and docker/Dockerfile, checked statically (no Docker engine here): the
compose specification's schema, pinned images, health-gated start order, no secrets, and every
command one that the image can run."""

from __future__ import annotations

import copy
import json
import re
import shlex
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from pulse.cli import build_parser
from pulse.config import PROJECT_ROOT
from pulse.pipelines import PIPELINES

COMPOSE = PROJECT_ROOT / "docker" / "compose.yaml"
DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile"
# The compose specification's JSON schema, from github.com/compose-spec/compose-spec
# (schema/compose-spec.json at 170098ba07d9f53c383a41bfd4c5166b0a4529a6, Apache-2.0).
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEYS|_KEY$")
INTERPOLATED = re.compile(r"^\$\{[A-Z0-9_]+(:\?[^}]*)?\}$")
PULSE_IMAGE = re.compile(r"^pulse:\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def schema_errors(document: dict) -> list[str]:
    # The schema names draft 07 by a URL jsonschema does not map ("draft-07/schema" without
    # its "#"): say the draft outright.
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification(compose):
    assert schema_errors(compose) == []


def test_the_schema_check_catches_a_misspelt_key(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["ingest"]["comand"] = broken["services"]["ingest"].pop("command")

    assert any("comand" in error for error in schema_errors(broken))


def test_every_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    base = re.search(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M).group(1)
    assert re.search(r":\d+\.\d+\.\d+", base), f"the Dockerfile's base {base} is not pinned"


def test_the_broker_is_apache_kafka_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    every_bootstrap = {
        service.get("environment", {}).get("PULSE_KAFKA__BOOTSTRAP")
        for service in compose["services"].values()
        if PULSE_IMAGE.match(service["image"]) and service.get("environment")
    }
    assert every_bootstrap == {"kafka:9092"}


def test_services_start_in_order_behind_health_checks(compose):
    services = compose["services"]
    for name, service in services.items():
        for needed, rule in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on an unknown service {needed}"
            condition = rule["condition"]
            assert condition in ("service_healthy", "service_completed_successfully"), name
            if condition == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no health check"
    for name, service in services.items():
        if "ports" in service:  # what users reach from outside has a health check
            assert "healthcheck" in service, f"{name} publishes ports but has no health check"


def test_no_secret_is_written_in_the_files(compose):
    for name, service in compose["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(variable):
                assert INTERPOLATED.match(str(value)), f"{name}: {variable} is written out"


def test_named_volumes_are_declared(compose):
    declared = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def copied_paths() -> set[str]:
    """What the Dockerfile copies into the image's working directory."""
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            copied.update(source.rstrip("/") for source in sources)
    return copied


def spark_has_class(name: str) -> bool:
    """Whether the installed pyspark's jars hold `name` (what `spark-class NAME` runs)."""
    import pyspark

    entry = name.replace(".", "/") + ".class"
    jars = Path(pyspark.__file__).parent / "jars"
    return any(entry in zipfile.ZipFile(jar).namelist() for jar in jars.glob("spark-core_*.jar"))


def test_every_command_is_one_the_image_can_run(compose):
    copied = copied_paths()
    assert {"pulse", "conf", "jobs", "dashboards", "spark-submit.sh"} <= copied
    parser = build_parser()
    for name, service in compose["services"].items():
        if not PULSE_IMAGE.match(service["image"]):
            continue
        entrypoint = service.get("entrypoint", ["pulse"])
        command = service["command"]
        if entrypoint == ["pulse"]:
            parser.parse_args(command)  # exits (fails the test) on an unknown command
        elif entrypoint == ["./spark-submit.sh"]:
            job = command[0]
            assert (PROJECT_ROOT / job).is_file() and job.split("/")[0] in copied, name
        elif entrypoint == ["spark-class"]:
            assert spark_has_class(command[0]), f"{name}: no {command[0]} in Spark's jars"
        else:
            pytest.fail(f"{name}: unknown entry point {entrypoint}")


def test_every_job_runs_in_compose_on_the_spark_master(compose):
    jobs = {f"{job}.py" for job in PIPELINES}  # jobs/live_views.py: the one-machine driver
    submitted = {}
    for service in compose["services"].values():
        if service.get("entrypoint") == ["./spark-submit.sh"]:
            submitted[Path(service["command"][0]).name] = service["environment"]
    assert set(submitted) == jobs
    for environment in submitted.values():
        assert environment["SPARK_MASTER"] == "spark://spark-master:7077"
        assert environment["PULSE_CONNECTOR"] == "official"
        assert "--conf" in shlex.split(environment["SPARK_SUBMIT_ARGS"])
