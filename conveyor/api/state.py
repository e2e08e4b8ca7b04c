"""Route dependencies that hand out what the composition root built once and put on `app.state`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request


def from_app_state(name: str) -> Callable[[Request], Any]:
    """A dependency answering `app.state.<name>`: the one object the process built (a store, a client).

    Use it as `Annotated[Store, Depends(from_app_state("store"))]`, so routes stay typed.
    """

    def read(request: Request) -> Any:
        try:
            return getattr(request.app.state, name)
        except AttributeError as exc:  # built in the lifespan: a request before start-up finished
            raise RuntimeError(f"app.state.{name} is not set: the service has not finished starting") from exc

    read.__name__ = f"app_state_{name}"
    return read
