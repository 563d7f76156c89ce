"""The API's one error model, its handlers and its place in the OpenAPI (issue 12).

Every refusal is ``{"error": <code>, "detail": <reason>}``: ``detail`` is a sentence for a
:class:`~mingbai.errors.MingbaiError` and the list of field problems for a request that does not
match its schema. Field problems never echo the value sent (it may be personal data, 60 MB, or
text no encoder can write, such as a lone surrogate).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from mingbai.errors import MingbaiError


class FieldProblem(BaseModel):
    type: str = Field(examples=["missing"])
    loc: list[str | int] = Field(examples=[["body", "msisdn"]])
    msg: str = Field(examples=["Field required"])


class ApiError(BaseModel):
    """What every 4xx answer of the API carries."""

    error: str = Field(examples=["not_found"], description="a stable code a program can test")
    detail: str | list[FieldProblem] = Field(description="the reason, or the problems field by field")


class SafeJSONResponse(JSONResponse):
    """JSON that can always be written: text a codec refuses (lone surrogates) becomes '?'."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8", "replace"
        )


def error_response(code: str, detail: str | list[dict[str, Any]], status_code: int, **headers: str) -> JSONResponse:
    return SafeJSONResponse({"error": code, "detail": detail}, status_code=status_code, headers=headers or None)


def field_problems(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "type": str(e.get("type", "invalid")),
            "loc": [x if isinstance(x, int) else str(x) for x in e["loc"]],
            "msg": e["msg"],
        }
        for e in exc.errors()
    ]


async def mingbai_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MingbaiError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    return error_response(exc.code, exc.message, exc.status_code, **headers)


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response("invalid_request", field_problems(exc), 422)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (a body that is not JSON, an unknown path, a wrong method)."""
    assert isinstance(exc, StarletteHTTPException)
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    response = error_response(code, str(exc.detail), exc.status_code)
    response.headers.update(exc.headers or {})
    return response


#: the refusals any API operation may answer, besides its own 2xx
ERROR_STATUSES = {
    "400": "The request cannot be taken as it is",
    "401": "No API key, or an unknown or revoked one",
    "403": "This key's role may not do this",
    "404": "Something the request names does not exist",
    "409": "The request conflicts with the current state",
    "413": "The request body is larger than allowed",
    "422": "The request does not match its schema, or a value is not acceptable",
    "429": "Too many requests: wait as long as Retry-After says",
}


def install_error_model(app: FastAPI) -> None:
    """Handlers for the API's refusals, and the OpenAPI that documents them on every operation."""
    app.add_exception_handler(MingbaiError, mingbai_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = ApiError.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(defs.pop("$defs", {}))
        components["ApiError"] = defs
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        ref = {"$ref": "#/components/schemas/ApiError"}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_STATUSES.items():
                    responses[status] = {"description": description, "content": {"application/json": {"schema": ref}}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
