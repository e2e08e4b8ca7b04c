"""A refusal on a form, as sentences: each problem on its field ("feature 2: ..."), never a pydantic dump.

A refusal comes from the schema the admin checks a form's body with (pydantic's ValidationError) or from an
API (a 422 lists its problems, each with its `loc`, beside the `detail` sentence). Either way each problem
goes to the form field its location names: the first part of the location, or what the form's `api_fields`
maps a nested location to (a service's `challenger_policy.confidence` is the box `challenger_confidence`); a
position in a list is numbered from 1 with the form's `item_labels` ("features", 1 -> "feature 2"). What no
field holds is said on the form as a whole, after where it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from pydantic import ValidationError

# Where pydantic and FastAPI say a problem is, before the request's own fields.
REQUEST_PARTS = frozenset({"body", "query", "path", "form", "header", "cookie"})
_HEADER = re.compile(r"^\s*\d+ validation errors? for [\w.]+\s*$", re.I)
_URL = re.compile(r"\s*(?:For further information visit\s*)?https?://errors\.pydantic\.dev\S*", re.I)
_TAIL = re.compile(r"\s*\[type=[^\]]*\]")
_PREFIX = re.compile(r"\b(?:Value error|Assertion failed), ")


@dataclass(frozen=True)
class Problem:
    loc: tuple[str | int, ...]
    msg: str


def clean(message: str) -> str:
    """`message` without pydantic's wrapping: its "Value error, " prefix, "[type=..., input_value=...]", the
    errors.pydantic.dev address and, for a whole dump, the "N validation errors for X" header (each location
    then stands before its message)."""
    text = _TAIL.sub("", _URL.sub("", message))
    lines = [line for line in text.splitlines() if line.strip() and not _HEADER.match(line)]
    if len(lines) > 1:  # a dump: a location, then its message indented under it
        parts: list[str] = []
        for line in lines:
            if line[:1].isspace() and parts:
                parts[-1] = f"{parts[-1]}: {line.strip()}"
            else:
                parts.append(line.strip())
        text = "; ".join(parts)
    elif lines:
        text = lines[0].strip()
    return _PREFIX.sub("", text).strip()


def from_validation(exc: ValidationError) -> list[Problem]:
    return [Problem(tuple(e["loc"]), clean(str(e["msg"]))) for e in exc.errors(include_url=False)]


def from_api(errors: Sequence[dict[str, Any]]) -> list[Problem]:
    """A 422's problems, their locations without FastAPI's leading "body" / "query" / ..."""
    problems = []
    for error in errors:
        loc = [p for p in error.get("loc") or [] if isinstance(p, str | int)]
        if loc and loc[0] in REQUEST_PARTS:
            loc = loc[1:]
        problems.append(Problem(tuple(loc), clean(str(error.get("msg") or "is not valid"))))
    return problems


def place(form: forms.BaseForm, loc: tuple[str | int, ...]) -> tuple[str | None, str]:
    """(the form field that holds `loc`, or None; the words naming where in that field, e.g. "feature 2: ")."""
    mapped: dict[tuple[str, ...], str] = getattr(form, "api_fields", {})
    names = tuple(p for p in loc if isinstance(p, str))
    field: str | None = None
    for n in range(len(names), 0, -1):
        if names[:n] in mapped:
            field = mapped[names[:n]]
            break
    if field is None and loc and isinstance(loc[0], str) and loc[0] in form.fields:
        field = loc[0]
    if field is None:
        return None, ".".join(str(p) for p in loc) + ": " if loc else ""
    positions = [i for i, p in enumerate(loc) if isinstance(p, int)]
    if not positions:
        return field, ""
    at = positions[0]
    label = getattr(form, "item_labels", {}).get(str(loc[at - 1]) if at else field, "item")
    rest = [str(p) for p in loc[at + 1:] if p != "name"]  # an item's name is what "feature 2" already means
    return field, f"{label} {int(loc[at]) + 1}{' ' + ' '.join(rest) if rest else ''}: "


def show(form: forms.BaseForm, problems: Sequence[Problem], fallback: str = "") -> None:
    """Each problem on its field; the rest, or `fallback` (the refusal's sentence) when none is listed, on the
    form as a whole."""
    for problem in problems:
        field, where = place(form, problem.loc)
        form.add_error(field, f"{where}{problem.msg}")
    if not problems and fallback:
        form.add_error(None, clean(fallback))
