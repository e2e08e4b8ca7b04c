"""Settings: declared once, read with their older names too, checked at start-up; the README's table agrees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import ml_data_api.settings
import monitoring_api.settings
import queue_manager.settings
import retraining_api.settings
import worker.settings
from conveyor import settings
from conveyor.settings import DEV_READ_TOKEN, DEV_TOKEN, ImproperlyConfigured, describe, load
from conveyor_tools import settings_doc
from django_admin.environment import AdminSettings, DjangoSettings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_CLASSES = [cls for _, cls in settings_doc.COMPONENTS]
# Read under the same name by every component that needs them (the services' URLs too).
PLATFORM_WIDE = {"API_TOKEN", "API_READ_TOKEN", "METRICS_REQUIRE_TOKEN", "MAX_BODY_MB", "MAX_UPLOAD_MB", "AMQP_URL",
                 "EVENTS_EXCHANGE", "DATABASE_URL", "MONGODB_URI", "QUEUE_MANAGER_URL",
                 "ML_DATA_API_URL", "MONITORING_API_URL", "RETRAINING_API_URL", "RABBITMQ_MANAGEMENT_URL"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No declared variable (new or old name) leaks in from the shell running the tests."""
    monkeypatch.delenv("CONVEYOR_ENV", raising=False)
    for settings_class in SETTINGS_CLASSES:
        for described in describe(settings_class):
            for name in described.names:
                monkeypatch.delenv(name, raising=False)


# -- one secret outside a settings class


def test_development_falls_back_to_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOME_SECRET", raising=False)
    assert settings.secret("SOME_SECRET", DEV_TOKEN) == DEV_TOKEN
    monkeypatch.setenv("SOME_SECRET", "s3cr3t-value")
    assert settings.secret("SOME_SECRET", DEV_TOKEN) == "s3cr3t-value"


@pytest.mark.parametrize("value", [None, "", DEV_TOKEN, "changeme"])
def test_production_refuses_missing_or_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    if value is None:
        monkeypatch.delenv("SOME_SECRET", raising=False)
    else:
        monkeypatch.setenv("SOME_SECRET", value)
    with pytest.raises(ImproperlyConfigured, match="SOME_SECRET"):
        settings.secret("SOME_SECRET", DEV_TOKEN)


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    monkeypatch.setenv("SOME_SECRET", "a-long-random-value")
    assert settings.secret("SOME_SECRET", DEV_TOKEN) == "a-long-random-value"


# -- declarations


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_each_class_reads_its_own_prefix_or_a_platform_wide_name(settings_class: Any) -> None:
    for described in describe(settings_class):
        assert described.variable.startswith(settings_class.env_prefix) or described.variable in PLATFORM_WIDE, \
            f"{described.variable} is neither under {settings_class.env_prefix} nor platform-wide"


@pytest.mark.parametrize("settings_class", [cls for cls in SETTINGS_CLASSES if cls is not worker.settings.Settings])
def test_defaults_load_in_development(settings_class: Any) -> None:
    assert load(settings_class) == settings_class()


# Every name in use before the prefixes were made consistent: each is still read, for the field it used to set.
OLD_NAMES = {
    ml_data_api.settings.Settings: ["MAX_PAGE_ROWS", "DB_POOL_SIZE"],
    worker.settings.Settings: ["SERVICE_NAME", "BATCH_SIZE", "BATCH_WAIT_MS", "PREFETCH", "MODEL_CACHE_DIR",
                               "VERSION_CHECK_SECONDS", "RETRY_INITIAL_SECONDS", "RETRY_MAX_SECONDS"],
    monitoring_api.settings.Settings: ["CHECK_INTERVAL_SECONDS", "CHECK_WINDOW_ROWS",
                                       "MAE_THRESHOLD", "R2_THRESHOLD", "ALERT_WEBHOOK_URL", "HTML_CACHE_SIZE"],
    retraining_api.settings.Settings: ["EXPLAINER_DEFAULT_ROWS", "EXPLAINER_MAX_ROWS",
                                       "RETRAIN_TRIGGER_COOLDOWN_SECONDS"],
    DjangoSettings: ["DATABASE_URL"],  # DJANGO_DATABASE_URL falls back on it
    AdminSettings: ["DASHBOARD_REFRESH_SECONDS"],
}
# A value of each kind that differs from every default.
SAMPLE_TEXT = {settings.TEXT: "a_value", settings.INTEGER: "7", settings.NUMBER: "2.5", settings.MEGABYTES: "0.25"}


