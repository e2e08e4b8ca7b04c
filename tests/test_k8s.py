"""deploy/k8s: both kustomize overlays build, every object validates (Kubernetes 1.32 schemas, KEDA's CRD schemas
kept in the repository), and the checker refuses an undeclared secret key and a worker on an unknown queue."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.settings import SERVICE_PORTS
from conveyor_tools import k8s_check
from conveyor_tools.cli.main import main as conveyor

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# Kubernetes name -> (module, the settings prefix of its host and port)
APIS = {"queue-manager": ("queue_manager", "QUEUE_MANAGER"), "ml-data-api": ("ml_data_api", "ML_DATA_API"),
        "monitoring-api": ("monitoring_api", "MONITORING_API"), "retraining-api": ("retraining_api", "RETRAINING_API"),
        "django-admin": ("django_admin", "ADMIN")}


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    return {overlay: k8s_check.check_overlay(k8s_check.K8S_DIR / "overlays" / overlay)
            for overlay in k8s_check.OVERLAYS}


def _by(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_both_overlays_build_and_every_object_validates(built: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, objects in built.items():
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "ScaledObject", "TriggerAuthentication", "PodDisruptionBudget",
                "ConfigMap"} <= kinds, overlay
        assert "Secret" not in kinds
        namespaces = {o["metadata"].get("namespace") for o in objects}
        assert namespaces == {"conveyor-dev" if overlay == "dev" else "conveyor"}


def test_each_api_is_a_deployment_and_service_with_probes_and_resources(
        built: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, objects in built.items():
        deployments, services = _by(objects, "Deployment"), _by(objects, "Service")
        for name, (module, prefix) in APIS.items():
            container = _container(deployments[name])
            assert container["command"] == ["python", "-m", module]
            assert importlib.util.find_spec(f"{module}.__main__") is not None
            port = container["ports"][0]["containerPort"]
            env = _env(container)
            # The port it listens on is the one probed and served, on every interface.
            assert port == SERVICE_PORTS[prefix] == int(env[f"{prefix}_PORT"]["value"]), (overlay, name)
            assert env[f"{prefix}_HOST"]["value"] == "0.0.0.0"
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health"
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"]["port"] == "http" == container["ports"][0]["name"]
            assert set(container["resources"]) == {"requests", "limits"}
            assert set(container["resources"]["requests"]) == {"cpu", "memory"} == set(
                container["resources"]["limits"])
            assert services[name]["spec"]["ports"][0]["port"] == port
            assert services[name]["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]


def test_workers_scale_on_their_queue_with_keda(built: dict[str, list[dict[str, Any]]]) -> None:
    declared = k8s_check.Declared.load()
    for objects in built.values():
        scaled = _by(objects, "ScaledObject")["worker-product-quality-a"]
        worker = _by(objects, "Deployment")[scaled["spec"]["scaleTargetRef"]["name"]]
        service = _env(_container(worker))["WORKER_SERVICE_NAME"]["value"]
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["queueName"] == declared.workers[service] == "gits_product_quality_A"
        assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
        auth = _by(objects, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
        assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": "conveyor-secrets",
                                                    "key": "AMQP_URL"}]
        # Long enough for a batch whose two peer calls both run into their timeouts (60 s + 30 s).
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 90
        pdb = _by(objects, "PodDisruptionBudget")[worker["metadata"]["name"]]
        assert pdb["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
        assert "replicas" not in worker["spec"]  # KEDA's to set


def test_stores_are_statefulsets_in_dev_and_external_in_prod(built: dict[str, list[dict[str, Any]]]) -> None:
    stores = {"mongo", "timescaledb", "rabbitmq"}
    assert set(_by(built["dev"], "StatefulSet")) == stores
    assert not _by(built["prod"], "StatefulSet")
    prod_services = _by(built["prod"], "Service")
    assert {name for name, s in prod_services.items() if s["spec"].get("type") == "ExternalName"} == stores
    # The executor runs on its own; the demo's traffic is dev's only.
    for objects in built.values():
        executor = _container(_by(objects, "Deployment")["retraining-executor"])
        assert executor["command"] == ["python", "-m", "retraining_api.executor"]
    assert "demo-feed" in _by(built["dev"], "Deployment") and "demo-feed" not in _by(built["prod"], "Deployment")


def test_scraped_pods_name_a_port_they_expose(built: dict[str, list[dict[str, Any]]]) -> None:
    scraped = 0
    for objects in built.values():
        for obj in [*_by(objects, "Deployment").values(), *_by(objects, "StatefulSet").values()]:
            annotations = obj["spec"]["template"]["metadata"].get("annotations", {})
            if annotations.get("prometheus.io/scrape") == "true":
                scraped += 1
                ports = {p["containerPort"] for c in obj["spec"]["template"]["spec"]["containers"]
                         for p in c.get("ports", [])}
                assert int(annotations["prometheus.io/port"]) in ports, obj["metadata"]["name"]
    assert scraped >= 5


def test_readme_secret_command_creates_the_declared_keys() -> None:
    declared = k8s_check.Declared.load()
    section = README.read_text().split("## Kubernetes", 1)[1].split("\n## ", 1)[0]
    created = set(re.findall(r"--from-literal=([A-Z_]+)=", section))
    assert created == set(declared.secrets["conveyor-secrets"]), created ^ set(declared.secrets["conveyor-secrets"])


def test_crd_schemas_refuse_what_keda_would(built: dict[str, list[dict[str, Any]]]) -> None:
    scaled = _by(built["prod"], "ScaledObject")["worker-product-quality-a"]
    assert k8s_check.schema_problems(scaled) == []
    bad = yaml.safe_load(yaml.safe_dump(scaled))
    bad["spec"]["minReplicaCount"] = "one"
    bad["spec"]["triggers"][0]["metadata"]["value"] = 1000  # KEDA's metadata values are strings
    bad["spec"]["maxReplicas"] = 4  # not a field
    problems = k8s_check.schema_problems(bad)
    assert any("minReplicaCount: 'one' is not of type 'integer'" in p for p in problems), problems
    assert any("metadata.value: 1000 is not of type 'string'" in p for p in problems), problems
    assert any("'maxReplicas' was unexpected" in p for p in problems), problems


# -- bad input: a copy of deploy/k8s with one change in the prod overlay


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    root = tmp_path / "k8s"
    shutil.copytree(k8s_check.K8S_DIR, root)
    return root


def _add_patch(root: Path, patch: dict[str, Any]) -> None:
    path = root / "overlays" / "prod" / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization.setdefault("patches", []).append(patch)
    path.write_text(yaml.safe_dump(kustomization))


def test_an_undeclared_secret_key_fails_naming_it(k8s_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _add_patch(k8s_copy, {"target": {"kind": "Deployment", "name": "monitoring-api"}, "patch": yaml.safe_dump([
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "ALERT_WEBHOOK_URL", "valueFrom": {"secretKeyRef": {"name": "conveyor-secrets",
                                                                              "key": "ALERT_WEBHOOK"}}}}])})
    with pytest.raises(k8s_check.CheckFailed) as failed:
        k8s_check.check_overlay(k8s_copy / "overlays" / "prod", k8s_copy)
    (problem,) = failed.value.problems
    assert problem.startswith("overlay prod: Deployment/monitoring-api container monitoring-api env "
                              "ALERT_WEBHOOK_URL reads key 'ALERT_WEBHOOK' of Secret 'conveyor-secrets', which is "
                              "not in the documented secret list"), problem
    # The command says the same and exits 1; dev, untouched, passes.
    assert k8s_check.run(["prod", "dev"], k8s_copy) == 1
    out = capsys.readouterr()
    assert "'ALERT_WEBHOOK'" in out.err and "overlay dev: " in out.out


def test_an_undeclared_secret_fails_and_so_does_a_value(k8s_copy: Path) -> None:
    _add_patch(k8s_copy, {"target": {"kind": "Deployment", "name": "ml-data-api"}, "patch": yaml.safe_dump([
        {"op": "add", "path": "/spec/template/spec/containers/0/envFrom/-", "value": {"secretRef": {"name": "db"}}},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "DJANGO_SECRET_KEY", "value": "in-the-manifest"}}])})
    with pytest.raises(k8s_check.CheckFailed) as failed:
        k8s_check.check_overlay(k8s_copy / "overlays" / "prod", k8s_copy)
    text = str(failed.value)
    assert "Deployment/ml-data-api container ml-data-api envFrom reads Secret 'db', which is not in the " \
           "documented secret list" in text
    assert "env DJANGO_SECRET_KEY: a secret given a value in the manifest" in text


def test_a_scaled_object_on_an_unknown_queue_fails_naming_it(k8s_copy: Path) -> None:
    _add_patch(k8s_copy, {"target": {"kind": "ScaledObject", "name": "worker-product-quality-a"},
                          "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/triggers/0/metadata/queueName",
                                                    "value": "gits_product_quality_B"}])})
    with pytest.raises(k8s_check.CheckFailed) as failed:
        k8s_check.check_overlay(k8s_copy / "overlays" / "prod", k8s_copy)
    (problem,) = failed.value.problems
    assert problem == ("overlay prod: ScaledObject/worker-product-quality-a scales on queue 'gits_product_quality_B', "
                       "which is no declared worker service's queue (deploy/k8s/declared.yaml workers: "
                       "service_product_quality_A (queue gits_product_quality_A))")


def test_a_worker_for_an_unknown_service_fails_naming_it(k8s_copy: Path) -> None:
    _add_patch(k8s_copy, {"target": {"kind": "Deployment", "name": "worker-product-quality-a"},
                          "patch": yaml.safe_dump([{"op": "replace",
                                                    "path": "/spec/template/spec/containers/0/env/0/value",
                                                    "value": "service_unknown"}])})
    with pytest.raises(k8s_check.CheckFailed) as failed:
        k8s_check.check_overlay(k8s_copy / "overlays" / "prod", k8s_copy)
    assert "Deployment/worker-product-quality-a serves service 'service_unknown', which is not a declared worker " \
           "service" in str(failed.value)


def test_conveyor_check_k8s_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert conveyor(["check", "k8s"]) == 0
    out = capsys.readouterr().out
    assert "overlay dev: " in out and "overlay prod: " in out and "objects valid" in out
    assert conveyor(["check", "k8s", "staging"]) == 1
    assert "overlay staging: no such overlay" in capsys.readouterr().err


def test_the_prometheus_operator_component_validates_against_its_crd(k8s_copy: Path) -> None:
    path = k8s_copy / "overlays" / "prod" / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    kustomization["components"] = ["../../components/prometheus-operator"]
    path.write_text(yaml.safe_dump(kustomization))
    objects = k8s_check.check_overlay(k8s_copy / "overlays" / "prod", k8s_copy)
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"http", "metrics"}
    # Every scraped Deployment of the overlay is selected by it, on a port it names.
    (selected,) = monitor["spec"]["selector"]["matchExpressions"]
    for obj in objects:
        annotations = obj.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
        if obj["kind"] == "Deployment" and annotations.get("prometheus.io/scrape") == "true":
            assert obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] in selected["values"]
    monitor["spec"]["podMetricsEndpoints"][0]["interval"] = "15 seconds"
    assert any("'15 seconds' does not match" in p for p in k8s_check.schema_problems(monitor, k8s_copy / "crds"))
