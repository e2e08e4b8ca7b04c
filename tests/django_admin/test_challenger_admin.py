"""Champion and challenger in the admin: the service page, its form, the promotion with its confirmation, and
the dashboard's champion-vs-challenger chart (the chart's tests are pure: hand-made comparisons, no services)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import numpy as np
import psycopg2
import pytest

from conveyor.clients import MLDataClient, QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef, Stage
from conveyor.schemas.challenger import ChallengerPoint, ChallengerVerdict, Difference, ModelScore
from conveyor.schemas.datasets import DatasetSchema, Feature, FeatureType, Task
from conveyor.schemas.services import (
    ChallengerHealth,
    ChallengerMode,
    ChallengerPolicy,
    ModelRole,
    OldChampion,
    Service,
    ServiceCreate,
    ServiceUpdate,
)
from conveyor_tools.stack import Stack, StackConfig
from django_admin.dashboards import challenger_figures
from tests.django_admin.conftest import AdminSession, field_errors
from tests.support import wait_for
from tests.worker.conftest import FEATURES, model_bytes

T = TypeVar("T")

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CHAMPION, CHALLENGER = AlgorithmRef(name="m", version=1), AlgorithmRef(name="m", version=2)


def point(minute: float, champion_mae: float | None, challenger_mae: float | None,
          verdict: ChallengerVerdict = ChallengerVerdict.not_significant, labelled: tuple[int, int] = (100, 40),
          promoted: bool = False, metric: str = "MAE") -> ChallengerPoint:
    def score(role: ModelRole, model: AlgorithmRef, value: float | None, rows: int) -> ModelScore:
        return ModelScore(role=role, model=model, rows=rows * 2, labelled_rows=rows, metrics={metric: value})

    diff = None if champion_mae is None or challenger_mae is None else champion_mae - challenger_mae
    return ChallengerPoint(
        id=int(minute), service="s", dataset="d", mode=ChallengerMode.split,
        champion=score(ModelRole.champion, CHAMPION, champion_mae, labelled[0]),
        challenger=score(ModelRole.challenger, CHALLENGER, challenger_mae, labelled[1]),
        difference=Difference(metric=metric, value=diff, low=None if diff is None else diff - 0.5,
                              high=None if diff is None else diff + 0.5, confidence=0.95, paired=False,
                              method="bootstrap"),
        verdict=verdict, rows_needed=None if verdict is not ChallengerVerdict.not_significant else 120,
        reason=f"reason {minute}", at=T0 + timedelta(minutes=minute), promoted=promoted)


def traces(fig: Any) -> dict[str, Any]:
    return {t.name: t for t in fig.data}


def test_the_chart_draws_each_model_metric_and_the_rows_each_has_seen() -> None:
    points = [point(0, 10.0, 11.0), point(1, 10.2, 9.0, ChallengerVerdict.challenger_better, (300, 250)),
              point(2, 10.1, 12.5, ChallengerVerdict.challenger_worse, (400, 320))]
    fig = challenger_figures.challenger_figure(points)
    by_name = traces(fig)
    assert list(by_name["champion MAE"].y) == [10.0, 10.2, 10.1]
    assert list(by_name["challenger MAE"].y) == [11.0, 9.0, 12.5]
    assert list(by_name["champion labelled rows"].y) == [100, 300, 400]
    assert list(by_name["challenger labelled rows"].y) == [40, 250, 320]
    assert list(by_name["challenger rows predicted"].y) == [80, 500, 640]
    assert by_name["champion labelled rows"].yaxis == "y2", "rows on their own panel, under the metric"
    assert fig.layout.yaxis.title.text == "MAE (lower is better)"
    assert "m v2" in by_name["challenger MAE"].hovertext[1], "each point names the model it scored"


def test_each_verdict_is_a_coloured_marker_on_the_challenger_point() -> None:
    points = [point(0, 10.0, 11.0), point(1, 10.0, 9.0, ChallengerVerdict.challenger_better),
              point(2, 10.0, 9.1, ChallengerVerdict.challenger_better, promoted=True)]
    by_name = traces(challenger_figures.challenger_figure(points))
    better = by_name["verdict: challenger better"]
    assert list(better.y) == [9.0, 9.1] and better.marker.color == "#2e7d32"
    assert list(by_name["verdict: not significant"].y) == [11.0]
    assert "verdict: challenger worse" not in by_name, "only the verdicts that occurred are in the legend"
    assert list(by_name["promoted by monitoring"].x) == [T0 + timedelta(minutes=2)]


def test_the_api_lower_case_mae_is_written_as_people_write_it() -> None:
    fig = challenger_figures.challenger_figure([point(0, 10.0, 9.0, metric="mae")])
    assert fig.layout.yaxis.title.text == "MAE (lower is better)" and "champion MAE" in traces(fig)


def test_accuracy_is_better_higher_and_a_gap_breaks_the_lines() -> None:
    points = [point(m, 0.8, 0.82, metric="accuracy") for m in (0, 1, 2, 30)]
    fig = challenger_figures.challenger_figure(points)
    assert fig.layout.yaxis.title.text == "accuracy (higher is better)"
    champion = traces(fig)["champion accuracy"]
    assert len(champion.y) == 5 and champion.y[3] is None, "no line across the half hour nobody compared"


def test_no_comparisons_yet_says_so_and_the_panel_waits_for_a_challenger() -> None:
    fig = challenger_figures.challenger_figure([])
    assert "no champion-vs-challenger comparisons yet" in fig.layout.annotations[0].text
    assert not challenger_figures.panel_shown(None, [])
    assert challenger_figures.panel_shown(CHALLENGER, [])
    assert challenger_figures.panel_shown(None, [point(0, 1.0, 1.0)]), "after an archiving promotion"


def test_the_verdict_line_says_which_way_each_model_score_on_how_many_rows_and_how_sure() -> None:
    line = challenger_figures.verdict_line(point(0, 10.0, 9.0, labelled=(150, 60), metric="mae"))
    assert line.startswith("not significant (split, 2026-12-01 12:00:00 UTC): challenger m v2 MAE 9 on 60 "
                           "labelled rows vs champion m v1 MAE 10 on 150 labelled rows")
    assert "difference 1 [0.5, 1.5] at 95% (positive: challenger better)" in line
    assert line.endswith("about 120 more labelled rows per model needed")


@pytest.mark.parametrize("metrics", [{"mae": 3.0}, {"MAE": 3.0}])
def test_a_metric_is_found_whatever_its_case(metrics: dict[str, float | None]) -> None:
    score = ModelScore(role=ModelRole.champion, model=CHAMPION, rows=1, labelled_rows=1, metrics=metrics)
    assert challenger_figures.metric_of(score, "MAE") == 3.0


# -- the service page and the promotion, against the real stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The admin's stack (in place of conftest's) with monitoring's schedule every 2 s: the latest verdict the
    service page shows comes from the real scheduled comparisons. No retraining_api: these pages never ask it."""
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("stack")
    config.admin = True
    config.retraining = False
    config.extra_env = {"MONITORING_CHECK_INTERVAL_SECONDS": "2", "MONITORING_CHALLENGER_BOOTSTRAP_RESAMPLES": "200"}
    with Stack(config) as s:
        yield s


