"""The planner's pages: the coverage map (``/maps/coverage``) and the scorecards (``/reports/…``).

Thin: the routes read the store and hand the layers to ``shequ.web.coverage_page``, which runs the
analyses and draws the pages. Results are kept in a small in-memory LRU on ``app.state``, keyed by
the data's version (row counts, highest row ids, the edit history), so switching back to a page
already seen is instant and any edit or import makes every page fresh.
"""

from __future__ import annotations

import json
import threading
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from shequ.api.analyze import DEFAULT_TYPES
from shequ.layers.history import HISTORY
from shequ.layers.profiles import load_profile, shipped
from shequ.layers.schema import LAYERS
from shequ.layers.store import TABLES, Store
from shequ.web.coverage_page import (
    Layers,
    PageCache,
    PageError,
    analyse,
    build_scorecard,
    community_scorecard_page,
    coverage_page,
    error_page,
    parse_params,
    scorecard_overview_page,
    service_areas_geojson,
)
from shequ.web.report import scorecard_notes

router = APIRouter(include_in_schema=False)
_STATE_LOCK = threading.Lock()


class _Caches:
    """One per app: the layers (one version), analyses and scorecards, and rendered pages."""

    def __init__(self) -> None:
        self.layers = PageCache(size=1)
        self.results = PageCache(size=12)
        self.pages = PageCache(size=24)


def _caches(app: FastAPI) -> _Caches:
    with _STATE_LOCK:
        if getattr(app.state, "page_caches", None) is None:
            app.state.page_caches = _Caches()
        return app.state.page_caches


def data_version(store: Store) -> tuple:
    """Changes whenever the data does: per layer the row count and highest fid (an import that replaces
    rows gets new fids), and the edit history's size and last id (an edit in place)."""
    with store.engine.connect() as conn:
        layers = tuple(tuple(conn.execute(select(func.count(), func.max(TABLES[name].c.fid))).one())
                       for name in LAYERS)
        history = tuple(conn.execute(select(func.count(), func.max(HISTORY.c.id))).one())
    return (*layers, history)


def _layers(request: Request) -> tuple[tuple, Layers, _Caches]:
    store: Store = request.app.state.store
    caches = _caches(request.app)
    version = data_version(store)
    layers = caches.layers.get(version, "layers", lambda: Layers(
        store.read("streets"), store.read("residences"), store.read("facilities"), store.read("communities"),
        store.read("grids"), store.read("lifecircles")))
    return version, layers, caches


@router.get("/maps/coverage", response_class=HTMLResponse)
def coverage_map_page(request: Request, types: Annotated[list[str] | None, Query()] = None,
                      level: str | None = None, area: str | None = None, mode: str | None = None,
                      basemap: str | None = None, tk: str | None = None, url: str | None = None,
                      gcj02: str | None = None) -> HTMLResponse:
    """The coverage map for the chosen facility types, level and area (see ``web.coverage_page``)."""
    version, layers, caches = _layers(request)
    try:
        params = parse_params(types, level, area, mode, basemap, tk, url, gcj02,
                              present=list(layers.type_counts.index), defaults=DEFAULT_TYPES)

        def render() -> str:
            analysis = caches.results.get(version, ("coverage", params.analysis_key), lambda: analyse(layers, params))
            return coverage_page(analysis, params, layers)

        return HTMLResponse(caches.pages.get(version, ("coverage", params), render))
    except PageError as err:
        return HTMLResponse(error_page(err), status_code=err.status)


@router.get("/maps/coverage/service-areas")
def coverage_service_areas(request: Request, type: str, types: Annotated[list[str] | None, Query()] = None,
                           level: str | None = None, area: str | None = None, gcj02: str | None = None,
                           basemap: str | None = None, url: str | None = None) -> Response:
    """One type's walking service areas for the coverage page, as GeoJSON, loaded when the layer is
    switched on (they are the costliest part of the page and hidden at first)."""
    version, layers, caches = _layers(request)
    try:
        params = parse_params(types, level, area, "network", basemap, "", url, gcj02,
                              present=list(layers.type_counts.index), defaults=DEFAULT_TYPES)
        if type not in params.types:
            raise PageError(f"type 应为所选类型之一：{', '.join(params.types)}",
                            f"type must be one of the chosen types: {', '.join(params.types)}")

        def render() -> str:
            analysis = caches.results.get(version, ("coverage", params.analysis_key), lambda: analyse(layers, params))
            return json.dumps(service_areas_geojson(analysis, type, params), ensure_ascii=False, separators=(",", ":"))

        body = caches.pages.get(version, ("areas", params.analysis_key, type, params.gcj02), render)
        return Response(body, media_type="application/geo+json")
    except PageError as err:
        code = "InvalidParameterValue" if err.status == 400 else "NoData"
        return JSONResponse({"code": code, "description": err.en}, status_code=err.status)


def _profile(name: str) -> str:
    if name not in shipped():
        raise PageError(f"未知的政策配置 {name!r}：可选 {', '.join(shipped())}",
                        f"unknown profile {name!r}: use one of {', '.join(shipped())}")
    return name


def _card(version: tuple, layers: Layers, caches: _Caches, profile: str):
    if layers.communities.empty:
        raise PageError("没有社区数据：请导入或草拟社区（shequ draft communities）",
                        "the communities layer is empty: import communities or draft them (shequ draft communities)",
                        409)
    prof = load_profile(profile)
    return caches.results.get(version, ("scorecard", profile),
                              lambda: build_scorecard(layers, prof, DEFAULT_TYPES)), prof


@router.get("/reports/scorecard", response_class=HTMLResponse)
def scorecard_overview(request: Request, profile: str = "national") -> HTMLResponse:
    """Every community against a policy profile: rules met, charts, district maps (the written report)."""
    version, layers, caches = _layers(request)
    try:
        name = _profile(profile)

        def render() -> str:
            card, prof = _card(version, layers, caches, name)
            return scorecard_overview_page(card, prof, layers.communities,
                                           scorecard_notes(card, layers.residences), shipped())

        return HTMLResponse(caches.pages.get(version, ("scorecard", name), render))
    except PageError as err:
        return HTMLResponse(error_page(err, active="/reports/scorecard", back="/reports/scorecard"),
                            status_code=err.status)


@router.get("/reports/scorecard/{code}", response_class=HTMLResponse)
def community_scorecard(request: Request, code: str, profile: str = "national") -> HTMLResponse:
    """One community's scorecard: its measures against each rule, shortfalls, facilities and grids."""
    version, layers, caches = _layers(request)
    try:
        name = _profile(profile)
        if code not in set(layers.communities["code"].astype(str)):
            raise PageError(f"没有代码为 {code!r} 的社区", f"there is no community with code {code!r}", 404)

        def render() -> str:
            card, prof = _card(version, layers, caches, name)
            return community_scorecard_page(card, prof, code, layers, shipped())

        return HTMLResponse(caches.pages.get(version, ("community", name, code), render))
    except PageError as err:
        return HTMLResponse(error_page(err, active="/reports/scorecard", back=f"/reports/scorecard?profile="
                                       f"{profile if profile in shipped() else 'national'}"),
                            status_code=err.status)
