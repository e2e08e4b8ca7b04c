"""The few panel shapes the dashboards use, on the provisioned Prometheus datasource (uid `prometheus`)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
Query = tuple[str, str]  # (PromQL, legend)


def _targets(queries: list[Query]) -> list[prometheus.Dataquery]:
    return [prometheus.Dataquery().datasource(DATASOURCE).expr(expr).legend_format(legend)
            .ref_id(chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)]


def series(title: str, description: str, unit: str, *queries: Query, width: int = 12) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
             .span(width).height(8))
    for target in _targets(list(queries)):
        panel = panel.with_target(target)
    return panel


def figure(title: str, description: str, unit: str, query: Query, width: int = 6) -> stat.Panel:
    panel = stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit).span(width).height(4)
    for target in _targets([query]):
        panel = panel.with_target(target)
    return panel
