"""Settings: each component declares every field once, and `load` reads, casts and checks them at start-up.

A component's settings are a frozen dataclass, `class Settings(PostgresSettings, env_prefix="MONITORING_")`,
whose fields are made with `setting(...)`. The declaration says all there is to know about a field: the
variable that sets it (the class's prefix and the field's name, or a platform-wide name such as
`API_TOKEN`), the older names still read, how its text is cast (from the field's type unless said), what
it means (the README's table is generated from these: `python -m conveyor_tools.settings_doc`), and
whether it is a secret that production mode refuses to run on with a development default. What several
components read alike is declared once here, in base classes (PlatformSettings, PeerUrlsSettings,
PostgresSettings) and small helpers (host_setting, port_setting, service_url_setting...).

python-decouple reads the values: the environment first, then a `.env` file in the working directory.
An empty value counts as unset.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from decouple import AutoConfig

T = TypeVar("T")
S = TypeVar("S", bound="Declared")

config = AutoConfig(search_path=os.getcwd())

# The API token every component accepts on a developer's machine; production refuses it.
DEV_TOKEN = "dev-token"
# The read token on a developer's machine; production refuses it too.
DEV_READ_TOKEN = "dev-read-token"
# Values that are only acceptable on a developer's machine.
INSECURE_SECRETS = frozenset({"", "changeme", "change-me", DEV_TOKEN, DEV_READ_TOKEN, "secret", "insecure"})


class ImproperlyConfigured(RuntimeError):
    """A setting is missing, mistyped or unsafe for the current mode (the message names the variable)."""


def environment() -> str:
    return config("CONVEYOR_ENV", default="development").strip().lower()


def is_production() -> bool:
    return environment() == "production"


# -- casts: how a variable's text becomes a field's value, and back for the README


@dataclass(frozen=True)
class Cast(Generic[T]):
    expects: str  # what an error says was wanted: "WORKER_BATCH_SIZE must be an integer, got 'abc'"
    parse: Callable[[str], T]
    show: Callable[[T], str] = str


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"1", "true", "yes", "on", "y", "t"}:
        return True
    if lowered in {"0", "false", "no", "off", "n", "f"}:
        return False
    raise ValueError(text)


def _csv(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


MEGABYTE = 1024 * 1024

TEXT: Cast[str] = Cast("text", str)
INTEGER: Cast[int] = Cast("an integer", int)
NUMBER: Cast[float] = Cast("a number", float, show=lambda number: f"{number:g}")
BOOLEAN: Cast[bool] = Cast("true or false", _boolean, show=lambda flag: "true" if flag else "false")
CSV: Cast[tuple[str, ...]] = Cast("a comma-separated list", _csv, show=",".join)
# A size given in megabytes (a fraction is fine) and kept in bytes.
MEGABYTES: Cast[int] = Cast("a number of megabytes", lambda text: int(float(text) * MEGABYTE),
                            show=lambda size: f"{size / MEGABYTE:g}")

_CAST_OF_TYPE: dict[Any, Cast[Any]] = {
    str: TEXT, int: INTEGER, float: NUMBER, bool: BOOLEAN, tuple[str, ...]: CSV,
}

# -- declarations

_DECLARATION = "conveyor.setting"


@dataclass(frozen=True)
class Declaration:
    doc: str
    name: str | None  # the variable after the prefix (None: the field's name in capitals)
    prefixed: bool  # False: the variable is `name` alone (a value the platform shares, or a service's address)
    aliases: tuple[str, ...]  # older full names, read when the variable itself is unset
    cast: Cast[Any] | None  # None: from the field's type
    secret: bool  # production refuses it unset, a known default, or the development default
    required: bool  # no usable default: start-up fails while it is unset
    production: Any  # the default when CONVEYOR_ENV=production, where it differs (else _SAME)
    shown: str | None  # the default as the README shows it, where the value itself would mislead


_SAME: Any = object()


def setting(
    default: T, doc: str, *, name: str | None = None, prefixed: bool = True, aliases: tuple[str, ...] = (),
    cast: Cast[Any] | None = None, secret: bool = False, required: bool = False, production: Any = _SAME,
    shown: str | None = None,
) -> T:
    """One settings field: its default (development's, where production differs) and its declaration.

    The return type is the default's, so that `batch_size: int = setting(200, ...)` type-checks; what is
    returned is a dataclass field carrying the declaration.
    """
    declaration = Declaration(doc, name, prefixed, aliases, cast, secret, required, production, shown)
    field: T = dataclasses.field(default=default, metadata={_DECLARATION: declaration})
    return field


@dataclass(frozen=True)
class Declared:
    """The base of every settings class: `class Settings(Declared, env_prefix="WORKER_")`, frozen dataclass fields
    made with `setting(...)`, each read under the prefix and the field's name unless its declaration says otherwise."""

    env_prefix: ClassVar[str] = ""

    def __init_subclass__(cls, env_prefix: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if env_prefix is not None:
            cls.env_prefix = env_prefix


@dataclass(frozen=True)
class Described:
    """A declared field as `load` and the README's table see it."""

    field_name: str
    variable: str
    platform_wide: bool  # read under a name outside the class's prefix: shared, or another service's
    declaration: Declaration
    cast: Cast[Any]
    default: Any  # development's

    @property
    def names(self) -> tuple[str, ...]:
        return (self.variable, *self.declaration.aliases)

    def default_for(self, production: bool) -> Any:
        if production and self.declaration.production is not _SAME:
            return self.declaration.production
        return self.default


def _cast_of(annotation: Any) -> Cast[Any]:
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    inner = next(arg for arg in typing.get_args(annotation) if arg is not type(None)) if optional else annotation
    return _CAST_OF_TYPE[inner]


def describe(settings_class: type[Declared]) -> list[Described]:
    prefix = settings_class.env_prefix
    hints = typing.get_type_hints(settings_class)
    described = []
    for field in dataclasses.fields(settings_class):
        declaration: Declaration | None = field.metadata.get(_DECLARATION)
        if declaration is None:
            continue
        suffix = declaration.name or field.name.upper()
        variable = prefix + suffix if declaration.prefixed else suffix
        cast = declaration.cast or _cast_of(hints[field.name])
        described.append(Described(field.name, variable, not variable.startswith(prefix), declaration, cast,
                                   field.default))
    return described


# -- reading


def _text(names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first of the names that is set (the new name before the older ones), with its text."""
    for name in names:
        text = config(name, default=None)
        if text is not None and text.strip():
            return name, text.strip()
    return None


def _refuse_insecure(variable: str, value: str, dev_default: str) -> None:
    if value.strip() in INSECURE_SECRETS or value == dev_default:
        raise ImproperlyConfigured(f"{variable} must be set to a non-default secret when CONVEYOR_ENV=production")


def _value(described: Described, production: bool) -> Any:
    found = _text(described.names)
    declaration = described.declaration
    if found is None:
        if declaration.required:
            names = " or ".join(described.names)
            meaning = declaration.doc[:1].lower() + declaration.doc[1:].rstrip(".")
            raise ImproperlyConfigured(f"{names} must be set ({meaning})")
        value = described.default_for(production)
    else:
        set_as, text = found
        try:
            value = described.cast.parse(text)
        except ValueError:
            raise ImproperlyConfigured(f"{set_as} must be {described.cast.expects}, got {text!r}") from None
    if declaration.secret and production:
        _refuse_insecure(described.variable, value, described.default)
    return value


def load(settings_class: type[S]) -> S:
    """Read every declared field of `settings_class`; every problem found is named in one line."""
    production = is_production()
    values: dict[str, Any] = {}
    problems: list[str] = []
    for described in describe(settings_class):
        try:
            values[described.field_name] = _value(described, production)
        except ImproperlyConfigured as problem:
            problems.append(str(problem))
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    return settings_class(**values)


def settings_or_exit(loader: Callable[[], T]) -> T:
    """For an entry point: the settings, or the configuration problem as one line and exit status 2."""
    try:
        return loader()
    except ImproperlyConfigured as problem:
        print(f"configuration error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def secret(name: str, dev_default: str) -> str:
    """Read one secret outside a settings class; in production refuse a missing value or a known default."""
    value = config(name, default="")
    if is_production():
        _refuse_insecure(name, value, dev_default)
        return value
    return value or dev_default


# -- what several components declare alike: written here once

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_EVENTS_EXCHANGE = "conveyor.events"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/conveyor"
# Where each HTTP service listens on a developer's machine; its `<NAME>_URL` tells the others where it is.
SERVICE_PORTS = {"ADMIN": 8000, "QUEUE_MANAGER": 8001, "ML_DATA_API": 8004, "MONITORING_API": 8005,
                 "RETRAINING_API": 8006}


def api_token_setting() -> str:
    return setting(DEV_TOKEN, "The write token the services accept and send to each other.",
                   name="API_TOKEN", prefixed=False, secret=True)


def pool_size_setting(default: int, aliases: tuple[str, ...] = ()) -> int:
    return setting(default, "Connections at most in this process's PostgreSQL pool.", name="DB_POOL_SIZE",
                   aliases=aliases)




def host_setting(service: str) -> str:
    return setting("127.0.0.1", "The address it listens on (0.0.0.0: every interface).", name=f"{service}_HOST",
                   prefixed=False)


def port_setting(service: str) -> int:
    return setting(SERVICE_PORTS[service], "The port it listens on.", name=f"{service}_PORT", prefixed=False)


def local_service_url(service: str) -> str:
    """Where a service answers on a developer's machine, the default of its `<NAME>_URL`."""
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


def service_url_setting(service: str) -> str:
    """Another service's base URL: `service_url_setting("QUEUE_MANAGER")` reads QUEUE_MANAGER_URL."""
    return setting(local_service_url(service), f"Where {service.lower()} answers.", name=f"{service}_URL",
                   prefixed=False)


@dataclass(frozen=True)
class PlatformSettings(Declared):
    """What every component behind the broker reads: the token the services share, the broker, its exchange."""

    api_token: str = api_token_setting()
    amqp_url: str = setting(DEFAULT_AMQP_URL, "RabbitMQ, as an AMQP URL.", name="AMQP_URL", prefixed=False)
    events_exchange: str = setting(DEFAULT_EVENTS_EXCHANGE, "The broker exchange platform events (assignments, "
                                                            "alerts) go to.", name="EVENTS_EXCHANGE", prefixed=False)


@dataclass(frozen=True)
class ServiceSettings(PlatformSettings):
    """What every HTTP service reads alike: who may call it, and how large a body it accepts."""

    api_read_token: str = setting(DEV_READ_TOKEN, "The read token: GETs of data, models, jobs and reports "
                                                  "(API_TOKEN passes them too).",
                                  name="API_READ_TOKEN", prefixed=False, secret=True)
    metrics_require_token: bool = setting(False, "/metrics asks for the read token (else it is open, for a "
                                                 "scraper inside the cluster).",
                                          name="METRICS_REQUIRE_TOKEN", prefixed=False)
    max_body_bytes: int = setting(16 * MEGABYTE, "Largest request body, in MB (uploads have their own limit); "
                                                 "larger ones get 413 before they are read.",
                                  name="MAX_BODY_MB", prefixed=False, cast=MEGABYTES)
    max_upload_bytes: int = setting(200 * MEGABYTE, "Largest upload (a model file, a CSV: multipart, text/csv "
                                                    "or octet-stream bodies), in MB.",
                                    name="MAX_UPLOAD_MB", prefixed=False, cast=MEGABYTES)


@dataclass(frozen=True)
class PeerUrlsSettings(PlatformSettings):
    """A component that calls queue_manager (the registry) and ml_data_api (the rows)."""

    queue_manager_url: str = service_url_setting("QUEUE_MANAGER")
    ml_data_api_url: str = service_url_setting("ML_DATA_API")


@dataclass(frozen=True)
class PostgresSettings(PlatformSettings):
    """A component that keeps its data in PostgreSQL, through a pool of its own."""

    database_url: str = setting(DEFAULT_DATABASE_URL, "PostgreSQL (or TimescaleDB) holding the ML data and "
                                                      "monitoring results.", name="DATABASE_URL", prefixed=False)
    pool_size: int = pool_size_setting(4)


def read_one(settings_class: type[Declared], field_name: str) -> Any:
    """One declared field, read as `load` reads it, for code that has no settings class of its own."""
    described = next(d for d in describe(settings_class) if d.field_name == field_name)
    return _value(described, is_production())


def amqp_url() -> str:
    """AMQP_URL, as PlatformSettings declares it (the data source, the AMQP helpers)."""
    value: str = read_one(PlatformSettings, "amqp_url")
    return value


def events_exchange() -> str:
    value: str = read_one(PlatformSettings, "events_exchange")
    return value
