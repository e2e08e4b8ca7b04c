"""docker-compose.yml is validated statically: no Docker engine runs here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
SECRETS = {"API_TOKEN": "t", "POSTGRES_PASSWORD": "p", "RABBITMQ_PASSWORD": "r", "DJANGO_SECRET_KEY": "k",
           "ADMIN_PASSWORD": "a"}
# Every component of DESIGN.md that exists in the repository must run in the stack.
COMPONENTS = [
    "queue_manager", "ml_data_api", "worker", "data_source", "ground_truth_collector",
    "monitoring_api", "retraining_api", "django_admin",
]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_schema_valid() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian docker-compose not installed")
def test_docker_compose_config_accepts_it_and_demands_secrets() -> None:
    env = {**os.environ, **SECRETS}
    ok = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=env,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bare = {k: v for k, v in env.items() if k != "API_TOKEN"}
    refused = subprocess.run(["docker-compose", "-f", str(COMPOSE), "config", "-q"], env=bare,
                             capture_output=True, text=True, cwd="/")
    assert refused.returncode != 0 and "API_TOKEN" in refused.stderr + refused.stdout


def test_stores_and_components_present(compose: dict) -> None:
    services = compose["services"]
    for store in ("mongo", "timescaledb", "rabbitmq"):
        assert store in services
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb")
    assert services["rabbitmq"]["image"].endswith("-management")
    for component in COMPONENTS:
        if (ROOT / component / "__main__.py").exists():
            assert component in services, f"{component}/ exists but is not in docker-compose.yml"


def test_python_components_share_one_dockerfile(compose: dict) -> None:
    for name in COMPONENTS:
        service = compose["services"].get(name)
        if service is None:
            continue
        assert service["build"] == ".", name
        module = service["command"][-1] if service["command"][0] == "python" else None
        if module:
            assert (ROOT / module.replace(".", "/")).exists(), f"{name} runs missing module {module}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    for name in COMPONENTS:
        if name in compose["services"]:
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
    for name in COMPONENTS:
        service = compose["services"].get(name)
        if service is None:
            continue
        env = service["environment"]
        assert env["CONVEYOR_ENV"] == "production"
        assert ":?" in env["API_TOKEN"], "the token must be required, never defaulted"
