"""docker-compose.yml is validated statically: no Docker engine runs here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"API_TOKEN": "t", "API_READ_TOKEN": "rt", "POSTGRES_PASSWORD": "p", "RABBITMQ_PASSWORD": "r",
           "DJANGO_SECRET_KEY": "k", "ADMIN_PASSWORD": "a", "GRAFANA_ADMIN_PASSWORD": "g"}
# Every component of DESIGN.md that exists in the repository must run in the stack.
COMPONENTS = [
    "queue_manager", "ml_data_api", "worker", "data_source", "ground_truth_collector",
    "monitoring_api", "retraining_api", "django_admin",
]
BUILT = [name for name in COMPONENTS if (ROOT / name / "__main__.py").exists()]  # the ones in the repository


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _validate(path: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run([str(tool), "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True)


def test_schema_valid(compose: dict, tmp_path: Path) -> None:
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout
    # The validator does look: a typo in a service's keys is refused, naming the key.
    compose["services"]["worker"]["replica"] = 2
    typo = tmp_path / "docker-compose.yml"
    typo.write_text(yaml.safe_dump(compose))
    refused = _validate(typo)
    assert refused.returncode != 0 and "'replica' was unexpected" in refused.stdout, refused.stdout


def _compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    # An empty env file: a developer's .env must not supply what the test leaves out.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(["docker-compose", "--env-file", str(empty), "-f", str(COMPOSE), "config"],
                          env=env, capture_output=True, text=True, cwd=tmp_path)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian docker-compose not installed")
def test_docker_compose_config_accepts_it_and_demands_secrets(tmp_path: Path) -> None:
    env = {**os.environ, **SECRETS}
    ok = _compose_config(env, tmp_path)
    assert ok.returncode == 0, ok.stderr
    resolved = yaml.safe_load(ok.stdout)["services"]
    assert set(BUILT) <= set(resolved), f"missing from the resolved stack: {set(BUILT) - set(resolved)}"
    assert resolved["worker"]["deploy"]["replicas"] >= 2, "workers are replicated"
    for name in BUILT:
        environment = resolved[name]["environment"]
        assert environment["API_TOKEN"] == SECRETS["API_TOKEN"], f"{name} does not get the token"
        assert environment["CONVEYOR_ENV"] == "production", name
    assert ":p@timescaledb" in resolved["ml_data_api"]["environment"]["DATABASE_URL"]
    assert resolved["timescaledb"]["environment"]["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert resolved["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] == SECRETS["RABBITMQ_PASSWORD"]
    admin = resolved["django_admin"]["environment"]
    assert (admin["DJANGO_SECRET_KEY"], admin["ADMIN_PASSWORD"]) == (SECRETS["DJANGO_SECRET_KEY"],
                                                                     SECRETS["ADMIN_PASSWORD"])
    assert resolved["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == SECRETS["GRAFANA_ADMIN_PASSWORD"]
    # Each secret is required: left out, compose refuses and names it (the runs side by side).
    with ThreadPoolExecutor() as pool:
        refusals = pool.map(lambda secret: (secret, _compose_config(
            {k: v for k, v in env.items() if k != secret}, tmp_path)), SECRETS)
        for secret, refused in refusals:
            assert refused.returncode != 0 and f"set {secret} in .env" in refused.stderr + refused.stdout, secret


def test_stores_and_components_present(compose: dict) -> None:
    services = compose["services"]
    for store in ("mongo", "timescaledb", "rabbitmq"):
        assert store in services
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb")
    assert services["rabbitmq"]["image"].endswith("-management")
    for component in BUILT:
        assert component in services, f"{component}/ exists but is not in docker-compose.yml"


def test_python_components_share_one_dockerfile(compose: dict) -> None:
    for name in BUILT:
        service = compose["services"][name]
        assert service["build"] == ".", name
        module = service["command"][-1] if service["command"][0] == "python" else None
        if module:
            assert (ROOT / module.replace(".", "/")).exists(), f"{name} runs missing module {module}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    for name in BUILT:
        assert f"COPY {name} " in dockerfile, f"Dockerfile does not copy {name}/"


def test_dependencies_and_health(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] in {
                "service_healthy", "service_started", "service_completed_successfully",
            }
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
        replicas = (service.get("deploy") or {}).get("replicas")
        if replicas is not None:
            assert isinstance(replicas, int) and replicas >= 1


def test_urls_point_at_services(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            for host in re.findall(r"//(?:[^@/]*@)?([a-z_]+):\d+", str(value)):
                assert host in services, f"{name}.{key} points at unknown host {host}"


def test_production_mode_and_no_default_secrets(compose: dict) -> None:
    for name in BUILT:
        env = compose["services"][name]["environment"]
        assert env["CONVEYOR_ENV"] == "production"
        assert ":?" in env["API_TOKEN"], "the token must be required, never defaulted"
        assert ":?" in env["API_READ_TOKEN"], "the read token must be required, never defaulted"


def _mounts(service: dict) -> dict[str, Path]:
    """Container path -> repository path of a service's bind mounts from the repository."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def test_prometheus_scrapes_what_compose_runs(compose: dict) -> None:
    services = compose["services"]
    mounts = _mounts(services["prometheus"])
    assert mounts["/etc/prometheus"] == ROOT / "deploy" / "prometheus"
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # Each API at the host and port compose gives it.
    for name, port_key in (("queue_manager", "QUEUE_MANAGER_PORT"), ("ml_data_api", "ML_DATA_API_PORT"),
                           ("monitoring_api", "MONITORING_API_PORT"), ("retraining_api", "RETRAINING_API_PORT")):
        targets = [t for c in jobs[name]["static_configs"] for t in c["targets"]]
        assert targets == [f"{name}:{services[name]['environment'][port_key]}"], name
    # Workers by DNS on the compose service, at the metrics port the workers are given: any replica count.
    (dns,) = jobs["worker"]["dns_sd_configs"]
    assert dns["names"] == ["worker"] and dns["type"] == "A"
    assert dns["port"] == int(services["worker"]["environment"]["WORKER_METRICS_PORT"])
    # The broker's rabbitmq_prometheus endpoint, with the plugin enabled by the file compose mounts.
    for job in ("rabbitmq", "rabbitmq_queues"):
        assert [t for c in jobs[job]["static_configs"] for t in c["targets"]] == ["rabbitmq:15692"]
    plugins = _mounts(services["rabbitmq"])["/etc/rabbitmq/enabled_plugins"].read_text()
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins


def test_grafana_is_provisioned_from_the_repository(compose: dict) -> None:
    grafana = compose["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "conveyor.yml").read_text())["providers"][0]
    dashboards = mounts[provider["options"]["path"]]
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["models.json", "pipeline.json", "stores.json"]
    # No admin/admin: the password is required, never defaulted.
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
