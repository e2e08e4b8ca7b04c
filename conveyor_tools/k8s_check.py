"""`conveyor check k8s`: build the kustomize overlays and check what they would apply, offline.

Each overlay under deploy/k8s/overlays is built with `kubectl kustomize`, and every object it yields is checked:
- a Kubernetes kind against the Kubernetes 1.32 schemas (kubernetes-validate, strict: unknown fields fail);
- a KEDA kind (ScaledObject, TriggerAuthentication) against the CRD schema kept in deploy/k8s/crds, unknown
  fields refused as the API server's strict field validation refuses them;
- every Secret it reads (secretKeyRef, envFrom, KEDA's secretTargetRef) is a Secret and key of the documented
  list (deploy/k8s/declared.yaml), no Secret object is shipped, and no secret variable is given a value;
- every worker serves a declared service, and every ScaledObject scales a worker on its service's queue.
A problem is one line naming the overlay, the object and what is wrong.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

K8S_DIR = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
OVERLAYS = ("dev", "prod")
# kubernetes-validate's strict schemas (unknown fields fail) of that version
_SCHEMA_DIR = f"v{KUBERNETES_VERSION}-local-strict"


class CheckFailed(Exception):
    """The overlay does not build, or what it builds breaks a rule: `problems` says which, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Declared:
    """deploy/k8s/declared.yaml: the Secrets and keys the manifests may read, and the workers' services."""

    secrets: dict[str, frozenset[str]]  # Secret name -> its keys
    workers: dict[str, str]  # service -> its queue

    @classmethod
    def load(cls, root: Path = K8S_DIR) -> Declared:
        data = yaml.safe_load((root / "declared.yaml").read_text())
        return cls({name: frozenset(keys) for name, keys in data["secrets"].items()}, dict(data["workers"]))