def qm(stack: Stack, call: Callable[[QueueManagerClient], Awaitable[T]]) -> T:
    async def run() -> T:
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as client:
            return await call(client)

    return asyncio.run(run())


@dataclass
class Contest:
    """A service with champion m v1 and challenger m v2 of its dataset."""

    dataset: str
    model: str
    service: str

    @property
    def page(self) -> str:
        return f"/admin/platform/services/{self.service}/"

    def form(self, **changes: Any) -> dict[str, Any]:
        """The service form as the page fills it in, with `changes` (a value None: the box left empty)."""
        fields = {"dataset": self.dataset, "queue": self.service, "algorithm": f"{self.model}:1",
                  "challenger": f"{self.model}:2", "challenger_mode": "split", "challenger_share": "0.25",
                  "challenger_min_labelled_rows": "200", "challenger_confidence": "0.95",
                  "challenger_old_champion": "archive", "enabled": "on", "retrain_margin": "0"}
        fields.update({k: v for k, v in changes.items()})
        return {k: v for k, v in fields.items() if v is not None}


def contest(stack: Stack, mode: ChallengerMode | None = ChallengerMode.split) -> Contest:
    suffix = uuid.uuid4().hex[:6]
    dataset, model, service = f"cc_{suffix}", f"cc_model_{suffix}", f"cc_svc_{suffix}"

    async def make(c: QueueManagerClient) -> None:
        await c.create_dataset(DatasetSchema(name=dataset, task=Task.regression, target="y",
                                             target_type=FeatureType.float,
                                             features=[Feature(name=f, type=FeatureType.float) for f in FEATURES]))
        for offset in (0.0, 1.0):
            await c.upload_algorithm(name=model, dataset=dataset, model=model_bytes(offset))
        await c.create_service(ServiceCreate(
            name=service, dataset=dataset, queue=service, algorithm=AlgorithmRef(name=model, version=1),
            challenger=AlgorithmRef(name=model, version=2) if mode else None, challenger_mode=mode,
            challenger_share=0.25))

    qm(stack, make)
    return Contest(dataset, model, service)


