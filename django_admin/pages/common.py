"""What every platform page shares: rendering in the admin's frame, API errors as messages, the admin log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from django_admin.platform import PlatformError

T = TypeVar("T")
ACTIONS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:{name}", args=args)


def render(request: HttpRequest, template: str, site: Any, title: str, crumbs: list[tuple[str, str | None]],
           **context: Any) -> HttpResponse:
    return TemplateResponse(request, f"conveyor_admin/{template}", {
        **site.each_context(request), "title": title, "crumbs": crumbs, **context})


def attempt(request: HttpRequest, call: Callable[[], T], default: T) -> T:
    """The call's result, or `default` with the API's message shown to the person."""
    try:
        return call()
    except PlatformError as exc:
        messages.error(request, exc.message)
        return default


def save(form: Any, call: Callable[[], T]) -> T | None:
    """The API's answer to a form, or None with the refusal on the form: the API's message, or which
    part of the request is invalid (pydantic's errors are ValueErrors)."""
    try:
        return call()
    except PlatformError as exc:
        form.add_error(None, exc.message)
    except ValueError as exc:
        form.add_error(None, str(exc))
    return None


def log(request: HttpRequest, action: str, object_id: str, message: str) -> None:
    """The admin log keeps who did what; the object itself lives in the platform's APIs."""
    LogEntry.objects.create(user_id=request.user.pk, content_type=None, object_id=object_id,
                            object_repr=object_id[:200], action_flag=ACTIONS[action], change_message=message)


def link(text: Any, href: str) -> dict[str, str]:
    return {"text": str(text), "url": href}


def status(text: Any) -> dict[str, str]:
    return {"text": str(text), "css": f"status-{text}"}


def when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "–"
