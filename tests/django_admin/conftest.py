"""A throwaway stack with the admin site, and a logged-in admin session that speaks HTML forms."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conveyor_tools.stack import Stack, StackConfig

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def field_errors(page: str, field: str) -> str:
    """The errors a form page shows on `field`'s row (conveyor_admin/form_fields.html draws them first in it)."""
    found = re.search(rf'<div class="form-row field-{field}\b[^"]*">(.*?)<div class="flex-container">', page, re.S)
    assert found, f"no row for {field} on the page"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip()


class AdminSession:
    """A person at the admin site: logs in, opens pages, submits forms with Django's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=120, follow_redirects=False)

    def login(self, username: str, password: str) -> httpx.Response:
        page = self.http.get("/admin/login/")
        found = CSRF.search(page.text)
        assert found, "the login page has no CSRF token"
        token = found.group(1)
        return self.http.post("/admin/login/", data={"username": username, "password": password,
                                                     "csrfmiddlewaretoken": token, "next": "/admin/"},
                              headers={"Referer": f"{self.base_url}/admin/login/"})

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def submit(self, path: str, data: dict[str, Any], files: dict[str, Any] | None = None,
               follow: bool = True) -> httpx.Response:
        """POST a form the way a browser does: the token from the page, then the fields."""
        page = self.http.get(path)
        token = CSRF.search(page.text)
        assert token, f"no form at {path}: {page.status_code} {page.text[:300]}"
        response = self.http.post(path, data={"csrfmiddlewaretoken": token.group(1), **data}, files=files,
                                  headers={"Referer": f"{self.base_url}{path}"})
        if follow and response.status_code == 302:
            return self.http.get(response.headers["location"])
        return response

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.throwaway()
    config.state_dir = tmp_path_factory.mktemp("stack")
    config.admin = True
    config.extra_env = {"MAX_UPLOAD_MB": "1", "RETRAINING_POLL_SECONDS": "0.3"}
    with Stack(config) as s:
        yield s


@pytest.fixture
def admin(stack: Stack) -> Iterator[AdminSession]:
    session = AdminSession(stack.admin_url)
    assert session.login(stack.config.admin_user, stack.config.admin_password).status_code == 302
    yield session
    session.close()
