"""The manifests' probes ask what each API really serves: every API's readiness and liveness paths (and the
headers the probe sends) answer 200 on a running stack, on the port its `<NAME>_PORT` says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conveyor_tools import k8s_check
from conveyor_tools.stack import Stack, StackConfig

# Kubernetes name -> the stack's URL attribute
STACK_URL = {"queue-manager": "qm_url", "ml-data-api": "ml_url", "monitoring-api": "monitoring_url",
             "retraining-api": "retraining_url", "django-admin": "admin_url"}


def _deployments() -> dict[str, dict[str, Any]]:
    objects = k8s_check.build(k8s_check.K8S_DIR / "overlays" / "prod")
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("k8s_probes")
    config.admin = True
    admin = _deployments()["django-admin"]["spec"]["template"]["spec"]["containers"][0]
    allowed = next(e["value"] for e in admin["env"] if e["name"] == "DJANGO_ALLOWED_HOSTS")
    # The admin's host names as the manifest sets them, so the probes' Host header is put to the test.
    config.extra_env = {"CHECK_INTERVAL_SECONDS": "0", "RETRAINING_WARM_PYCARET": "false",
                        "DJANGO_ALLOWED_HOSTS": allowed}
    with Stack(config) as s:
        yield s


def test_every_probe_of_the_manifests_answers_on_a_running_stack(stack: Stack) -> None:
    deployments = _deployments()
    asked = []
    for name, attribute in STACK_URL.items():
        container: dict[str, Any] = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders", [])}
            answer = httpx.get(f"{getattr(stack, attribute)}{get['path']}", headers=headers, timeout=10)
            assert answer.status_code == 200, (name, probe, answer.status_code, answer.text[:300])
            asked.append((name, get["path"]))
    assert {path for _, path in asked} == {"/health", "/ready"} and len(asked) == 15
    # Without the header a probe sends the pod's address as Host, which Django refuses.
    assert httpx.get(f"{stack.admin_url}/health", headers={"Host": "10.1.2.3:8000"}, timeout=10).status_code == 400
