"""Forms of the admin pages; what they collect goes to the APIs as it is, and the APIs decide.

A refusal (the schema's or the API's) lands on the fields by `django_admin.refusals`: `api_fields` maps a
nested location of the request body to the box that holds it, `item_labels` names a list's items.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from conveyor.schemas.algorithms import Stage
from conveyor.schemas.datasets import FeatureType, Task
from conveyor.schemas.names import check_resource_name
from conveyor.schemas.retraining import HoldoutSource, TrainingSource
from conveyor.schemas.services import ChallengerMode, OldChampion
from django_admin.kept_files import KeptFiles

STAGES = [(s.value, s.value) for s in Stage]
MODEL_HELP = ("a fitted model with .predict: a .skops file (skops.io.dump), or joblib/pickle where the server "
              "allows it (MODEL_ALLOW_PICKLE); it is loaded and made to predict before it is stored")
CONFIG_HELP = "optional: the training configuration"
FILE_FIELDS = ("file", "config_file")
CHALLENGER_MODES = [("", "— none (split when a challenger is chosen) —")] + [(m.value, m.value)
                                                                              for m in ChallengerMode]
OLD_CHAMPION = [(OldChampion.archive.value, "archive it"), (OldChampion.challenger.value, "keep it as the challenger")]


class DatasetForm(forms.Form):
    item_labels = {"features": "feature"}  # the schema's features.1 is the box's second feature line
    name = forms.CharField(max_length=100)
    task = forms.ChoiceField(choices=[(t.value, t.value) for t in Task])
    target = forms.CharField(max_length=100)
    target_type = forms.ChoiceField(choices=[(t.value, t.value) for t in FeatureType], initial="float")
    features = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 40}),
        help_text="one feature a line: name or name:type (float, int, str, bool; float when left out)")
    description = forms.CharField(required=False)

    def schema(self) -> dict[str, Any]:
        data = self.cleaned_data
        features = []
        for line in data["features"].splitlines():
            if line.strip():
                name, _, kind = line.strip().partition(":")
                features.append({"name": name.strip(), "type": (kind.strip() or "float")})
        return {"name": data["name"], "task": data["task"], "target": data["target"],
                "target_type": data["target_type"], "features": features, "description": data["description"]}


class AlgorithmUploadForm(forms.Form):
    """The model upload. A file chosen on a refused form is kept on the server (`django_admin.kept_files`):
    its hidden `kept_*` field names it on the next submission, so it need not be chosen again."""

    data: Any  # the submitted fields; `keep_files` swaps the request's (immutable) QueryDict for a copy

    name = forms.CharField(max_length=200)
    dataset = forms.ChoiceField(choices=[])
    # Not required as such: a file kept from the last try stands in (checked in `clean`).
    file = forms.FileField(required=False, help_text=MODEL_HELP)
    kept_file = forms.CharField(required=False, widget=forms.HiddenInput)
    config_file = forms.FileField(required=False, help_text=CONFIG_HELP)
    kept_config_file = forms.CharField(required=False, widget=forms.HiddenInput)
    framework = forms.CharField(required=False, initial="scikit-learn")
    description = forms.CharField(required=False)
    metrics = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
                              help_text='optional JSON, e.g. {"RMSE": 21.4}')
    stage = forms.ChoiceField(choices=STAGES, initial="staging")

    def __init__(self, *args: Any, datasets: list[str], kept: KeptFiles | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(d, d) for d in datasets]
        self.kept = kept

    def clean_name(self) -> str:
        # The API's own rule, checked here so that its sentence stands on this box.
        try:
            return check_resource_name(self.cleaned_data["name"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.kept is not None:
            for field in FILE_FIELDS:
                if not data.get(field) and (kept := self.kept.get(self.data.get(f"kept_{field}") or "")):
                    data[field] = kept
        if not data.get("file") and "file" not in self.errors:
            self.add_error("file", "choose the model file to upload")
        return data

    def keep_files(self) -> None:
        """After a refusal: keep each file just chosen (or kept before) for the next submission, and say so."""
        if self.kept is None:
            return
        self.data = self.data.copy()  # a request's QueryDict cannot change
        for field in FILE_FIELDS:
            chosen, before = self.files.get(field), self.data.get(f"kept_{field}") or ""
            if chosen and before:
                self.kept.discard(before)  # replaced by the file just chosen
            kept = self.kept.keep(chosen) if chosen else self.kept.get(before)
            self.data[f"kept_{field}"] = kept.token if kept else ""
            if kept:
                # The bound field (made while validating) keeps its own copy of the help text.
                self[field].help_text = self.fields[field].help_text = (
                    f"kept from your last try: {kept.name} ({kept.size:,} bytes); choose a file only to replace it")

    def clean_metrics(self) -> dict:
        text = self.cleaned_data["metrics"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("metrics must be a JSON object")
        return value


class StageForm(forms.Form):
    stage = forms.ChoiceField(choices=STAGES)
    reason = forms.CharField(required=False)


def _model_choices(algorithms: list[Any]) -> list[tuple[str, str]]:
    return [("", "— none —")] + [(f"{a.name}:{a.version}", f"{a.name} v{a.version} ({a.stage})")
                                 for a in algorithms]


def parse_ref(value: str) -> dict[str, Any] | None:
    if not value:
        return None
    name, _, version = value.rpartition(":")
    return {"name": name, "version": int(version)}


class ServiceForm(forms.Form):
    api_fields = {("challenger_policy", "auto_promote"): "challenger_auto_promote",
                  ("challenger_policy", "min_labelled_rows"): "challenger_min_labelled_rows",
                  ("challenger_policy", "confidence"): "challenger_confidence",
                  ("challenger_policy", "old_champion"): "challenger_old_champion",
                  ("retraining", "on"): "retrain_on", ("retraining", "auto_promote"): "retrain_auto_promote",
                  ("retraining", "margin"): "retrain_margin"}
    name = forms.CharField(max_length=100)
    dataset = forms.ChoiceField(choices=[])
    queue = forms.CharField(max_length=200, help_text="the RabbitMQ queue its workers consume")
    algorithm = forms.ChoiceField(choices=[], required=False)
    challenger = forms.ChoiceField(choices=[], required=False)
    challenger_mode = forms.ChoiceField(
        required=False, choices=CHALLENGER_MODES, label="Challenger mode",
        help_text="split: the challenger predicts a stable share of records (by a hash of record_id) and serves "
                  "them; shadow: both predict every record, the champion's prediction is served and the "
                  "challenger's is stored beside it. A challenger with no mode chosen is split")
    challenger_share = forms.FloatField(min_value=0, max_value=1, initial=0.0,
                                        help_text="split mode: the share of records the challenger predicts "
                                                  "(0 to 1); shadow ignores it")
    challenger_auto_promote = forms.BooleanField(
        required=False, label="Auto-promote the challenger",
        help_text="monitoring promotes it when its scheduled verdict is challenger_better")
    challenger_min_labelled_rows = forms.IntegerField(
        required=False, initial=200, label="Labelled rows per model",
        help_text="labelled rows each model needs before a verdict can be significant (20 or more)")
    challenger_confidence = forms.FloatField(
        required=False, initial=0.95, label="Verdict confidence",
        help_text="confidence of the interval on the difference (0.5 to 0.999)")
    challenger_old_champion = forms.ChoiceField(
        required=False, choices=OLD_CHAMPION, initial=OldChampion.archive.value,
        label="On auto-promotion, the old champion",
        help_text="what an automatic promotion does with the champion it replaces")
    enabled = forms.BooleanField(required=False, initial=True)
    description = forms.CharField(required=False)
    retrain_on = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        choices=[("drift_detected", "drift detected"), ("performance_degraded", "performance degraded")],
        label="Retrain on alerts", help_text="monitoring alerts that start a retraining run (none: never)")
    retrain_auto_promote = forms.BooleanField(required=False, label="Auto-promote retrained models")
    retrain_margin = forms.FloatField(min_value=0, initial=0.0, required=False, label="Auto-promote margin")

    def __init__(self, *args: Any, datasets: list[str], algorithms: list[Any], editing: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(d, d) for d in datasets]
        self.fields["algorithm"].choices = _model_choices(algorithms)
        self.fields["challenger"].choices = _model_choices(algorithms)
        if editing:
            self.fields["name"].disabled = True

    def body(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"], "dataset": d["dataset"], "queue": d["queue"],
            "algorithm": parse_ref(d["algorithm"]), "challenger": parse_ref(d["challenger"]),
            "challenger_mode": d["challenger_mode"] or None, "challenger_share": d["challenger_share"],
            "challenger_policy": self.challenger_policy(), "enabled": d["enabled"], "description": d["description"],
            "retraining": {"on": d["retrain_on"], "auto_promote": d["retrain_auto_promote"],
                           "margin": d["retrain_margin"] or 0.0},
        }

    def challenger_policy(self) -> dict[str, Any]:
        """The policy as entered; a box left empty keeps the schema's default. The schema (and behind it the
        API) checks the bounds, so its message names the field."""
        d = self.cleaned_data
        entered = {"auto_promote": d["challenger_auto_promote"], "old_champion": d["challenger_old_champion"] or None,
                   "min_labelled_rows": d["challenger_min_labelled_rows"], "confidence": d["challenger_confidence"]}
        return {key: value for key, value in entered.items() if value is not None}


class PromoteChallengerForm(forms.Form):
    """The confirmation of a challenger's promotion: what becomes of the old champion, and why."""

    old_champion = forms.ChoiceField(
        choices=OLD_CHAMPION, initial=OldChampion.archive.value, widget=forms.RadioSelect,
        label="The old champion",
        help_text="archive: the service runs champion only afterwards (the model's stage becomes archived unless "
                  "another service applies it); keep: it becomes the challenger, in the same mode")
    reason = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                             help_text="kept in the service's history and the admin log")
    # The challenger the person saw on this page: a promotion never promotes a model changed meanwhile.
    expected = forms.CharField(widget=forms.HiddenInput)


