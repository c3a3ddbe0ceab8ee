"""The API as a client sees it (the OGC API issue extends this)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from shequ.api.app import create_app
from shequ.layers.importing import import_file

import samples


def test_health_reports_the_backend_and_the_layer_counts(db_url: str, tmp_path: Path) -> None:
    app = create_app(db_url)
    import_file(app.state.store, samples.write(samples.communities(), tmp_path / "c.geojson"), "communities")
    with TestClient(app) as client:
        body = client.get("/health").json()
        assert body["status"] == "ok"
        assert body["database"] == ("postgis" if db_url.startswith("postgresql") else "spatialite")
        assert body["layers"]["communities"] == 2 and body["layers"]["grids"] == 0
        landing = client.get("/").json()
        assert "OpenStreetMap contributors" in landing["attribution"]
    app.state.store.dispose()


def test_the_api_docs_page_works_offline(page, tmp_path: Path) -> None:
    """FastAPI's /docs loads Swagger UI from a CDN by default; ours comes from the app."""
    from conftest import live_server

    app = create_app(f"sqlite:///{tmp_path / 'docs.db'}")
    with live_server(app) as base:
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        assert page.locator(".opblock").count() > 20
    assert page.external_requests == []
    assert page.console_errors == []
    app.state.store.dispose()


def test_a_browser_gets_an_html_landing_page_and_clients_get_json(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'home.db'}")
    with TestClient(app) as client:
        page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert page.headers["content-type"].startswith("text/html")
        assert 'href="/edit/grids"' in page.text and 'href="/maps/coverage"' in page.text
        assert client.get("/", headers={"Accept": "application/json"}).json()["links"]
        assert client.get("/?f=json", headers={"Accept": "text/html"}).json()["title"] == "shequ 社区"
        assert client.get("/?f=html").headers["content-type"].startswith("text/html")
    app.state.store.dispose()
