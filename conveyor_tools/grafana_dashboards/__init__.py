"""Grafana dashboards as code (grafana_foundation_sdk): pipeline, models and stores.

`python -m conveyor_tools.grafana_dashboards` writes deploy/grafana/dashboards/*.json, which Grafana in
docker-compose provisions; `--check` says whether the committed files are the generator's output. Every query
names a metric the platform exports, or a recording rule of deploy/prometheus/rules (tests check both live).
"""

from conveyor_tools.grafana_dashboards.build import DASHBOARDS, render

__all__ = ["DASHBOARDS", "render"]
