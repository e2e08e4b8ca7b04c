"""The pipeline map reads queue depth and consumers from RabbitMQ's management API when RABBITMQ_MANAGEMENT_URL
names it, and says plainly when it is not enabled or does not answer.

The map runs in a process of its own with the admin's Django settings (other tests of this folder replace them
by bare ones): this file, run as a script, prints what the map's callback shows. Its APIs point at a closed port
(they are down on the map; only the queue figures are under test); the broker is a private RabbitMQ node with the
management plugin, one for the module, holding a service queue in a known state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _maps(management_urls: list[str]) -> list[dict[str, Any]]:
    """What the map shows with each of these RABBITMQ_MANAGEMENT_URLs, from one process of the admin's settings."""
    from conveyor_tools import devstack

    nowhere = f"http://127.0.0.1:{devstack.free_port()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "django_admin.settings",
           **{f"{name}_URL": nowhere for name in ("QUEUE_MANAGER", "ML_DATA_API", "MONITORING_API", "RETRAINING_API")}}
    env.pop("RABBITMQ_MANAGEMENT_URL", None)
    done = subprocess.run([sys.executable, __file__, json.dumps(management_urls)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    shown: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return shown


@pytest.fixture(scope="module")
def broker() -> Iterator[Any]:
    from tests.test_status_management import BrokerWithQueue

    held = BrokerWithQueue("pipeline-map-mgmt")
    try:
        held.start()
        yield held
    finally:
        held.stop()


@pytest.fixture(scope="module")
def shown(broker: Any) -> dict[str, dict[str, Any]]:
    """The map with the management API enabled, not enabled, and with a wrong password."""
    wrong = broker.node.management_url.replace("http://", "http://guest:not-the-password@")
    enabled, unset, refused = _maps([broker.management_url, "", wrong])
    return {"enabled": enabled, "unset": unset, "refused": refused}


def test_the_map_shows_each_queue_from_the_management_api(broker: Any, shown: dict[str, Any]) -> None:
    from tests.test_status_management import QUEUE

    shown = shown["enabled"]
    queue = shown["status"]["queue"]
    assert queue["state"] == "ok"  # messages waiting, and a consumer on them
    assert queue["detail"] == (f"5 waiting in 1 queues, 1 consumers, 2 dead letters; queue depth and consumers from "
                               f"RabbitMQ's management API at http://guest@127.0.0.1:{broker.node.management_port}/api")
    assert "; 1 consumers on the queues" in shown["status"]["workers"]["detail"]
    assert {"component": f"queue {QUEUE}", "state": "ok",
            "detail": "5 waiting (ready 3, unacknowledged 2); 1 consumers; 2 dead letters"} in shown["rows"]
    assert "guest:guest" not in json.dumps(shown)


def test_the_map_says_when_the_management_api_is_not_enabled(shown: dict[str, Any]) -> None:
    shown = shown["unset"]
    assert shown["status"]["queue"]["detail"].endswith(
        "RabbitMQ management API not enabled (RABBITMQ_MANAGEMENT_URL is unset): no queue depth or consumers; "
        "records counted from the jobs of the last 5 min")
    assert not [r for r in shown["rows"] if r["component"].startswith("queue ")]


def test_a_refusing_management_api_is_named_without_its_password(broker: Any, shown: dict[str, Any]) -> None:
    detail = shown["refused"]["status"]["queue"]["detail"]
    assert (f"RabbitMQ's management API at http://guest@127.0.0.1:{broker.node.management_port}/api refused the "
            "request (401): check the user and password in RABBITMQ_MANAGEMENT_URL: no queue depth") in detail
    assert "not-the-password" not in detail


def main() -> None:
    """The map's callback in the admin's own settings, once a management URL given as a JSON list in argv: print
    its components (by the map's keys) and its table's rows."""
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    from django.conf import settings

    from django_admin import platform
    from django_admin.dashboards import pipeline

    labels = {label: key for key, label, *_ in pipeline.NODES}
    shown = []
    for url in json.loads(sys.argv[1]):
        settings.CONVEYOR["RABBITMQ_MANAGEMENT_URL"] = url
        platform._clients.close()  # the admin's clients are made once per setting: make them again for this URL
        _figure, shown_table, *_pace = pipeline.update(None, None)
        head, *body = shown_table.children  # the components table has no column widths, so no colgroup
        columns = [cell.children for cell in head.children.children]
        rows = [dict(zip(columns, [cell.children for cell in line.children], strict=True)) for line in body]
        status = {labels[r["component"]]: {"state": r["state"], "detail": r["detail"]} for r in rows
                  if r["component"] in labels}
        shown.append({"status": status, "rows": rows})
    print(json.dumps(shown))


if __name__ == "__main__":
    main()
