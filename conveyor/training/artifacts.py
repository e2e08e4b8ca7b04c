"""Models travel as plain joblib files: what the worker loads with joblib.load."""

from __future__ import annotations

import io
from typing import Any

import joblib


def dump_model(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def load_model(content: bytes) -> Any:
    return joblib.load(io.BytesIO(content))
