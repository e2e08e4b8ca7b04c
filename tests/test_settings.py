"""Production mode refuses to start on a missing or development secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conveyor import settings


def test_development_falls_back_to_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVEYOR_ENV", raising=False)
    monkeypatch.delenv("SOME_SECRET", raising=False)
    assert settings.secret("SOME_SECRET", "dev-token") == "dev-token"
    monkeypatch.setenv("SOME_SECRET", "s3cr3t-value")
    assert settings.secret("SOME_SECRET", "dev-token") == "s3cr3t-value"


@pytest.mark.parametrize("value", [None, "", "dev-token", "changeme"])
def test_production_refuses_missing_or_default(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    if value is None:
        monkeypatch.delenv("SOME_SECRET", raising=False)
    else:
        monkeypatch.setenv("SOME_SECRET", value)
    with pytest.raises(settings.ImproperlyConfigured, match="SOME_SECRET"):
        settings.secret("SOME_SECRET", "dev-token")


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_ENV", "production")
    monkeypatch.setenv("SOME_SECRET", "a-long-random-value")
    assert settings.secret("SOME_SECRET", "dev-token") == "a-long-random-value"


@pytest.mark.parametrize("module", ["queue_manager", "ml_data_api"])
def test_services_refuse_to_start_in_production_without_token(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "API_TOKEN"}
    env["CONVEYOR_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "API_TOKEN" in result.stderr + result.stdout