@pytest.mark.parametrize(("settings_class", "old_name"),
                         [(cls, name) for cls, names in OLD_NAMES.items() for name in names],
                         ids=lambda value: value if isinstance(value, str) else value.__module__)
def test_old_names_still_work(monkeypatch: pytest.MonkeyPatch, settings_class: Any, old_name: str) -> None:
    declared = [described for described in describe(settings_class) if old_name in described.declaration.aliases]
    assert declared, f"{old_name} is no longer read by {settings_class.__module__}"
    described = declared[0]
    text = SAMPLE_TEXT[described.cast]
    monkeypatch.setenv("SERVICE_NAME", "a_service")  # the worker's one required setting (unless it is the one)
    monkeypatch.setenv(old_name, text)
    assert getattr(load(settings_class), described.field_name) == described.cast.parse(text)


def test_the_broker_outside_a_settings_class_reads_as_the_services_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """conveyor.amqp and the data source read AMQP_URL and EVENTS_EXCHANGE by PlatformSettings' declarations."""
    monkeypatch.setenv("AMQP_URL", "amqp://broker.example:5672/")
    monkeypatch.setenv("EVENTS_EXCHANGE", "")  # empty counts as unset, as in every settings class
    platform = load(settings.PlatformSettings)
    assert settings.amqp_url() == platform.amqp_url == "amqp://broker.example:5672/"
    assert settings.events_exchange() == platform.events_exchange == settings.DEFAULT_EVENTS_EXCHANGE


def test_the_new_name_wins_over_the_old(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_SERVICE_NAME", "new_service")
    monkeypatch.setenv("SERVICE_NAME", "old_service")
    monkeypatch.setenv("WORKER_BATCH_SIZE", "9")
    monkeypatch.setenv("BATCH_SIZE", "7")
    loaded = worker.settings.load_settings()
    assert (loaded.service_name, loaded.batch_size, loaded.prefetch) == ("new_service", 9, 18)


def test_an_empty_value_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_MAE_THRESHOLD", "")
    monkeypatch.setenv("MONITORING_CHECK_INTERVAL_SECONDS", "")
    monkeypatch.setenv("CHECK_INTERVAL_SECONDS", "5")
    loaded = monitoring_api.settings.load_settings()
    assert (loaded.mae_threshold, loaded.check_interval_seconds) == (None, 5.0)


@pytest.mark.parametrize(("name", "text", "line"), [
    ("WORKER_BATCH_SIZE", "abc", "WORKER_BATCH_SIZE must be an integer, got 'abc'"),
    ("BATCH_SIZE", "2.5", "BATCH_SIZE must be an integer, got '2.5'"),
    ("WORKER_VERSION_CHECK_SECONDS", "soon", "WORKER_VERSION_CHECK_SECONDS must be a number, got 'soon'"),
])
def test_a_wrong_type_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, text: str,
                                                      line: str) -> None:
    monkeypatch.setenv("WORKER_SERVICE_NAME", "a_service")
    monkeypatch.setenv(name, text)
    with pytest.raises(ImproperlyConfigured) as raised:
        worker.settings.load_settings()
    assert str(raised.value) == line


def test_a_boolean_is_spelled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAINING_WARM_PYCARET", "no")
    assert retraining_api.settings.load_settings().warm_pycaret is False
    monkeypatch.setenv("RETRAINING_WARM_PYCARET", "maybe")
    with pytest.raises(ImproperlyConfigured, match="^RETRAINING_WARM_PYCARET must be true or false, got 'maybe'$"):
        retraining_api.settings.load_settings()


def test_every_problem_is_named_in_the_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_BATCH_SIZE", "abc")
    with pytest.raises(ImproperlyConfigured) as raised:
        worker.settings.load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("WORKER_SERVICE_NAME or SERVICE_NAME must be set")
    assert "WORKER_BATCH_SIZE must be an integer" in message


