"""What every platform page shares: rendering in the admin's frame, API errors as messages, the admin log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from pydantic import ValidationError

from django_admin import refusals
from django_admin.platform import PlatformError

T = TypeVar("T")
Default = TypeVar("Default")
Crumbs = Sequence[tuple[str, str | None]]
ACTIONS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


class Named(Protocol):
    """A dataset, a service: what the add page needs of the API's answer."""

    @property
    def name(self) -> str: ...


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:{name}", args=args)


def render(request: HttpRequest, template: str, site: AdminSite, title: str, crumbs: Crumbs,
           **context: Any) -> HttpResponse:
    return TemplateResponse(request, f"conveyor_admin/{template}", {
        **site.each_context(request), "title": title, "crumbs": crumbs, **context})


def attempt(request: HttpRequest, call: Callable[[], T], default: Default) -> T | Default:
    """The call's result, or `default` with the API's message shown to the person."""
    try:
        return call()
    except PlatformError as exc:
        messages.error(request, exc.message)
        return default


def save(form: Any, call: Callable[[], T]) -> T | None:
    """The API's answer to a form, or None with the refusal on the form: each problem the API or the schema
    (pydantic's ValidationError, raised while `call` builds the body) lists on its field, in sentences."""
    try:
        return call()
    except PlatformError as exc:
        refusals.show(form, refusals.from_api(exc.errors), exc.message)
    except ValidationError as exc:
        refusals.show(form, refusals.from_validation(exc), "the form does not make a valid request")
    except ValueError as exc:
        form.add_error(None, refusals.clean(str(exc)))
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


def query_values(request: HttpRequest, *names: str) -> dict[str, str | None]:
    """The list page's filters as the person set them (None where left empty)."""
    return {name: request.GET.get(name) or None for name in names}


def filter_fields(values: dict[str, str | None], labels: dict[str, str] | None = None,
                  choices: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The list page's filter inputs: a text box per filter, a select where the choices are known."""
    fields = []
    for name, value in values.items():
        field: dict[str, Any] = {"name": name, "label": (labels or {}).get(name, name.replace("_", " ")),
                                 "value": value}
        if choices and name in choices:
            field["choices"] = [(choice, choice) for choice in choices[name]]
        fields.append(field)
    return fields


def add_page(site: AdminSite, request: HttpRequest, form: Any, kind: str, create: Callable[[], Named]) -> HttpResponse:
    """The add page of a named object (dataset, service): on a valid form, create it through the API, log it
    and go to its page; otherwise the form again, with the API's refusal on it."""
    if request.method == "POST" and form.is_valid():
        created = save(form, create)
        if created is not None:
            log(request, "add", f"{kind} {created.name}", "created through the admin")
            messages.success(request, f"{kind.capitalize()} {created.name} created.")
            return redirect(url(f"conveyor_{kind}", created.name))
    return render(request, "form.html", site, f"Add {kind}", [(f"{kind.capitalize()}s", url(f"conveyor_{kind}s")),
                  ("Add", None)], form=form, submit="Create")


def delete_page(request: HttpRequest, kind: str, name: str, delete: Callable[[], None]) -> HttpResponse:
    """Delete a named object through the API and go back to its list; refused, back to its page with why."""
    try:
        delete()
    except PlatformError as exc:
        messages.error(request, exc.message)
        return redirect(url(f"conveyor_{kind}", name))
    log(request, "delete", f"{kind} {name}", "deleted through the admin")
    messages.success(request, f"{kind.capitalize()} {name} deleted.")
    return redirect(url(f"conveyor_{kind}s"))
