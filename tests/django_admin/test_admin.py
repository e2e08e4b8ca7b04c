"""The admin site is a face on the platform: what it changes the APIs show at once, and the other way round."""

from __future__ import annotations

import asyncio
import hashlib
import html
import os
import re
import subprocess
import sys
import time
import uuid

import httpx

from conveyor.clients import QueueManagerClient
from conveyor.schemas.algorithms import AlgorithmRef, Stage, StageUpdate
from conveyor.schemas.datasets import DatasetSchema
from conveyor.schemas.services import ServiceUpdate
from conveyor_tools import devstack
from conveyor_tools.stack import Stack
from tests.django_admin.conftest import AdminSession, field_errors
from tests.retraining_api.conftest import seed
from tests.worker.conftest import model_bytes

PROTECTED = ["/admin/", "/admin/platform/datasets/", "/admin/platform/services/", "/admin/platform/runs/",
             "/dash_main_dashboard", "/dash_monitoring_links", "/dash_monitoring", "/dash_retraining",
             "/dash_pipeline_map", "/dash_monitoring_links/report?kind=data_drift",
             "/django_plotly_dash/app/main_dashboard/_dash-layout", "/admin/platform/explainer/?model_name=x"]


def qm(stack: Stack, coro_fn):
    async def run():
        async with QueueManagerClient(stack.qm_url, stack.config.api_token) as client:
            return await coro_fn(client)

    return asyncio.run(run())


def test_unauthenticated_requests_go_to_the_login_page(stack: Stack) -> None:
    for path in PROTECTED:
        answer = httpx.get(f"{stack.admin_url}{path}", follow_redirects=False)
        assert answer.status_code == 302, (path, answer.status_code)
        assert answer.headers["location"].startswith("/admin/login/"), path


def test_a_wrong_password_does_not_log_in(stack: Stack) -> None:
    session = AdminSession(stack.admin_url)
    answer = session.login(stack.config.admin_user, "not-the-password")
    assert answer.status_code == 200 and "correct username and password" in answer.text
    assert session.get("/admin/").status_code == 302


def test_dataset_model_and_service_round_trip(stack: Stack, admin: AdminSession) -> None:
    suffix = uuid.uuid4().hex[:6]
    dataset, model, service = f"adm_{suffix}", f"adm_model_{suffix}", f"adm_svc_{suffix}"

    # Made in the admin, seen through the API.
    page = admin.submit("/admin/platform/datasets/add/", {
        "name": dataset, "task": "regression", "target": "y", "target_type": "float",
        "features": "a\nb:float\nc", "description": "made in the admin"})
    assert page.status_code == 200 and f"Dataset {dataset} created" in page.text
    found = qm(stack, lambda c: c.get_dataset(dataset))
    assert [f.name for f in found.features] == ["a", "b", "c"]

    page = admin.submit("/admin/platform/algorithms/add/", {
        "name": model, "dataset": dataset, "framework": "scikit-learn", "description": "uploaded in the admin",
        "metrics": '{"RMSE": 1.5}', "stage": "staging"}, files={"file": ("model.joblib", model_bytes())})
    assert page.status_code == 200 and f"Uploaded {model} version 1" in page.text, page.text[-2000:]
    uploaded = qm(stack, lambda c: c.get_algorithm(model, 1))
    assert uploaded.metrics == {"RMSE": 1.5} and uploaded.stage is Stage.staging

    page = admin.submit("/admin/platform/services/add/", {
        "name": service, "dataset": dataset, "queue": f"q_{suffix}", "algorithm": f"{model}:1", "challenger": "",
        "challenger_share": "0", "enabled": "on", "description": "", "retrain_margin": "0"})
    assert page.status_code == 200 and f"Service {service} created" in page.text, page.text[-2000:]
    created = qm(stack, lambda c: c.get_service(service))
    assert created.algorithm.name == model and created.algorithm.version == 1

    # Changed through the API, seen in the admin.
    qm(stack, lambda c: c.upload_algorithm(name=model, dataset=dataset, model=model_bytes(1.0)))
    qm(stack, lambda c: c.set_stage(model, 2, StageUpdate(stage=Stage.production)))
    qm(stack, lambda c: c.update_service(service, ServiceUpdate(
        challenger=AlgorithmRef(name=model, version=2), challenger_share=0.25, enabled=False)))
    listing = admin.get("/admin/platform/services/").text
    assert f"{model} v1" in listing and f"{model} v2 (25%)" in listing
    form = admin.get(f"/admin/platform/services/{service}/").text
    assert f'value="{model}:2" selected' in form and 'name="enabled"' in form and 'name="enabled" checked' not in form
    assert "production" in admin.get(f"/admin/platform/algorithms/{model}/2/").text

    # Changed in the admin again: the API has it at once.
    admin.submit(f"/admin/platform/services/{service}/", {
        "dataset": dataset, "queue": f"q_{suffix}", "algorithm": f"{model}:2", "challenger": "",
        "challenger_share": "0", "enabled": "on", "description": "now on v2", "retrain_on": "drift_detected",
        "retrain_margin": "0.05"})
    changed = qm(stack, lambda c: c.get_service(service))
    assert changed.algorithm.version == 2 and changed.challenger is None and changed.enabled
    assert [t.value for t in changed.retraining.on] == ["drift_detected"] and changed.retraining.margin == 0.05
    admin.submit(f"/admin/platform/algorithms/{model}/1/", {"stage": "archived", "reason": "replaced"})
    assert qm(stack, lambda c: c.get_algorithm(model, 1)).stage is Stage.archived

    # The admin log records who did what; the objects themselves stay in the APIs.
    history = admin.get("/admin/").text
    assert f"dataset {dataset}" in history and f"service {service}" in history