def versions(service: Service) -> tuple[int | None, int | None]:
    """The versions of champion and challenger (None: none)."""
    return (service.algorithm.version if service.algorithm else None,
            service.challenger.version if service.challenger else None)


def admin_log(stack: Stack, object_id: str) -> list[str]:
    """The change messages Django's admin log keeps for an object, oldest first."""
    with psycopg2.connect(stack.database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT change_message FROM django_admin_log WHERE object_id = %s ORDER BY id", (object_id,))
        return [r[0] for r in cur.fetchall()]


def test_the_service_page_shows_champion_challenger_mode_share_and_health(stack: Stack,
                                                                          admin: AdminSession) -> None:
    c = contest(stack)
    page = admin.get(c.page)
    assert page.status_code == 200, page.text[-2000:]
    status = page.text.split('id="challenger-status"')[1].split("</table>")[0]
    assert f"{c.model} v1" in status and f"{c.model} v2" in status
    assert "split: the challenger predicts and serves a stable share" in status and "25% of records" in status
    assert "no report: no worker has had trouble with it" in status
    # The schedule (every 2 s here) compares them at once, without labelled rows: no verdict yet.
    assert "no comparison yet" in status or "not significant (split" in status, status
    assert "auto-promotion</th><td>off" in status
    assert f'href="/admin/platform/services/{c.service}/promote/"' in page.text, "the promote button"
    assert "created" in page.text.split('id="service-history"')[1], "the service's history"

    qm(stack, lambda q: q.report_challenger_health(c.service, ChallengerHealth(
        state="failing", error="model file unreadable", challenger=AlgorithmRef(name=c.model, version=2),
        worker="w-7")))
    status = admin.get(c.page).text.split('id="challenger-status"')[1]
    assert '<span class="status-failed">failing: model file unreadable (worker w-7' in status
    assert "no report: every worker loaded it" in status, "the champion's health"
    reported = httpx.put(f"{stack.qm_url}/queue_manager/services/{c.service}/champion/health",
                         headers={"Authorization": f"Bearer {stack.config.api_token}"}, timeout=30,
                         json={"state": "failing", "error": "not a model", "worker": "w-8",
                               "champion": {"name": c.model, "version": 1}})
    assert reported.status_code == 200, reported.text
    status = admin.get(c.page).text.split('id="challenger-status"')[1]
    assert "failing: not a model (worker w-8" in status and "serving nothing: messages wait in the queue" in status

    qm(stack, lambda q: q.update_service(c.service, ServiceUpdate(challenger_mode=ChallengerMode.shadow)))
    status = admin.get(c.page).text.split('id="challenger-status"')[1].split("</table>")[0]
    assert "shadow: both models predict every record" in status and "of records" not in status, \
        "the share is shown in split mode only"


def test_the_form_edits_mode_and_policy_and_removing_the_challenger_leaves_the_champion_alone(
        stack: Stack, admin: AdminSession) -> None:
    c = contest(stack)
    before = qm(stack, lambda q: q.get_service(c.service))
    page = admin.submit(c.page, c.form(challenger_mode="shadow", challenger_auto_promote="on",
                                       challenger_min_labelled_rows="500", challenger_confidence="0.99",
                                       challenger_old_champion="challenger"))
    assert f"Service {c.service} saved." in page.text, page.text[-2000:]
    after = qm(stack, lambda q: q.get_service(c.service))
    assert after.challenger_mode is ChallengerMode.shadow
    assert after.assignment_revision == before.assignment_revision + 1, "a new mode is a new assignment"
    policy = after.challenger_policy
    assert (policy.auto_promote, policy.min_labelled_rows, policy.confidence, policy.old_champion) == \
        (True, 500, 0.99, OldChampion.challenger)
    history = qm(stack, lambda q: q.service_history(c.service))
    assert history[0].by == stack.config.admin_user, "the history names the person, not 'api'"

    # The mode box still says shadow: the challenger removed, the service is champion only at once.
    admin.submit(c.page, c.form(challenger="", challenger_mode="shadow"))
    cleared = qm(stack, lambda q: q.get_service(c.service))
    assert versions(cleared) == (1, None) and cleared.challenger_mode is None
    assert "promote/" not in admin.get(c.page).text, "nothing to promote"


def test_bad_input_is_the_api_sentence_on_the_form_never_a_server_error(stack: Stack, admin: AdminSession) -> None:
    c = contest(stack, mode=None)
    cases = {
        "challenger_mode shadow needs a challenger": c.form(challenger="", challenger_mode="shadow"),
        "is the champion itself": c.form(challenger=f"{c.model}:1"),
    }
    for sentence, form in cases.items():
        page = admin.submit(c.page, form, follow=False)
        assert page.status_code == 200 and "errornote" in page.text and sentence in page.text, \
            (sentence, page.status_code, page.text[-1500:])
    # A policy's bound is said on its own box, without pydantic's wrapping.
    on_fields = {"challenger_confidence": (c.form(challenger_confidence="2"), "less than or equal to 0.999"),
                 "challenger_min_labelled_rows": (c.form(challenger_min_labelled_rows="3"),
                                                  "greater than or equal to 20")}
    for field, (form, sentence) in on_fields.items():
        page = admin.submit(c.page, form, follow=False)
        assert page.status_code == 200 and sentence in field_errors(page.text, field), (field, page.text[-1500:])
        assert "pydantic" not in page.text and "errornote" in page.text
    share = admin.submit(c.page, c.form(challenger_share="1.5"), follow=False)
    assert share.status_code == 200 and "less than or equal to 1" in share.text
    untouched = qm(stack, lambda q: q.get_service(c.service))
    assert untouched.challenger is None and untouched.challenger_policy.confidence == 0.95, "nothing was saved"

    other = contest(stack, mode=None)
    page = admin.submit("/admin/platform/services/add/", {
        **c.form(challenger=f"{other.model}:2"), "name": f"{c.service}_x"}, follow=False)
    assert page.status_code == 200 and "errornote" in page.text and other.dataset in page.text, page.text[-1500:]


def test_promoting_asks_first_then_swaps_the_models_and_says_who_and_why(stack: Stack,
                                                                         admin: AdminSession) -> None:
    c = contest(stack)
    promote = f"{c.page}promote/"
    confirm = admin.get(promote)
    assert confirm.status_code == 200 and f"Yes, promote {c.model} v2" in confirm.text
    assert 'id="promote-doubt"' in confirm.text, "no verdict has found the challenger better yet"
    assert 'value="archive"' in confirm.text and 'value="challenger"' in confirm.text
    assert versions(qm(stack, lambda q: q.get_service(c.service))) == (1, 2), "a GET changes nothing"

    assert f'name="expected" value="{c.model}:2"' in confirm.text, "the challenger seen, sent back with the form"
    page = admin.submit(promote, {"old_champion": "challenger", "reason": "v2 reads the new sensor right",
                                  "expected": f"{c.model}:2"})
    assert f"Promoted {c.model} v2 to champion of {c.service}; {c.model} v1 is now the challenger (split)" \
        in page.text, page.text.split("messagelist")[-1][:600]
    swapped = qm(stack, lambda q: q.get_service(c.service))
    assert versions(swapped) == (2, 1) and swapped.challenger_mode is ChallengerMode.split
    assert qm(stack, lambda q: q.get_algorithm(c.model, 2)).stage is Stage.production
    entry = qm(stack, lambda q: q.service_history(c.service))[0]
    assert (entry.kind, entry.by, entry.reason) == ("challenger_promoted", stack.config.admin_user,
                                                    "v2 reads the new sensor right")
    logged = admin_log(stack, f"service {c.service}")[-1]
    assert logged.startswith(f"{stack.config.admin_user} promoted challenger {c.model} v2 to champion of service "
                             f"{c.service}, replacing {c.model} v1 (kept as challenger)")
    assert logged.endswith("reason: v2 reads the new sensor right")
    assert "challenger promoted" in page.text.split('id="service-history"')[1]

    # A confirmation about a challenger that changed meanwhile promotes nothing.
    qm(stack, lambda q: q.upload_algorithm(name=c.model, dataset=c.dataset, model=model_bytes(2.0)))
    qm(stack, lambda q: q.update_service(c.service, ServiceUpdate(challenger=AlgorithmRef(name=c.model, version=3))))
    stale = admin.submit(promote, {"old_champion": "archive", "expected": f"{c.model}:1"})
    assert "Not promoted: the challenger of service" in stale.text and "never promotes another" in stale.text
    assert versions(qm(stack, lambda q: q.get_service(c.service))) == (2, 3)

    # Promoted archiving the old champion: champion only, the old one archived.
    admin.submit(promote, {"old_champion": "archive", "reason": "", "expected": f"{c.model}:3"})
    final = qm(stack, lambda q: q.get_service(c.service))
    assert versions(final) == (3, None) and final.challenger_mode is None
    assert qm(stack, lambda q: q.get_algorithm(c.model, 2)).stage is Stage.archived
    assert "(archived); reason: none given" in admin_log(stack, f"service {c.service}")[-1]
    refused = admin.get(promote)
    assert refused.status_code == 302, "no challenger: back to the service page"
    assert "has no challenger to promote" in admin.get(c.page).text


def predictions(c: Contest, model: int, role: ModelRole, noise: float, rows: int, seed: int) -> list[dict[str, Any]]:
    """Labelled production rows as the workers and the ground truth would leave them: the label y, and the
    model's prediction off by `noise` on average."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    y = x[:, 0] + 2 * x[:, 1] - x[:, 2]
    predicted = y + rng.normal(scale=noise, size=rows)
    return [{"record_id": f"{c.service}-{role.value}-{i}", **dict(zip(FEATURES, map(float, x[i]), strict=True)),
             "prediction": float(predicted[i]), "label": float(y[i]), "model_name": c.model, "model_version": model,
             "model_role": role.value, "service": c.service} for i in range(rows)]


def test_the_latest_verdict_on_the_page_comes_from_the_scheduled_comparisons(stack: Stack,
                                                                             admin: AdminSession) -> None:
    c = contest(stack)
    qm(stack, lambda q: q.update_service(c.service, ServiceUpdate(challenger_policy=ChallengerPolicy(
        min_labelled_rows=50))))
    rows = predictions(c, 1, ModelRole.champion, 3.0, 120, 1) + predictions(c, 2, ModelRole.challenger, 0.3, 120, 2)

    async def store() -> None:
        async with MLDataClient(stack.ml_url, stack.config.api_token) as ml:
            await ml.insert_rows(c.dataset, "production", [{k: v for k, v in r.items() if k != "label"}
                                                           for r in rows])
            await ml.post_labels(c.dataset, [{"record_id": r["record_id"], "label": r["label"]} for r in rows])

    asyncio.run(store())

    def verdict() -> str:
        status = admin.get(c.page).text.split('id="challenger-status"')[1].split("</table>")[0]
        return status if "challenger better (split" in status else ""

    status = wait_for(verdict, 60, "a scheduled comparison on the service page")
    assert '<span class="status-ok">challenger better (split' in status
    assert f"challenger {c.model} v2 MAE" in status and f"champion {c.model} v1 MAE" in status
    assert "on 120 labelled rows vs" in status and "why the verdict" in status
    confirm = admin.get(f"{c.page}promote/").text
    assert "challenger better (split" in confirm and 'id="promote-doubt"' not in confirm, \
        "a verdict for these two models: no warning"

    # The monitoring dashboard's panel, asked the way the page's script asks Dash for it.
    # The panel refreshes at a pace of its own: its interval and watchdog are inputs, their settings outputs.
    panel = dash_callback(admin, "monitoring", ["challenger.figure", "challenger-verdict.children",
                                                "challenger-panel.style", "refresh-challenger.interval",
                                                "refresh-challenger.max_intervals",
                                                "refresh-challenger-watchdog.interval"],
                          {"refresh-challenger.n_intervals": 0, "refresh-challenger-watchdog.n_intervals": 0,
                           "service.value": c.service})
    figure, line, style = (panel[k] for k in ("challenger", "challenger-verdict", "challenger-panel"))
    by_name = {t["name"]: t for t in figure["figure"]["data"]}
    assert by_name["verdict: challenger better"]["y"], "the scheduled verdicts as markers"
    assert by_name["champion labelled rows"]["y"][-1] == 120 and by_name["challenger labelled rows"]["y"][-1] == 120
    assert line["children"].startswith("challenger better (split") and style["style"] == {}


def dash_callback(admin: AdminSession, app: str, outputs: list[str], inputs: dict[str, Any]) -> dict[str, Any]:
    """One Dash callback through django-plotly-dash's update endpoint, as the dashboard page calls it."""
    def prop(text: str, value: Any = None) -> dict[str, Any]:
        id_, _, name = text.partition(".")
        return {"id": id_, "property": name, **({"value": value} if value is not None or text in inputs else {})}

    body = {"output": ".." + "...".join(outputs) + "..", "outputs": [prop(o) for o in outputs],
            "inputs": [prop(k, v) for k, v in inputs.items()], "changedPropIds": [list(inputs)[-1]], "state": []}
    answer = admin.http.post(f"/django_plotly_dash/app/{app}/_dash-update-component", json=body)
    assert answer.status_code == 200, answer.text[-1000:]
    response: dict[str, Any] = answer.json()["response"]
    return response
