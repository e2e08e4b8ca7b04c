"""A dataset's tables dropped while a request used them: a 404 saying so, not a 500.

A request looks the dataset up (from the catalog's cache) and then reads or writes its tables; a deletion that
runs in between (DELETE here, queue_manager's deletion event, another replica) drops them. Every table this
service queries by name belongs to one dataset, so a missing one means that dataset is gone.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg2 import errors as pg_errors

log = logging.getLogger(__name__)


def install_vanished_tables_handler(app: FastAPI) -> None:
    @app.exception_handler(pg_errors.UndefinedTable)
    async def _vanished(request: Request, exc: pg_errors.UndefinedTable) -> JSONResponse:
        name = request.path_params.get("name")
        catalog = getattr(request.app.state, "catalog", None)
        if isinstance(name, str) and catalog is not None:
            catalog.lost_tables(name)
        log.warning("tables gone under %s %s: %s", request.method, request.url.path, str(exc).splitlines()[0])
        which = f"dataset {name!r}" if isinstance(name, str) else "this dataset"
        return JSONResponse({"detail": f"the tables of {which} were dropped while the request ran (it was deleted "
                                       "just now): register it again, or send the request again once it is"},
                            status_code=404)
