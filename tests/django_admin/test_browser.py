"""In headless Chromium against `conveyor demo`: log in, every dashboard holds data, a retraining run
started from the retraining dashboard finishes there. Screenshots go to artifacts/screenshots/.

Offline and clean: the browser reaches 127.0.0.1 only (every other request is refused), and each test fails
on any failed request, any answer of 400 or more, any console error and any uncaught script error in any of
its pages (the dashboards, the challenger panel, the explainer dashboard, an Evidently report).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError

from conveyor.schemas.algorithms import AlgorithmRef
from conveyor.schemas.services import ChallengerMode, Service, ServiceUpdate
from conveyor_tools import devstack
from tests.running_demo import RunningDemo
from tests.support import wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = devstack.ROOT / "artifacts" / "screenshots"
# JavaScript: how many points each Plotly chart on the page draws.
POINTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
    g => (g.data || []).reduce((n, t) => n + ((t.y || t.x || []).length || 0), 0))"""
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# A page made while it loads (an Evidently report, the explainer's 5 MB) takes long on a busy 2-core machine.
REPORT_WAIT_MS = 120_000
SERVICE = "service_product_quality_A"


class Watch:
    """What went wrong in a browser context's pages: failed requests, answers of 400 or more, console errors and
    uncaught script errors. Requests to any host but this machine are refused, so a page that needs the
    internet fails here too."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.blocked: list[str] = []
        self._leaving = False

    def refuse_other_hosts(self, route: Any) -> None:
        url = route.request.url
        if urlparse(url).hostname in LOCAL_HOSTS or not url.startswith(("http:", "https:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def attach(self, page: Any) -> None:
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught error on {page.url}: {error}"))

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # Leaving a page cancels the dashboards' refreshes in flight: the browser's doing, not a failure.
        if self._leaving and "ERR_ABORTED" in failure and urlparse(request.url).hostname in LOCAL_HOSTS:
            return
        self.problems.append(f"request failed: {request.method} {request.url} ({failure})")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url')})")

    @contextmanager
    def leaving(self) -> Iterator[None]:
        self._leaving = True
        try:
            yield
        finally:
            self._leaving = False

    def take(self) -> list[str]:
        problems, self.problems = self.problems + [f"blocked (not local): {u}" for u in self.blocked], []
        self.blocked = []
        return problems


@pytest.fixture(scope="module")
def demo(running_demo: RunningDemo) -> dict[str, str]:
    """The session's `conveyor demo` (checks every 5 s), once it has predictions, labels and checks."""
    running_demo.ensure_running()
    values = running_demo.values
    assert values["ADMIN_PASSWORD"] in running_demo.log_text(), "the password is printed"
    # Live data: labelled predictions and a few monitoring checks.
    counts = f"{values['ML_DATA_API_URL']}/ml_data_api/datasets/product_quality/counts"
    checks = f"{values['MONITORING_API_URL']}/monitoring_api/checks"

    def live() -> bool:
        assert running_demo.running, running_demo.log_text()[-3000:]
        return running_demo.read(counts)["labeled"] >= 50 and len(running_demo.read(checks)) >= 2

    wait_for(live, 240, "50 labelled predictions and 2 monitoring checks in the demo", interval=1,
             details=lambda: running_demo.log_text()[-3000:])
    return values


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which("chromium") or Path(CHROMIUM).exists(), \
        "Chromium is missing: `apt-get install -y chromium` (make test installs it when it can)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def watch() -> Watch:
    return Watch()


@pytest.fixture(autouse=True)
def clean_pages(watch: Watch, running_demo: RunningDemo) -> Iterator[None]:
    """Each test fails on what went wrong in its pages (and anything left from before it), with the end of the
    admin's log, where a server error's traceback is."""
    yield
    problems = watch.take()
    if problems:
        log = running_demo.state_dir / "logs" / "django_admin.log"
        tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no admin log)"
        pytest.fail("\n".join(problems) + "\n--- the admin's log ends:\n" + tail)


