"""k8s/: every manifest valid against Kubernetes' own schemas (kubernetes-validate, strict: an
unknown field is an error), and consistent with the project: the image and its commands,
selectors that select their pods, secrets only by reference, every job submitted."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pulse.cli import build_parser
from pulse.config import PROJECT_ROOT
from pulse.pipelines import PIPELINES

K8S = PROJECT_ROOT / "k8s"
KUBERNETES = "1.37.0"
VERSION = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEYS|_KEY$")
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def documents() -> list[tuple[str, dict]]:
    return [
        (path.name, document)
        for path in sorted(K8S.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def pod_spec(document: dict) -> dict:
    return document["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "document", [d for _, d in documents()], ids=[f"{f}:{d['kind']}" for f, d in documents()]
)
def test_a_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_validation_refuses_an_unknown_field():
    deployment = next(d for _, d in documents() if d["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    pod_spec(broken)["containers"][0]["imagePullPolcy"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_workloads_run_this_version_of_the_image_with_commands_it_has():
    parser = build_parser()
    for name, document in documents():
        if document["kind"] not in WORKLOADS:
            continue
        for container in pod_spec(document)["containers"]:
            assert container["image"] == f"pulse:{VERSION}", name
            if container.get("command") == ["./spark-submit.sh"]:
                assert (PROJECT_ROOT / container["args"][0]).is_file(), name
            else:
                assert "command" not in container, name  # the image's entry point: pulse
                parser.parse_args(container["args"])


def test_selectors_select_their_own_pods():
    for name, document in documents():
        if document["kind"] in ("Deployment", "StatefulSet"):
            wanted = document["spec"]["selector"]["matchLabels"]
            labels = document["spec"]["template"]["metadata"]["labels"]
            assert wanted.items() <= labels.items(), name
    services = [d for _, d in documents() if d["kind"] == "Service"]
    pods = [d["spec"]["template"]["metadata"]["labels"] for _, d in documents()
            if d["kind"] in ("Deployment", "StatefulSet")]  # fmt: skip
    for service in services:
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pods), service["metadata"]


def test_secrets_are_only_referenced_never_written():
    assert not [d for _, d in documents() if d["kind"] == "Secret"]
    for name, document in documents():
        if document["kind"] == "ConfigMap":
            assert not [key for key in document["data"] if SECRET_NAME.search(key)], name
        if document["kind"] in WORKLOADS:
            for container in pod_spec(document)["containers"]:
                assert {"secretRef": {"name": "pulse-secrets"}} in container["envFrom"], name
                written = [e["name"] for e in container.get("env", []) if "value" in e]
                assert not [n for n in written if SECRET_NAME.search(n)], name


def test_every_job_has_a_driver_that_submits_to_kubernetes():
    jobs = {f"{job}.py" for job in PIPELINES}  # jobs/live_views.py: the one-machine driver
    drivers = {
        Path(container["args"][0]).name
        for _, document in documents()
        if document["kind"] == "Deployment"
        for container in pod_spec(document)["containers"]
        if container.get("command") == ["./spark-submit.sh"]
    }
    assert drivers == jobs
    spark = next(d for _, d in documents() if d["metadata"]["name"] == "pulse-spark")
    assert spark["data"]["SPARK_MASTER"].startswith("k8s://")
    assert "spark.kubernetes.container.image=pulse:" + VERSION in spark["data"]["SPARK_K8S_CONF"]
