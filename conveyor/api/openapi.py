"""The OpenAPI a service publishes says what the guard and the error handlers really do.

The access rule and the error shapes live in one place each (conveyor.api.access, conveyor.api.errors); this
writes them into every operation, so that no route has to repeat them and none can forget.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from conveyor.api.access import Access, required_access
from conveyor.api.errors import ErrorMessage, ValidationErrorMessage

SCHEME = "bearer"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ERROR_REF = {"$ref": "#/components/schemas/ErrorMessage"}
TOKEN_HELP = {
    Access.READ: "Needs the read token (API_READ_TOKEN) or the write token (API_TOKEN).",
    Access.WRITE: "Needs the write token (API_TOKEN).",
}
# Answers any guarded operation may give, whatever the route: the guard's and the error handlers'.
GUARDED_ERRORS = {
    "400": "The request is malformed (a header, a body that does not parse).",
    "401": "No token, or not one of the platform's tokens.",
    "404": "What the path names does not exist.",
    "409": "It conflicts with what exists.",
    "422": "The request does not fit the operation: the detail says what to change.",
    "503": "A store or a peer service is down: try again later.",
}


def _error(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _document_operation(operation: dict[str, Any], needed: Access) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if needed is Access.OPEN:
        return
    operation["security"] = [{SCHEME: []}]
    operation["x-conveyor-token"] = needed.value
    operation["description"] = (operation.get("description", "") + "\n\n" + TOKEN_HELP[needed]).strip()
    for status, description in GUARDED_ERRORS.items():
        schema = {"$ref": "#/components/schemas/ValidationErrorMessage"} if status == "422" else ERROR_REF
        responses.setdefault(status, _error(description, schema))
    if needed is Access.WRITE:
        responses.setdefault("403", _error("The read token was sent: changes need the write token.", ERROR_REF))
    if "requestBody" in operation:
        responses.setdefault("413", _error("The body is larger than MAX_BODY_MB (MAX_UPLOAD_MB for files).",
                                           ERROR_REF))


def _replace_validation_schema(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; ours is `{detail: sentence, errors: [...]}`: say so."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorMessage, ValidationErrorMessage):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in definition.pop("$defs", {}).items():
            components[name] = nested
        components[model.__name__] = definition
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path_item in schema.get("paths", {}).values():
        for method in METHODS:
            responses = path_item.get(method, {}).get("responses", {})
            answer = responses.get("422")
            if answer and "HTTPValidationError" in str(answer):
                answer["content"] = {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ValidationErrorMessage"}}}


def openapi_with_access(app: FastAPI, metrics_open: bool) -> dict[str, Any]:
    """The app's OpenAPI with each operation's token and the platform's error answers written in."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http", "scheme": "bearer",
        "description": "API_READ_TOKEN for reads (GET), API_TOKEN for reads and every change.",
    }
    for path, path_item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in path_item:
                _document_operation(path_item[method], required_access(method, path, metrics_open=metrics_open))
    _replace_validation_schema(schema)
    return schema


class ServiceApp(FastAPI):
    """A FastAPI app whose /openapi.json documents the guard (built once, on first request)."""

    metrics_open = True

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = openapi_with_access(self, self.metrics_open)
        return self.openapi_schema
