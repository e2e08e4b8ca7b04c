"""django-plotly-dash's views (layouts and callbacks) are for staff only, like the admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required


def staff_required(view_function: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    return staff_member_required(view_function, login_url="/admin/login/")