class RunForm(forms.Form):
    api_fields = {("training", "source"): "training_source", ("training", "start"): "training_start",
                  ("training", "end"): "training_end", ("holdout", "source"): "holdout_source",
                  ("holdout", "last"): "holdout_last"}
    dataset = forms.ChoiceField(choices=[])
    algorithm = forms.CharField(max_length=200, help_text="the model name to retrain")
    include = forms.CharField(required=False, initial="lr,ridge,dt,rf",
                              help_text="PyCaret model ids, comma-separated (empty: PyCaret's defaults here)")
    training_source = forms.ChoiceField(choices=[(s.value, s.value) for s in TrainingSource])
    training_start = forms.DateTimeField(required=False, help_text="optional, e.g. 2026-11-01 00:00")
    training_end = forms.DateTimeField(required=False)
    holdout_source = forms.ChoiceField(choices=[(s.value, s.value) for s in HoldoutSource])
    holdout_last = forms.IntegerField(min_value=10, initial=1000, help_text="production holdout: the latest N rows")
    budget_seconds = forms.FloatField(required=False, min_value=1)
    auto_promote = forms.BooleanField(required=False)
    margin = forms.FloatField(min_value=0, initial=0.0)
    new_model = forms.BooleanField(required=False, help_text="train version 1 of a name that has none")

    def __init__(self, *args: Any, datasets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [(d, d) for d in datasets]

    def body(self) -> dict[str, Any]:
        d = self.cleaned_data
        include = [i.strip() for i in d["include"].split(",") if i.strip()] or None
        return {
            "dataset": d["dataset"], "algorithm": d["algorithm"], "include": include,
            "training": {"source": d["training_source"], "start": d["training_start"], "end": d["training_end"]},
            "holdout": {"source": d["holdout_source"], "last": d["holdout_last"]},
            "budget_seconds": d["budget_seconds"], "auto_promote": d["auto_promote"], "margin": d["margin"],
            "new_model": d["new_model"],
        }
