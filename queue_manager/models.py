"""MongoDB documents of the registry and the jobs log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import mongoengine as me

from conveyor.api.errors import NotFound

Named = TypeVar("Named", bound=me.Document)


def now() -> datetime:
    return datetime.now(UTC)


def find_named(document: type[Named], name: str, missing: str) -> Named:
    """The document of that name; `missing` is the 404's sentence, saying how to make one."""
    doc = document.objects(name=name).first()
    if doc is None:
        raise NotFound(missing)
    return doc


class DatasetDoc(me.Document):
    name = me.StringField(required=True, unique=True)
    schema = me.DictField(required=True)  # conveyor.schemas.datasets.DatasetSchema as JSON
    created_at = me.DateTimeField(default=now)
    created_by = me.StringField(default="")
    meta = {"collection": "datasets"}


class StoredFileDoc(me.EmbeddedDocument):
    file = me.FileField(collection_name="model_files")
    filename = me.StringField(required=True)
    size = me.IntField(required=True)
    sha256 = me.StringField(required=True)


class StageChangeDoc(me.EmbeddedDocument):
    stage = me.StringField(required=True)
    at = me.DateTimeField(default=now)
    by = me.StringField(default="")
    reason = me.StringField(default="")


class AlgorithmDoc(me.Document):
    name = me.StringField(required=True)
    version = me.IntField(required=True)
    dataset = me.StringField(required=True)
    framework = me.StringField(default="")
    description = me.StringField(default="")
    metrics = me.DictField()
    holdout = me.DictField(null=True, default=None)  # HoldoutWindow as JSON; records from before it read as None
    stage = me.StringField(required=True)
    stage_history = me.EmbeddedDocumentListField(StageChangeDoc)
    model_file = me.EmbeddedDocumentField(StoredFileDoc, required=True)
    config_file = me.EmbeddedDocumentField(StoredFileDoc)
    created_at = me.DateTimeField(default=now)
    created_by = me.StringField(default="")
    meta = {
        "collection": "algorithms",
        "indexes": [{"fields": ["name", "version"], "unique": True}, "dataset"],
    }


class CounterDoc(me.Document):
    """Per-name version counters, incremented atomically."""

    key = me.StringField(primary_key=True)
    seq = me.IntField(default=0)
    meta = {"collection": "counters"}


class ServiceChangeDoc(me.EmbeddedDocument):
    """One entry of a service's history (conveyor.schemas.services.ServiceChange)."""

    at = me.DateTimeField(default=now)
    kind = me.StringField(required=True)
    by = me.StringField(default="")
    reason = me.StringField(default="")
    algorithm = me.DictField(null=True)
    challenger = me.DictField(null=True)
    challenger_mode = me.StringField(null=True)
    challenger_share = me.FloatField(default=0.0)


class ServiceDoc(me.Document):
    name = me.StringField(required=True, unique=True)
    dataset = me.StringField(required=True)
    queue = me.StringField(required=True)
    algorithm = me.DictField(null=True)  # {"name", "version"} or None
    challenger = me.DictField(null=True)
    # Documents from before issue 13 lack the next four fields and load with these defaults; a challenger
    # stored without a mode reads as split (what it meant then).
    challenger_mode = me.StringField(null=True, default=None)  # split | shadow; None: champion only
    challenger_share = me.FloatField(default=0.0)
    challenger_policy = me.DictField()  # conveyor.schemas.services.ChallengerPolicy as JSON; {} is the defaults
    challenger_health = me.DictField(null=True, default=None)  # ChallengerHealth as JSON, last worker report
    champion_health = me.DictField(null=True, default=None)  # ChampionHealth as JSON: a worker's report on loading it
    history = me.EmbeddedDocumentListField(ServiceChangeDoc)  # oldest first, capped (service_history.py)
    enabled = me.BooleanField(default=True)
    payload_key = me.StringField(default="data")
    description = me.StringField(default="")
    retraining = me.DictField()  # conveyor.schemas.services.RetrainingPolicy as JSON; {} is off
    assignment_revision = me.IntField(default=0)
    created_at = me.DateTimeField(default=now)
    updated_at = me.DateTimeField(default=now)
    meta = {"collection": "services", "indexes": ["dataset"]}
