"""The Grafana dashboards are generated (conveyor_tools/grafana_dashboards), the committed JSON is the generator's
output, and every query parses as PromQL (promtool). That each names a metric the platform really exports is
checked against the live stack in tests/test_prometheus_live.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conveyor_tools.grafana_dashboards import DASHBOARDS, render
from conveyor_tools.grafana_dashboards.__main__ import main as generate
from conveyor_tools.grafana_dashboards.promql import metric_names

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "deploy" / "grafana" / "dashboards"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"


def panels(name: str) -> list[dict]:
    return [p for p in json.loads((COMMITTED / f"{name}.json").read_text())["panels"] if p["type"] != "row"]


def test_committed_json_is_the_generators_output(tmp_path: Path) -> None:
    for name in DASHBOARDS:
        assert (COMMITTED / f"{name}.json").read_text() == render(name), \
            f"{name}.json differs: run python -m conveyor_tools.grafana_dashboards"
    assert generate(["--check"]) == 0
    # --check does look: a hand-edited file is named.
    assert generate(["--out", str(tmp_path)]) == 0
    edited = tmp_path / "models.json"
    edited.write_text(edited.read_text().replace("Drift share", "Drift"))
    assert generate(["--out", str(tmp_path), "--check"]) == 1


def test_dashboards_parse_and_use_the_provisioned_datasource() -> None:
    uid = yaml.safe_load(DATASOURCES.read_text())["datasources"][0]["uid"]
    uids = set()
    for name in DASHBOARDS:
        dashboard = json.loads((COMMITTED / f"{name}.json").read_text())
        uids.add(dashboard["uid"])
        assert dashboard["title"].startswith("Conveyor / ")
        found = panels(name)
        assert len(found) >= 5, name
        for panel in found:
            assert panel["title"] and panel["description"], panel
            assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid and target["expr"], panel["title"]
    assert len(uids) == len(DASHBOARDS), "each dashboard has its own uid"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: scripts/install_system_tools.sh")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses a recording rule's expression: each query becomes one ($__rate_interval is Grafana's).
    queries = [target["expr"] for name in DASHBOARDS for panel in panels(name) for target in panel["targets"]]
    rules = [{"record": f"dashboard:query:{i}", "expr": expr.replace("$__rate_interval", "1m")}
             for i, expr in enumerate(queries)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout + result.stderr, result.stdout + result.stderr


def test_metric_names_of_a_query() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket'
            '{job="ml_data_api", route=~".*/(rows|csv)"}[5m]))) > 1 and on (job) up offset 5m')
    assert metric_names(expr) == {"http_request_duration_seconds_bucket", "up"}
    assert metric_names("max by (service, model) (worker_model_version * on (job, instance) group_left (service) "
                        "worker_info)") == {"worker_model_version", "worker_info"}
    assert metric_names("service:worker_messages:rate1m") == {"service:worker_messages:rate1m"}