def test_api_errors_are_admin_messages_not_server_errors(stack: Stack, admin: AdminSession) -> None:
    suffix = uuid.uuid4().hex[:6]
    dataset, model, service = f"err_{suffix}", f"err_model_{suffix}", f"err_svc_{suffix}"
    fields = {"name": dataset, "task": "regression", "target": "y", "target_type": "float", "features": "a\nb\nc"}
    admin.submit("/admin/platform/datasets/add/", fields)
    duplicate = admin.submit("/admin/platform/datasets/add/", fields)
    assert duplicate.status_code == 200 and "already exists" in duplicate.text

    too_big = admin.submit("/admin/platform/algorithms/add/", {"name": model, "dataset": dataset, "stage": "staging"},
                           files={"file": ("model.joblib", os.urandom(2 * 1024 * 1024))})
    assert too_big.status_code == 200 and "MB" in too_big.text and "errornote" in too_big.text
    assert "kept from your last try: model.joblib (2,097,152 bytes)" in too_big.text, "the API's refusal keeps it"

    admin.submit("/admin/platform/algorithms/add/", {"name": model, "dataset": dataset, "stage": "staging"},
                 files={"file": ("model.joblib", model_bytes())})
    admin.submit("/admin/platform/services/add/", {
        "name": service, "dataset": dataset, "queue": f"q_{suffix}", "algorithm": f"{model}:1",
        "challenger_share": "0", "enabled": "on"})
    in_use = admin.submit(f"/admin/platform/algorithms/{model}/1/", {"_delete": "1"})
    assert in_use.status_code == 200 and f"used by service(s) {service}" in in_use.text
    assert qm(stack, lambda c: c.get_algorithm(model, 1)).version == 1, "nothing was deleted"
    bad_schema = admin.submit("/admin/platform/datasets/add/", {**fields, "name": f"x_{suffix}", "features": "y"})
    assert bad_schema.status_code == 200 and "errornote" in bad_schema.text
    assert "Value error" not in bad_schema.text and "pydantic" not in bad_schema.text
    bad_report = admin.get("/dash_monitoring_links/report", kind="no_such_report", dataset=dataset)
    assert bad_report.status_code == 400 and "kind is one of data_quality" in bad_report.text
    bad_window = admin.get("/dash_monitoring_links/report", kind="data_drift", dataset=dataset, current_rows="0")
    assert bad_window.status_code == 400 and "current_rows" in bad_window.text


