"""Errors as JSON with a message a person can act on; never an HTML 500 page."""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

log = logging.getLogger(__name__)


class ErrorMessage(BaseModel):
    """Every error the platform answers: a sentence saying what was wrong and, where it can, what to do."""

    detail: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorMessage(BaseModel):
    """A 422 for a request that does not fit the operation: the sentence, then each problem."""

    detail: str
    errors: list[ValidationProblem] = []


class ConveyorError(Exception):
    """An error with an HTTP status and a message for the person who sent the request."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class NotFound(ConveyorError):
    status_code = 404


class Conflict(ConveyorError):
    status_code = 409


class BadRequest(ConveyorError):
    status_code = 400


class Unprocessable(ConveyorError):
    status_code = 422


class PayloadTooLarge(ConveyorError):
    status_code = 413


class Unavailable(ConveyorError):
    status_code = 503


def _sentence(message: object) -> str:
    """pydantic's message without its "Value error, " label: our validators already write sentences."""
    text = str(message)
    for label in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(label)
    return text


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{loc or 'request'}: {_sentence(err.get('msg', 'invalid'))}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConveyorError)
    async def _conveyor_error(_: Request, exc: ConveyorError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
             "msg": _sentence(e.get("msg", "invalid")), "type": str(e.get("type", "invalid"))}
            for e in exc.errors()
        ]
        return JSONResponse(
            {"detail": _describe_validation(exc), "errors": errors}, status_code=422
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        # Starlette's own words for a path or method no route has: say which, and where the routes are.
        if detail == "Not Found":
            detail = f"no operation answers {request.method} {request.url.path}: /docs lists this service's"
        elif detail == "Method Not Allowed":
            detail = f"{request.url.path} does not take {request.method}: /docs lists the methods it takes"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(psycopg2.DataError)
    async def _data_error(_: Request, exc: psycopg2.DataError) -> JSONResponse:
        # Class 22 ("data exception"): a value PostgreSQL refuses, so the request's, not the server's, fault.
        first = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0].removeprefix("ERROR:").strip()
        return JSONResponse({"detail": f"a value in the request is one PostgreSQL cannot store or compare "
                                       f"({first}): change it and send the request again"}, status_code=422)

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return JSONResponse({"detail": f"a number in the request is too large ({exc}): integers must lie within "
                                       "-9223372036854775808 and 9223372036854775807"}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); see the service log"},
            status_code=500,
        )
