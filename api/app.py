"""The FastAPI application. Thin: it reads the store and answers; analysis lives in ``shequ.gis``."""

from __future__ import annotations

from fastapi import FastAPI

from shequ import __version__
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store

ATTRIBUTION = "Map data © OpenStreetMap contributors (ODbL) where it comes from OpenStreetMap"


def create_app(database_url: str | None = None) -> FastAPI:
    """An app bound to one database (``SHEQU_DATABASE_URL`` or SpatiaLite ``shequ.db`` by default)."""
    store = Store(database_url)
    app = FastAPI(title="shequ 社区", version=__version__,
                  description="Community layers, walking coverage and grids. " + ATTRIBUTION)
    app.state.store = store

    @app.get("/", summary="Landing page")
    def landing() -> dict:
        return {
            "title": "shequ 社区",
            "description": "Community planning layers for Chinese cities",
            "attribution": ATTRIBUTION,
            "links": [
                {"rel": "service-doc", "href": "/docs", "title": "API documentation"},
                {"rel": "status", "href": "/health", "title": "Health and layer counts"},
            ],
            "layers": {name: {"title": f"{layer.en} ({layer.zh})"} for name, layer in LAYERS.items()},
        }

    @app.get("/health", summary="Service health and the number of features per layer")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "database": store.backend, "layers": store.counts()}

    return app
