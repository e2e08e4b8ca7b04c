"""The repository's Prometheus configuration and rules, checked by promtool (Debian's prometheus package):
the config and rules load, and each alert's unit tests (deploy/prometheus/tests) pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: scripts/install_system_tools.sh "
                                                         "installs Debian's prometheus package")


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(PROMTOOL), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout and "SUCCESS" in result.stdout, result.stdout


def test_rules_are_valid() -> None:
    rules = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert rules
    result = promtool("check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_they_pass() -> None:
    result = promtool("test", "rules", PROMETHEUS / "tests" / "conveyor_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {rule["alert"] for path in (PROMETHEUS / "rules").glob("*.yml")
              for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule}
    tested = {case["alertname"] for test in yaml.safe_load((PROMETHEUS / "tests" / "conveyor_test.yml").read_text())
              ["tests"] for case in test.get("alert_rule_test", [])}
    assert alerts <= tested, f"alerts without a unit test: {sorted(alerts - tested)}"


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n"
                      "        expr: rate(worker_messages_total[1m]\n")
    result = promtool("check", "rules", broken)
    assert result.returncode != 0 and "parse error" in result.stdout + result.stderr, result.stdout + result.stderr