def test_a_refused_dataset_form_says_on_the_field_what_to_change_never_a_pydantic_dump(
        admin: AdminSession) -> None:
    page = admin.submit("/admin/platform/datasets/add/", {
        "name": f"sentences_{uuid.uuid4().hex[:6]}", "task": "regression", "target": "y", "target_type": "float",
        "features": "a\n2nd_try\nc:float"}, follow=False)
    assert page.status_code == 200, page.status_code
    features = field_errors(page.text, "features")
    assert features.startswith("feature 2: ") and "letter" in features and "2nd_try" in features, features
    for noise in ("pydantic", "validation error for", "Value error", "[type=", "input_value"):
        assert noise not in page.text, (noise, features)
    assert field_errors(page.text, "name") == "", "the other boxes are fine"
    assert 'class="errornote">Please correct the errors below.' in page.text


def test_a_chosen_model_file_is_kept_after_a_refusal_and_used_by_the_next_try(stack: Stack,
                                                                               admin: AdminSession) -> None:
    suffix = uuid.uuid4().hex[:6]
    dataset, model = f"kept_{suffix}", f"kept_model_{suffix}"
    qm(stack, lambda c: c.create_dataset(DatasetSchema.model_validate({
        "name": dataset, "task": "regression", "target": "y", "features": [{"name": n} for n in "abc"]})))
    content = model_bytes()
    form = {"name": model, "dataset": dataset, "framework": "scikit-learn", "stage": "staging"}
    refused = admin.submit("/admin/platform/algorithms/add/", {**form, "metrics": "{not json"},
                           files={"file": ("model.joblib", content)}, follow=False)
    assert refused.status_code == 200 and "not JSON" in field_errors(refused.text, "metrics"), refused.text[-2000:]
    assert f"kept from your last try: model.joblib ({len(content):,} bytes)" in refused.text
    token = re.search(r'name="kept_file" value="([^"]+)"', refused.text)
    assert token, "the kept file is named in a hidden field"

    # Someone else's session cannot use it.
    other = AdminSession(stack.admin_url)
    other.login(stack.config.admin_user, stack.config.admin_password)
    stranger = other.submit("/admin/platform/algorithms/add/", {**form, "metrics": "{}", "kept_file": token.group(1)},
                            follow=False)
    other.close()
    assert stranger.status_code == 200 and "choose the model file" in field_errors(stranger.text, "file")

    # The next try sends no file: the kept one is uploaded, byte for byte.
    uploaded = admin.submit("/admin/platform/algorithms/add/", {**form, "metrics": '{"RMSE": 1.0}',
                                                                "kept_file": token.group(1)})
    assert f"Uploaded {model} version 1" in uploaded.text, uploaded.text[-2000:]
    stored = qm(stack, lambda c: c.get_algorithm(model, 1))
    assert stored.file.sha256 == hashlib.sha256(content).hexdigest() and stored.file.filename == "model.joblib"
    again = admin.submit("/admin/platform/algorithms/add/", {**form, "metrics": "{}", "kept_file": token.group(1)},
                         follow=False)
    assert "choose the model file" in field_errors(again.text, "file"), "a kept file is used once"


