"""The explainer dashboard and Evidently's reports load nothing from another site (pure: pages built here).

test_browser.py opens both in Chromium with every non-local request refused; these check the HTML itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from conveyor.html_assets import bootstrap_css, external_assets, offline_page, plotly_js
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.monitoring import ReportKind
from monitoring_api.reports import Windows, html_report
from retraining_api.explainer import build_html

CDN_PAGE = """<html><head>
<link href="https://cdn.jsdelivr.net/npm/bootstrap@5.1.3/dist/css/bootstrap.min.css" rel="stylesheet">
<script src="https://cdn.jsdelivr.net/npm/@popperjs/core@2.10.2/dist/umd/popper.min.js"></script>
<script src="https://cdn.jsdelivr.net/npm/bootstrap@5.1.3/dist/js/bootstrap.min.js"></script>
</head><body><a href="https://plotly.com/">a link is no load</a>
<script charset="utf-8" src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script><div id="a"></div>
<script charset="utf-8" src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script><div id="b"></div>
</body></html>"""


def _frame(n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(int(shift * 10))
    frame = pd.DataFrame({"a": rng.random(n) + shift, "b": rng.random(n)})
    frame["y"] = 2 * frame.a + frame.b
    frame["prediction"] = frame.y + rng.normal(0, 0.1, n)
    return frame


def test_cdn_scripts_and_styles_become_the_packages_own_inline_once() -> None:
    assert len(external_assets(CDN_PAGE)) == 4, external_assets(CDN_PAGE)
    page = offline_page(CDN_PAGE)
    assert external_assets(page) == []
    assert page.count(plotly_js()[:200]) == 1, "plotly.js once, before the first figure"
    assert page.index("plotly.js v") < page.index('<div id="a">')
    assert bootstrap_css()[:200] in page and "cdn.jsdelivr.net" not in page
    assert '<a href="https://plotly.com/">' in page, "links a person follows stay"
    assert offline_page(page) == page, "a page already offline stays as it is"


def test_what_a_page_would_still_load_from_elsewhere_is_found() -> None:
    page = """<style>@import "https://fonts.googleapis.com/css?family=Roboto"; .x {background: url('https://e.com/i.png')}
    </style><img src="https://e.com/a.png"><link rel="icon" href="http://e.com/favicon.ico">
    <script src="https://unpkg.com/x.js"></script>"""
    assert external_assets(page) == ["http://e.com/favicon.ico", "https://e.com/a.png", "https://e.com/i.png",
                                      "https://fonts.googleapis.com/css?family=Roboto", "https://unpkg.com/x.js"]
    assert offline_page(page).count("https://") == 4, "an unknown file stays linked (and the browser test fails)"


def test_the_explainer_dashboard_carries_its_own_scripts_and_styles() -> None:
    schema = DatasetSchema.model_validate({"name": "d", "task": "regression", "target": "y",
                                           "features": [{"name": "a"}, {"name": "b"}]})
    rows = _frame(60)
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(rows[["a", "b"]], rows.y)
    html = build_html(model, rows[["a", "b", "y"]], schema, "offline")
    assert external_assets(html) == []
    assert "cdn." not in html.split("<script>", 1)[0], "no CDN address before the first inline script"
    assert plotly_js()[:200] in html and bootstrap_css()[:200] in html


def test_evidently_reports_load_nothing_from_elsewhere() -> None:
    windows = Windows(reference=_frame(200), current=_frame(200, 0.3), numerical=["a", "b"], target="y",
                      prediction="prediction")
    # One kind is enough here (each takes seconds): the browser test opens another through the admin.
    assert external_assets(html_report(ReportKind.regression_performance, windows)) == []