@pytest.fixture(scope="module")
def page(browser, demo: dict[str, str], watch: Watch):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.route("**/*", watch.refuse_other_hosts)
    context.on("page", watch.attach)  # every tab a test opens (reports, the explainer) is watched as well
    tab = context.new_page()
    tab.goto(f"{demo['ADMIN_URL']}/dash_main_dashboard")
    assert "/admin/login/" in tab.url, "not logged in: the dashboard sends the browser to the login page"
    tab.fill("#id_username", demo["ADMIN_USER"])
    tab.fill("#id_password", demo["ADMIN_PASSWORD"])
    tab.click("input[type=submit]")
    tab.wait_for_url("**/dash_main_dashboard")
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield tab
    with watch.leaving():
        context.close()


def _charts(page, minimum: list[int], timeout: float = 120) -> list[int]:
    """Wait until the page's charts draw at least `minimum` points each (in page order); two minutes, for a busy
    machine where the demo's first data and the first refreshes come late."""
    deadline = time.monotonic() + timeout
    while True:
        points = page.evaluate(POINTS)
        if len(points) >= len(minimum) and all(p >= m for p, m in zip(points, minimum, strict=False)):
            return points
        assert time.monotonic() < deadline, f"charts draw {points}, expected at least {minimum}"
        page.wait_for_timeout(500)


def _open(page, demo: dict[str, str], name: str, watch: Watch):
    with watch.leaving():
        page.goto(f"{demo['ADMIN_URL']}/dash_{name}")
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)


def _close(tab, watch: Watch) -> None:
    with watch.leaving():
        tab.close()


def _wait_built(tab, deadline: float) -> None:
    """Until the explainer's own page (about 5 MB, through retraining_api and the admin) has loaded."""
    while True:
        try:
            tab.wait_for_load_state("load", timeout=REPORT_WAIT_MS)
            if "Building" not in tab.title() and tab.query_selector(".js-plotly-plot") is not None:
                return
        except PlaywrightError as exc:  # a reload began while we asked: ask the next page
            if "navigat" not in str(exc) and "context was destroyed" not in str(exc):
                raise
        assert time.monotonic() < deadline, f"the explainer is still being built: {tab.url}"
        tab.wait_for_timeout(500)