def test_an_admin_whose_token_the_apis_refuse_says_so_never_a_server_error(stack: Stack) -> None:
    """API_TOKEN set to the read token: pages read, changes are refused with a read-only sentence; a wrong
    token: every page says which setting to change. Never a 500."""
    admins = {kind: stack.start_python("django_admin", name=f"django_admin_{kind}", wait=False,
                                       env={"API_TOKEN": token, "ADMIN_PORT": str(port)},
                                       health=f"http://127.0.0.1:{port}/health")
              for kind, token, port in (("read", stack.config.api_read_token, devstack.free_port()),
                                        ("wrong", "not-a-token-of-this-platform", devstack.free_port()))}
    for component in admins.values():
        stack.wait_healthy(component)
    try:
        sessions = {}
        for kind, component in admins.items():
            assert component.health_url
            sessions[kind] = AdminSession(component.health_url.removesuffix("/health"))
            assert sessions[kind].login(stack.config.admin_user, stack.config.admin_password).status_code == 302
        reader, stranger = sessions["read"], sessions["wrong"]

        assert reader.get("/admin/platform/datasets/").status_code == 200
        refused = reader.submit("/admin/platform/datasets/add/", {
            "name": f"ro_{uuid.uuid4().hex[:6]}", "task": "regression", "target": "y", "target_type": "float",
            "features": "a"}, follow=False)
        assert refused.status_code == 200
        assert "the admin is read-only until its API_TOKEN" in html.unescape(refused.text)

        for path in ("/admin/platform/datasets/", "/admin/platform/services/", "/admin/platform/algorithms/",
                     "/admin/platform/runs/", "/admin/platform/jobs/", "/dash_main_dashboard",
                     "/django_plotly_dash/app/main_dashboard/_dash-layout"):
            answer = stranger.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        assert "refused the admin's token (401)" in html.unescape(stranger.get("/admin/platform/datasets/").text)
        proxied = stranger.get("/admin/platform/explainer/", model_name="m", version="1")
        assert proxied.status_code == 502 and "refused the admin's token" in html.unescape(proxied.text)
        for session in sessions.values():
            session.close()
    finally:
        for component in admins.values():
            devstack.stop_process(component.proc)
            stack.components.remove(component)


def test_retraining_runs_start_follow_and_promote_in_the_admin(stack: Stack, admin: AdminSession) -> None:
    seeded = seed(stack, production_rows=0)
    page = admin.submit("/admin/platform/runs/add/", {
        "dataset": seeded.dataset, "algorithm": seeded.model, "include": "lr", "training_source": "training",
        "holdout_source": "testing", "holdout_last": "1000", "margin": "0"})
    assert page.status_code == 200 and "queued; this page follows it" in page.text, page.text[-2000:]
    run_path = page.url.path
    deadline = time.monotonic() + 240
    while '<span class="status-finished">' not in (text := admin.get(run_path).text):
        assert '<span class="status-failed">' not in text and time.monotonic() < deadline, text[-3000:]
        time.sleep(1)
    assert "New against previous, on the same holdout rows" in text and "RMSE" in text
    promoted = admin.submit(run_path, {"_promote": "1"})
    assert "is in production; services moved to it: " + seeded.service in promoted.text
    assert qm(stack, lambda c: c.get_service(seeded.service)).algorithm.version == 2
    assert "run " in admin.get("/admin/platform/runs/").text


def test_restarting_the_admin_loses_nothing(stack: Stack, admin: AdminSession) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin.submit("/admin/platform/datasets/add/", {"name": f"keep_{suffix}", "task": "regression", "target": "y",
                                                   "target_type": "float", "features": "a"})
    component = next(c for c in stack.components if c.name == "django_admin")
    devstack.stop_process(component.proc)
    stack.components.remove(component)
    stack.start_python("django_admin", health=f"{stack.admin_url}/health")
    again = AdminSession(stack.admin_url)
    assert again.login(stack.config.admin_user, stack.config.admin_password).status_code == 302
    assert f"keep_{suffix}" in again.get("/admin/platform/datasets/").text
    again.close()


def test_production_mode_refuses_debug_and_a_default_secret_key() -> None:
    def settings_with(**env: str) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CONVEYOR_ENV"))}
        return subprocess.run([sys.executable, "-c", "import django_admin.settings"], cwd=devstack.ROOT,
                              env={**clean, "CONVEYOR_ENV": "production", "API_TOKEN": "a-real-token-123", **env},
                              capture_output=True, text=True)

    missing = settings_with()
    assert missing.returncode != 0 and "DJANGO_SECRET_KEY must be set" in missing.stderr
    debug = settings_with(DJANGO_SECRET_KEY="k" * 50, DJANGO_DEBUG="true")
    assert debug.returncode != 0 and "DJANGO_DEBUG must be off" in debug.stderr
    assert settings_with(DJANGO_SECRET_KEY="k" * 50).returncode == 0
