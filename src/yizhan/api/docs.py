"""The API reference page (`/docs`): Swagger UI served from an installed package.

FastAPI's own page loads Swagger UI from a CDN and is blank offline (issue 14 point 12). Here
the page's script, style sheet and icon come from the `swagger-ui-bundle` package under
`/docs/assets/`, and the online validator is off: no Yizhan page loads anything from another
host. ReDoc (`/redoc`), which also comes from a CDN, is not served.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
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