def set_service(demo: dict[str, str], name: str, update: ServiceUpdate) -> Service:
    """A change to the demo's service with its write token (plain httpx: Playwright's loop owns this thread)."""
    answer = httpx.patch(f"{demo['QUEUE_MANAGER_URL']}/queue_manager/services/{name}",
                         json=update.model_dump(mode="json", exclude_unset=True),
                         headers={"Authorization": f"Bearer {demo['API_TOKEN']}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return Service.model_validate(answer.json())


def test_main_dashboard_shows_jobs_latency_predictions_rows_and_workers(page, demo, watch) -> None:
    _open(page, demo, "main_dashboard", watch)
    # jobs by status, throughput, latency (p50 and p95), predictions and labels, rows per table
    _charts(page, [1, 1, 2, 20, 4])
    workers = page.locator("#workers-table tr")
    page.wait_for_function("document.querySelectorAll('#workers-table tr').length >= 3", timeout=30_000)
    assert "worker-1" in workers.all_inner_texts()[1] + workers.all_inner_texts()[2]
    assert "product_quality_model" in page.inner_text("#workers-table")
    # Refreshes are paced (each answer opens the interval for one more tick): the page keeps refreshing.
    line = page.inner_text("#status-line")
    assert "took" in line, line
    page.wait_for_function("old => document.querySelector('#status-line').innerText !== old", arg=line,
                           timeout=60_000)
    page.screenshot(path=str(SHOTS / "main_dashboard.png"), full_page=True)


def test_monitoring_links_offer_the_task_reports_and_draw_the_thresholds(page, demo, watch) -> None:
    _open(page, demo, "monitoring_links", watch)
    # a drift statistic for each of the 11 features, and the threshold drawn across each bar
    assert _charts(page, [22])[0] == 22, "11 drift bars and 11 thresholds"
    traces = page.evaluate("document.querySelector('#drift .js-plotly-plot').data.map(t => t.type + ':' + t.name)")
    assert traces[0].startswith("bar:") and "threshold" in traces[1], traces
    links = page.locator("a.report-link")
    assert links.count() == 4, "a regression dataset: no classification report"
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    assert any("regression_performance" in h for h in hrefs)
    assert not any("classification_performance" in h for h in hrefs), hrefs
    page.wait_for_function("document.querySelector('#calibration').innerText.length > 0", timeout=30_000)
    calibration = page.inner_text("#calibration")
    assert "calibrated" in calibration or "threshold" in calibration.lower(), calibration
    page.screenshot(path=str(SHOTS / "monitoring_links.png"), full_page=True)
    href = links.first.get_attribute("href")
    report = page.context.new_page()
    report.goto(f"{demo['ADMIN_URL']}{href}", timeout=REPORT_WAIT_MS)  # Evidently runs while the page loads
    assert "evidently" in report.content().lower()
    # Evidently's own script draws the report: its charts are there with no internet.
    report.wait_for_selector(".js-plotly-plot", timeout=60_000)
    report.screenshot(path=str(SHOTS / "evidently_report.png"), full_page=True)
    _close(report, watch)


def test_real_time_monitoring_draws_checks_against_thresholds_with_episodes_paged(page, demo, watch) -> None:
    _open(page, demo, "monitoring", watch)
    page.wait_for_function("document.querySelector('#service').innerText.includes('service_product_quality_A')",
                           timeout=30_000)  # the default service: the one that streams
    _charts(page, [2, 0, 11])  # drift per check; performance; the heat strip's 11 features
    figure = "document.querySelector('#{} .js-plotly-plot')"
    heat = page.evaluate(f"{figure.format('feature-drift')}.data[0]")
    assert heat["type"] == "heatmap" and len(heat["y"]) == 11, "a heat strip: features × checks"
    assert all(len(row) >= 2 for row in heat["z"]), "a column per check"
    drift = page.evaluate(f"{figure.format('drift-share')}.layout")
    assert drift["yaxis2"]["range"] == [0, 1], "the drift share on a 0–1 axis"
    assert drift["xaxis2"]["title"]["text"] == "time (UTC)"
    assert any(s.get("y0") == 1 for s in drift.get("shapes", [])), "the calibrated threshold's line at 1"
    page.wait_for_function("document.querySelector('#episodes-page').innerText.includes('episode')",
                           timeout=30_000)
    assert page.locator("#episodes-prev").is_disabled(), "the first page has no newer episodes"
    assert page.locator("#episodes-next").count() == 1
    page.wait_for_function("document.querySelector('#decision').innerText.includes('Latest check')", timeout=30_000)
    page.screenshot(path=str(SHOTS / "monitoring.png"), full_page=True)


def test_pipeline_map_shows_every_component_healthy(page, demo, watch) -> None:
    _open(page, demo, "pipeline_map", watch)
    _charts(page, [7])
    page.wait_for_function("document.querySelectorAll('#components-table tr').length == 8", timeout=30_000)
    text = page.inner_text("#components-table")
    for component in ("queue_manager", "ml_data_api", "monitoring_api", "retraining_api", "workers"):
        assert component in text
    assert "down" not in text, text
    page.screenshot(path=str(SHOTS / "pipeline_map.png"), full_page=True)


def test_start_a_retraining_run_from_the_dashboard_and_follow_it(page, demo, watch) -> None:
    _open(page, demo, "retraining", watch)
    page.wait_for_function("document.querySelector('#model') && "
                           "document.querySelector('#model').innerText.includes('product_quality_model')",
                           timeout=30_000)
    page.locator("#source label", has_text="training split + labelled production rows").click()
    page.click("#start")
    page.wait_for_function("document.querySelector('#started').innerText.includes('queued')", timeout=60_000)
    run_id = page.inner_text("#started").split()[1]
    page.wait_for_function("document.querySelector('#runs-table') && "
                           "document.querySelector('#runs-table').innerText.includes('training+production')",
                           timeout=30_000)  # the chosen source reached retraining_api
    deadline = time.monotonic() + 240
    # the run's status and the Promote button, read together (one callback updates both)
    state = "() => [document.querySelector('#run-status').innerText, document.querySelector('#promote').disabled]"
    while f"Run {run_id}: finished" not in (status := page.evaluate(state))[0]:
        assert "failed" not in status[0] and time.monotonic() < deadline, status[0]
        if f"Run {run_id}:" in status[0]:
            assert status[1], f"no Promote before the run has finished: {status[0]}"
        page.wait_for_timeout(1000)
    _charts(page, [8])  # new and previous: MAE, RMSE | R2, MAPE, on two scales
    assert page.evaluate("document.querySelector('#comparison .js-plotly-plot').layout.xaxis2 !== undefined")
    page.screenshot(path=str(SHOTS / "retraining.png"), full_page=True)
    explainer = page.locator("#explainer-link").get_attribute("href")
    tab = page.context.new_page()
    with watch.leaving():  # the "being built" page reloads itself every 2 s until the dashboard is there
        tab.goto(f"{demo['ADMIN_URL']}{explainer}", timeout=REPORT_WAIT_MS)
        _wait_built(tab, time.monotonic() + 180)
    assert "T_data_1_1" in tab.content()
    # Offline, its charts draw and Bootstrap styles and switches its tabs (both inline in the page).
    tab.wait_for_selector(".js-plotly-plot", timeout=30_000)
    assert tab.evaluate("getComputedStyle(document.querySelector('.nav-tabs')).display") == "flex", "Bootstrap"
    tabs = tab.locator("[data-bs-toggle=tab]")
    assert tabs.count() >= 2
    tabs.nth(1).click()
    tab.wait_for_function("document.querySelectorAll('.tab-pane.active').length == 1 && "
                          "document.querySelectorAll('.tab-pane')[1].classList.contains('active')", timeout=10_000)
    tab.screenshot(path=str(SHOTS / "explainer.png"))
    _close(tab, watch)
    page.wait_for_function("!document.querySelector('#promote').disabled", timeout=30_000)
    asked: list[str] = []

    def confirm(dialog) -> None:  # the confirmation before promoting: read, then accept
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.click("#promote")
    page.wait_for_function("document.querySelector('#promoted').innerText.includes('is in production')",
                           timeout=60_000)
    assert asked and "in production" in asked[0], asked
    assert "service_product_quality_A" in page.inner_text("#promoted")
    page.wait_for_function("document.querySelector('#promote').disabled", timeout=30_000)  # promoted: no second time


def test_the_challenger_panel_draws_while_the_service_has_a_challenger(page, demo, watch,
                                                                     running_demo: RunningDemo) -> None:
    """After the promotion above, the previous version comes back as a shadow challenger for a moment."""
    service = Service.model_validate(running_demo.read(f"{demo['QUEUE_MANAGER_URL']}/queue_manager/services/{SERVICE}"))
    assert service.algorithm is not None and service.algorithm.version >= 2, "the retraining test promoted"
    previous = AlgorithmRef(name=service.algorithm.name, version=service.algorithm.version - 1)
    set_service(demo, SERVICE, ServiceUpdate(challenger=previous, challenger_mode=ChallengerMode.shadow))
    try:
        _open(page, demo, "monitoring", watch)
        page.wait_for_function(f"document.querySelector('#service').innerText.includes('{SERVICE}')",
                               timeout=30_000)
        page.wait_for_function("getComputedStyle(document.querySelector('#challenger-panel')).display != 'none' "
                               "&& document.querySelector('#challenger .js-plotly-plot') !== null", timeout=60_000)
        page.screenshot(path=str(SHOTS / "challenger_panel.png"), full_page=True)
    finally:
        set_service(demo, SERVICE, ServiceUpdate(challenger=None))
