"""A refusal on the admin's forms, as sentences on their fields (pure: forms and hand-made refusals, no services)."""

from __future__ import annotations

import django
import pytest
from django.conf import settings
from pydantic import ValidationError

from conveyor.schemas.datasets import DatasetSchema
from django_admin import refusals
from django_admin.platform import refused_token

DUMP = ("1 validation error for DatasetSchema\nfeatures.1.name\n  Value error, column name '2x' is not allowed "
        "[type=value_error, input_value='2x', input_type=str]\n"
        "    For further information visit https://errors.pydantic.dev/2.11/v/value_error")


@pytest.fixture(scope="module", autouse=True)
def django_forms() -> None:
    """Forms need Django's settings, not the admin site's: the bare defaults do."""
    if not settings.configured:
        settings.configure(USE_I18N=False)
        django.setup()


def field_errors(form, field: str | None) -> list[str]:
    return list(form.errors.get(field or "__all__", []))


def dataset_form():
    from django_admin.forms import DatasetForm

    form = DatasetForm({"name": "d", "task": "regression", "target": "y", "target_type": "float",
                        "features": "a\n2x\nc:nope"})
    assert form.is_valid(), form.errors
    return form


def test_pydantic_wrapping_goes_from_every_message() -> None:
    assert refusals.clean("Value error, names start with a letter") == "names start with a letter"
    assert refusals.clean(DUMP) == "features.1.name: column name '2x' is not allowed"
    assert "pydantic" not in refusals.clean("Input should be a number "
                                            "For further information visit https://errors.pydantic.dev/2.11/v/x")
    assert refusals.clean("Assertion failed, share within 0 and 1") == "share within 0 and 1"
    assert refusals.clean("dataset 'x' already exists") == "dataset 'x' already exists"


def test_a_schema_refusal_lands_on_the_features_box_numbered_from_one() -> None:
    form = dataset_form()
    with pytest.raises(ValidationError) as refused:
        DatasetSchema(**form.schema())
    refusals.show(form, refusals.from_validation(refused.value))
    features = field_errors(form, "features")
    assert len(features) == 2, features
    assert features[0].startswith("feature 2: ") and "2x" in features[0], features
    assert features[1].startswith("feature 3 type: ") and "'float'" in features[1], features
    assert not any("Value error" in e or "pydantic" in e for e in features)
    assert not field_errors(form, None), "nothing left for the form as a whole"


def test_an_api_refusal_lands_on_the_box_its_location_names() -> None:
    from django_admin.forms import RunForm, ServiceForm

    service = ServiceForm({"name": "s", "dataset": "d", "queue": "q", "challenger_share": "0"}, datasets=["d"],
                          algorithms=[])
    assert service.is_valid(), service.errors
    refusals.show(service, refusals.from_api([
        {"loc": ["body", "challenger_policy", "confidence"], "msg": "Input should be less than or equal to 0.999",
         "type": "less_than_equal"},
        {"loc": ["body", "queue"], "msg": "Value error, name 'a b' is not allowed", "type": "value_error"},
        {"loc": ["body", "holdout"], "msg": "not a field of this form", "type": "x"},
        {"loc": ["body"], "msg": "challenger_mode shadow needs a challenger", "type": "value_error"},
    ]), "ignored: the problems say it all")
    assert field_errors(service, "challenger_confidence") == ["Input should be less than or equal to 0.999"]
    assert field_errors(service, "queue") == ["name 'a b' is not allowed"]
    assert field_errors(service, None) == ["holdout: not a field of this form",
                                           "challenger_mode shadow needs a challenger"]

    run = RunForm({"dataset": "d", "algorithm": "m", "training_source": "training", "holdout_source": "testing",
                   "holdout_last": "1000", "margin": "0"}, datasets=["d"])
    assert run.is_valid(), run.errors
    refusals.show(run, refusals.from_api([{"loc": ["body", "holdout", "last"], "msg": "at least 10", "type": "x"}]))
    assert field_errors(run, "holdout_last") == ["at least 10"]


def test_a_refusal_without_problems_is_its_sentence_on_the_form() -> None:
    form = dataset_form()
    refusals.show(form, [], "Value error, dataset 'd' already exists")
    assert field_errors(form, None) == ["dataset 'd' already exists"]


def test_a_refused_token_names_the_setting_to_change() -> None:
    read_only = refused_token("queue_manager", 403)
    assert "read-only" in read_only and "API_TOKEN" in read_only and "write token" in read_only
    unknown = refused_token("ml_data_api", 401)
    assert "refused the admin's token" in unknown and "API_TOKEN" in unknown