@pytest.mark.parametrize("token", [None, DEV_TOKEN, "changeme"])
@pytest.mark.parametrize("settings_class", [queue_manager.settings.Settings, ml_data_api.settings.Settings,
                                            monitoring_api.settings.Settings, retraining_api.settings.Settings,
                                            AdminSettings], ids=lambda cls: cls.__module__)
def test_production_refuses_a_missing_or_development_token(monkeypatch: pytest.MonkeyPatch, settings_class: Any,
                                                           token: str | None) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    monkeypatch.setenv("API_READ_TOKEN", "a-long-random-read-token")
    if token is not None:
        monkeypatch.setenv("API_TOKEN", token)
    with pytest.raises(ImproperlyConfigured,
                       match="^API_TOKEN must be set to a non-default secret when CONVEYOR_ENV=production$"):
        load(settings_class)
    monkeypatch.setenv("API_TOKEN", "a-long-random-token")
    assert load(settings_class).api_token == "a-long-random-token"


@pytest.mark.parametrize("token", [None, DEV_READ_TOKEN, "changeme"])
@pytest.mark.parametrize("settings_class", [queue_manager.settings.Settings, ml_data_api.settings.Settings,
                                            monitoring_api.settings.Settings, retraining_api.settings.Settings],
                         ids=lambda cls: cls.__module__)
def test_production_refuses_a_missing_or_development_read_token(monkeypatch: pytest.MonkeyPatch,
                                                                settings_class: Any, token: str | None) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    monkeypatch.setenv("API_TOKEN", "a-long-random-token")
    if token is not None:
        monkeypatch.setenv("API_READ_TOKEN", token)
    with pytest.raises(ImproperlyConfigured,
                       match="^API_READ_TOKEN must be set to a non-default secret when CONVEYOR_ENV=production$"):
        load(settings_class)
    monkeypatch.setenv("API_READ_TOKEN", "a-long-random-read-token")
    assert load(settings_class).api_read_token == "a-long-random-read-token"


def test_production_defaults_differ_where_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load(DjangoSettings).allowed_hosts == ("*",)
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 50)
    loaded = load(DjangoSettings)
    assert (loaded.allowed_hosts, loaded.debug) == (("localhost", "127.0.0.1"), False)
    monkeypatch.setenv("DJANGO_DEBUG", "true")
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG must be off"):
        load(DjangoSettings)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WORKER_SERVICE_NAME=from_env_file\nWORKER_BATCH_SIZE=11\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "BATCH_", "SERVICE_NAME"))}
    env["WORKER_BATCH_SIZE"] = "12"
    result = subprocess.run(
        [sys.executable, "-c", "from worker.settings import load_settings; s = load_settings(); "
                               "print(s.service_name, s.batch_size)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.stdout.split() == ["from_env_file", "12"], result.stderr


# -- entry points


@pytest.mark.parametrize("module", ["queue_manager", "ml_data_api"])
def test_services_refuse_to_start_in_production_without_token(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "API_TOKEN"}
    env["CONVEYOR_ENV"] = "production"
    env["API_READ_TOKEN"] = "a-long-random-read-token"  # only the write token is missing
    result = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: API_TOKEN must be set to a non-default secret when CONVEYOR_ENV=production"
    )


def test_worker_names_a_mistyped_variable_and_exits() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKER_", "BATCH_", "SERVICE_NAME"))}
    env.update(WORKER_SERVICE_NAME="a_service", WORKER_BATCH_SIZE="abc")
    result = subprocess.run(
        [sys.executable, "-m", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: WORKER_BATCH_SIZE must be an integer, got 'abc'"


# -- the README


def test_readme_settings_table_matches_the_declarations() -> None:
    problem = settings_doc.readme_problem((ROOT / "README.md").read_text())
    assert problem is None, problem


def test_a_stale_readme_table_is_reported_with_the_command_that_fixes_it() -> None:
    readme = (ROOT / "README.md").read_text()
    stale = readme.replace("| `WORKER_BATCH_SIZE`", "| `BATCH_SIZE`", 1)
    assert settings_doc.readme_problem(stale) == (
        "README.md's settings table differs from the declarations: run "
        "`python -m conveyor_tools.settings_doc --write`"
    )
    assert settings_doc.readme_problem(settings_doc.with_table(stale)) is None
