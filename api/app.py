"""The FastAPI application: OGC API – Features for every layer, safe editing, users, analyses, exports,
and the pages.

A door: every route calls a use case of ``shequ.usecases`` with the app's workspace. Errors are JSON
``{code, description, problems?}`` (the OGC exception shape), with the HTTP status of their code
(``api.errors``); the pages answer the same errors as pages.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from shequ import __version__
from shequ.api import analyses, areas, auth, features, pages, planning
from shequ.api.crs import SUPPORTED
from shequ.api.errors import http_answer, json_answer, validation_answer
from shequ.errors import ShequError
from shequ.layers.schema import LAYERS
from shequ.logs import configure
from shequ.settings import Settings, from_environment
from shequ.usecases.workspace import Workspace
from shequ.web.pages import home_page

ATTRIBUTION = "Map data © OpenStreetMap contributors (ODbL) where it comes from OpenStreetMap"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]


ERROR_SCHEMA = {"type": "object", "required": ["code", "description"], "properties": {
    "code": {"type": "string"}, "description": {"type": "string"},
    "description_zh": {"type": "string", "description": "the description in Chinese (the pages show it)"},
    "problems": {"type": "array", "items": {"type": "object"}}}}


class _Static(StaticFiles):
    """``/static``: the vendored libraries (``vendor/``, changed only by a release) are kept by browsers for a
    week; the app's own scripts and stylesheet are checked on every visit (ETag, an empty 304 when unchanged),
    so a new release shows at once."""

    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        vendored = "vendor" in Path(full_path).parts
        response.headers["Cache-Control"] = "public, max-age=604800" if vendored else "no-cache"
        return response


def _describe_errors(app: FastAPI) -> None:
    """The OpenAPI document as the service answers: a bad parameter or body is a 400 with the OGC
    exception shape, not FastAPI's default 422 ``HTTPValidationError`` (422 means a feature breaks
    a rule); every error body is ``{code, description, problems?}``."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        doc.setdefault("components", {}).setdefault("schemas", {})["Exception"] = ERROR_SCHEMA
        doc["components"]["schemas"].pop("HTTPValidationError", None)
        doc["components"]["schemas"].pop("ValidationError", None)
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}
        for operation in (op for path in doc["paths"].values() for op in path.values()):
            responses = operation.get("responses", {})
            default = responses.get("422", {}).get("description") == "Validation Error"
            if default:
                del responses["422"]
                responses.setdefault("400", {"description": "bad request: a parameter or the body"})
            for status, answer in responses.items():
                if status[0] in "45":
                    answer.setdefault("content", body)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(database_url: str | None = None, settings: Settings | None = None, *, warm: bool = False) -> FastAPI:
    """An app bound to one database (the argument, else the settings' ``SHEQU_DATABASE_URL``, else
    SpatiaLite ``shequ.db``). ``warm``: read the layers and compute the default coverage map in the
    background at start, so the first planner to open it does not wait."""
    settings = settings or from_environment()
    configure(settings.log_level, settings.log_json)
    ws = Workspace.open(database_url, settings)
    store = ws.store
    app = FastAPI(title="shequ 社区", version=__version__, openapi_url="/api", docs_url=None, redoc_url=None,
                  description="Community layers, walking coverage and grids as OGC API – Features (Parts 1, 2 "
                  "and 4 with ETag locking). " + ATTRIBUTION)
    app.state.workspace = ws
    app.state.store = store
    # compressed answers for every client that asks (browsers, GDAL, httpx): the coverage page is
    # ≈1.2 MB of GeoJSON and script, ≈0.2 MB gzipped — seconds on a slow intranet link
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    if warm:
        _warm(ws)
    # every script, stylesheet and icon a page uses comes from here: government intranets are offline
    app.mount("/static", _Static(directory=str(resources.files("shequ.web") / "static")), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/api", title="shequ 社区 – API",
                                   swagger_js_url="/static/vendor/swagger_ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger_ui/swagger-ui.css",
                                   swagger_favicon_url="/static/vendor/swagger_ui/favicon-32x32.png")

    @app.exception_handler(ShequError)
    def shequ_error(_request: Request, exc: ShequError) -> JSONResponse:
        return json_answer(exc)

    @app.exception_handler(StarletteHTTPException)
    def no_route(request: Request, exc: StarletteHTTPException) -> Response:
        html = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        return http_answer(exc.status_code, str(exc.detail), exc.headers, html)

    @app.exception_handler(RequestValidationError)
    def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_answer(exc.errors())

    @app.get("/", summary="Landing page (JSON; an HTML page for a browser or with f=html)",
             responses={200: {"content": {"application/json": {}, "text/html": {}}}}, response_model=None)
    def landing(request: Request, f: Annotated[str | None, Query(pattern="^(json|html)$")] = None
                ) -> dict | HTMLResponse:
        base = str(request.base_url).rstrip("/")
        wants_html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
        if wants_html:
            return HTMLResponse(home_page(store.counts()))
        return {
            "title": "shequ 社区",
            "description": "Community planning layers for Chinese cities, as OGC API – Features",
            "attribution": ATTRIBUTION,
            "links": [
                {"rel": "self", "type": "application/json", "href": f"{base}/"},
                {"rel": "service-desc", "type": "application/vnd.oai.openapi+json;version=3.0", "href": f"{base}/api"},
                {"rel": "service-doc", "type": "text/html", "href": f"{base}/docs", "title": "API documentation"},
                {"rel": "conformance", "type": "application/json", "href": f"{base}/conformance"},
                {"rel": "data", "type": "application/json", "href": f"{base}/collections"},
                {"rel": "status", "type": "application/json", "href": f"{base}/health"},
            ],
            "layers": {name: {"title": f"{layer.en} ({layer.zh})"} for name, layer in LAYERS.items()},
            "crs": list(SUPPORTED),
        }

    @app.get("/conformance", summary="OGC API conformance classes")
    def conformance() -> dict:
        return {"conformsTo": CONFORMANCE}

    @app.get("/health", summary="Service health and the number of features per layer")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "database": store.backend, "layers": store.counts()}

    _describe_errors(app)
    app.include_router(features.router)
    app.include_router(auth.router)
    app.include_router(analyses.router)
    app.include_router(planning.router)
    app.include_router(areas.router)
    app.include_router(pages.pages)
    app.include_router(pages.data)
    return app


def _warm(ws: Workspace) -> None:
    """Read the layers and compute the default coverage in a thread (errors only logged: an empty
    database has nothing to warm)."""
    import threading

    from shequ.logs import event
    from shequ.usecases.coverage import CoverageQuery, coverage_of

    def run() -> None:
        try:
            coverage_of(ws, CoverageQuery())
        except ShequError as exc:
            event("warm-up skipped", reason=exc.message)

    threading.Thread(target=run, daemon=True, name="shequ-warm-up").start()
