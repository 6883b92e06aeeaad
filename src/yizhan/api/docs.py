"""The API reference page (`/docs`): Swagger UI served from an installed package.

FastAPI's own page loads Swagger UI from a CDN and is blank offline (issue 14 point 12). Here
the page's script, style sheet and icon come from the `swagger-ui-bundle` package under
`/docs/assets/`, and the online validator is off: no Yizhan page loads anything from another
host. ReDoc (`/redoc`), which also comes from a CDN, is not served.

`openapi_document` is the document at /openapi.json: FastAPI's, with the error answers as
they are (validation errors answer 400 with the error body, not FastAPI's 422) and HTTP Basic
declared on the routes that need an AccessKey.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"


def serve_docs(app: FastAPI) -> None:
    """Add `/docs` and its assets to an app made with `docs_url=None, redoc_url=None`."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API reference",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None})

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return page


ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def openapi_document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                responses.pop("422", None)  # on_validation_error answers 400
                for status, response in responses.items():
                    if status >= "400":  # refusals are JSON, whatever the route's success
                        response["content"] = {"application/json": {"schema": ERROR_BODY}}
                if "401" in responses:
                    operation["security"] = [{"accessKey": []}]
        components = document.setdefault("components", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.get("schemas", {}).pop(name, None)
        components["securitySchemes"] = {"accessKey": {
            "type": "http", "scheme": "basic",
            "description": "AccessKey id as user name, AccessKey secret as password."}}
        app.openapi_schema = document
    return app.openapi_schema
