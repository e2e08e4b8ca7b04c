"""Settings helpers shared by every component.

Each component has its own settings module that reads its values through `config`
(environment first, then a `.env` file in the working directory) and guards its
secrets with `secret`, so that production mode never runs on a development default.
"""

from __future__ import annotations

import os

from decouple import AutoConfig, Csv, UndefinedValueError  # noqa: F401  (re-exported)

config = AutoConfig(search_path=os.getcwd())

# Values that are only acceptable on a developer's machine.
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", "dev-token", "secret", "insecure"})


class ImproperlyConfigured(RuntimeError):
    """A setting is missing or unsafe for the current mode."""


def environment() -> str:
    return config("CONVEYOR_ENV", default="development").strip().lower()


def is_production() -> bool:
    return environment() == "production"


def secret(name: str, dev_default: str) -> str:
    """Read a secret; in production refuse a missing value or a known development default."""
    value = config(name, default="")
    if is_production():
        if value.strip() in INSECURE_SECRETS or value == dev_default:
            raise ImproperlyConfigured(
                f"{name} must be set to a non-default secret when CONVEYOR_ENV=production"
            )
        return value
    return value or dev_default


def amqp_url() -> str:
    return config("AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672/")


def events_exchange() -> str:
    return config("EVENTS_EXCHANGE", default="conveyor.events")
