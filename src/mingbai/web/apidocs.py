"""The API explorer at ``/docs``: Swagger UI vendored from npm and served from our own origin.

FastAPI's default page loads Swagger UI from a CDN (a blank page without internet) and starts it
with an inline script, which our Content-Security-Policy refuses; this page does neither.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
SWAGGER_JS = f"{VENDOR}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui.css"
SWAGGER_INIT = "/static/swagger-init.js"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    title = escape(f"{request.app.title} · API")
    openapi_url = escape(request.app.openapi_url or "/openapi.json")
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{SWAGGER_CSS}">
<script src="{SWAGGER_JS}" defer></script>
<script src="{SWAGGER_INIT}" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
</body>
</html>
"""
    )