def build(overlay_dir: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` makes of an overlay."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise CheckFailed(["kubectl is not installed (Debian's kubectl 1.32 builds the overlays: "
                           "scripts/install_system_tools.sh)"])
    done = subprocess.run([kubectl, "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0:
        raise CheckFailed([f"{overlay_dir}: kubectl kustomize failed: {done.stderr.strip()}"])
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# -- schemas


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields refused wherever it lists properties and says nothing of others."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in out["properties"].items()}
        out.setdefault("additionalProperties", False)
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(out["additionalProperties"])
    return out


@cache
def crd_schemas(crd_dir: Path = K8S_DIR / "crds") -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the openAPIV3Schema kept for it."""
    schemas = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            jsonschema.Draft7Validator.check_schema(schema)
            schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def schema_problems(obj: dict[str, Any], crd_dir: Path = K8S_DIR / "crds") -> list[str]:
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    schemas = crd_schemas(crd_dir)
    if key in schemas:
        errors = sorted(jsonschema.Draft7Validator(schemas[key]).iter_errors(obj), key=lambda e: list(e.path))
        return [f"{_name(obj)}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message} (CRD schema in {crd_dir})"
                for e in errors]
    validator = _kubernetes_validator(key[0], key[1])
    if validator is None:
        return [f"{_name(obj)}: no schema for {key[0]} {key[1]}: neither a Kubernetes {KUBERNETES_VERSION} kind "
                f"nor a CRD kept in {crd_dir}"]
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
    return [f"{_name(obj)}: {'.'.join(map(str, e.path)) or '(top)'}: {e.message} (Kubernetes {KUBERNETES_VERSION} "
            "schema)" for e in errors[:1]]  # the first: a wrong field fails every branch of the schema after it


@cache
def _kubernetes_definitions() -> Any:
    return kv_utils.schema_contents(f"kubernetes-json-schema/{_SCHEMA_DIR}/_definitions.json", KUBERNETES_VERSION)


@cache
def _kubernetes_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """kubernetes-validate's strict schema of a kind, as its `validate` builds it, made once per kind: its
    `validate` reads the 5 MB definitions file again on every call (seconds for an overlay)."""
    # rbac.authorization.k8s.io/v1 -> rbac-v1, as kubernetes-validate names its files
    file_api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"kubernetes-json-schema/{_SCHEMA_DIR}/{kind.lower()}-{file_api}.json",
                                          KUBERNETES_VERSION)
    except FileNotFoundError:
        return None
    registry: Registry = Resource.from_contents(_kubernetes_definitions()) @ (Resource.from_contents(schema)
                                                                             @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# -- secrets


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        spec: dict[str, Any] = obj.get("spec", {}).get("template", {}).get("spec", {})
        return spec
    return None


def _containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = _pod_spec(obj) or {}
    yield from spec.get("initContainers", []) or []
    yield from spec.get("containers", []) or []


def secret_problems(obj: dict[str, Any], declared: Declared) -> list[str]:
    problems = []

    def check(where: str, secret: str, key: str | None) -> None:
        if secret not in declared.secrets:
            problems.append(f"{where} reads Secret {secret!r}, which is not in the documented secret list "
                            f"(deploy/k8s/declared.yaml: {', '.join(sorted(declared.secrets))})")
        elif key is not None and key not in declared.secrets[secret]:
            problems.append(f"{where} reads key {key!r} of Secret {secret!r}, which is not in the documented "
                            f"secret list (deploy/k8s/declared.yaml: {', '.join(sorted(declared.secrets[secret]))})")

    if obj.get("kind") == "Secret":
        problems.append(f"{_name(obj)}: the manifests ship a Secret; secret values are the operator's to create "
                        "(README \"Kubernetes\"), never in a manifest")
    secret_keys = set().union(*declared.secrets.values())
    for container in _containers(obj):
        where = f"{_name(obj)} container {container.get('name')}"
        for env in container.get("env", []) or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                check(f"{where} env {env.get('name')}", ref.get("name", ""), ref.get("key", ""))
            elif env.get("name") in secret_keys and "value" in env:
                problems.append(f"{where} env {env['name']}: a secret given a value in the manifest; read it "
                                "from the Secret (secretKeyRef)")
        for source in container.get("envFrom", []) or []:
            if source.get("secretRef"):
                check(f"{where} envFrom", source["secretRef"].get("name", ""), None)
    for volume in (_pod_spec(obj) or {}).get("volumes", []) or []:
        if volume.get("secret"):
            check(f"{_name(obj)} volume {volume.get('name')}", volume["secret"].get("secretName", ""), None)
    if obj.get("kind") == "TriggerAuthentication":
        for ref in obj.get("spec", {}).get("secretTargetRef", []) or []:
            check(f"{_name(obj)} parameter {ref.get('parameter')}", ref.get("name", ""), ref.get("key", ""))
    return problems


# -- workers


def _worker_service(deployment: dict[str, Any]) -> str | None:
    for container in _containers(deployment):
        if container.get("command", [])[-2:] == ["-m", "worker"]:
            for env in container.get("env", []) or []:
                if env.get("name") in ("WORKER_SERVICE_NAME", "SERVICE_NAME"):
                    return str(env.get("value", ""))
            return ""
    return None


def worker_problems(objects: list[dict[str, Any]], declared: Declared) -> list[str]:
    problems = []
    known = ", ".join(f"{service} (queue {queue})" for service, queue in declared.workers.items())
    workers = {}
    for obj in objects:
        if obj.get("kind") == "Deployment" and (service := _worker_service(obj)) is not None:
            workers[obj["metadata"]["name"]] = service
            if service not in declared.workers:
                problems.append(f"{_name(obj)} serves service {service!r}, which is not a declared worker "
                                f"service (deploy/k8s/declared.yaml workers: {known})")
    for obj in objects:
        if obj.get("kind") != "ScaledObject":
            continue
        target = obj.get("spec", {}).get("scaleTargetRef", {}).get("name")
        if target not in workers:
            problems.append(f"{_name(obj)} scales {target!r}, which is no worker Deployment of this overlay "
                            f"(workers: {', '.join(sorted(workers)) or 'none'})")
            continue
        expected = declared.workers.get(workers[target])
        for trigger in obj.get("spec", {}).get("triggers", []) or []:
            if trigger.get("type") != "rabbitmq":
                continue
            queue = (trigger.get("metadata") or {}).get("queueName")
            if queue not in declared.workers.values():
                problems.append(f"{_name(obj)} scales on queue {queue!r}, which is no declared worker service's "
                                f"queue (deploy/k8s/declared.yaml workers: {known})")
            elif expected is not None and queue != expected:
                problems.append(f"{_name(obj)} scales {target} (service {workers[target]}) on queue {queue!r}, "
                                f"but that service's queue is {expected!r}")
    return problems


# -- the whole check


def check_overlay(overlay_dir: Path, root: Path = K8S_DIR) -> list[dict[str, Any]]:
    """The overlay's objects when every rule holds; else CheckFailed with one line per problem."""
    declared = Declared.load(root)
    objects = build(overlay_dir)
    problems = []
    for obj in objects:
        problems += schema_problems(obj, root / "crds")
        problems += secret_problems(obj, declared)
    problems += worker_problems(objects, declared)
    if problems:
        raise CheckFailed([f"overlay {overlay_dir.name}: {p}" for p in problems])
    return objects


def main(argv: list[str] | None = None, root: Path = K8S_DIR) -> int:
    p = argparse.ArgumentParser(prog="conveyor check k8s", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overlays", nargs="*", default=list(OVERLAYS), help="overlays to check (default: dev prod)")
    args = p.parse_args(argv)
    return run(args.overlays, root)


def run(overlays: list[str], root: Path = K8S_DIR) -> int:
    failed = False
    known = sorted(p.name for p in (root / "overlays").iterdir() if (p / "kustomization.yaml").exists())
    for overlay in overlays:
        if overlay not in known:
            print(f"overlay {overlay}: no such overlay in {root / 'overlays'} (there are: {', '.join(known)})",
                  file=sys.stderr)
            failed = True
            continue
        try:
            objects = check_overlay(root / "overlays" / overlay, root)
        except CheckFailed as exc:
            failed = True
            print("\n".join(exc.problems), file=sys.stderr)
        else:
            print(f"overlay {overlay}: {len(objects)} objects valid (Kubernetes {KUBERNETES_VERSION}, KEDA CRDs), "
                  "secrets declared, workers on declared queues")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
