"""The pages: the coverage map, the scorecards, the grid editor and the exports page — a door over the
same use cases as the JSON API, drawn by ``shequ.web``.

The analyses behind a page are the JSON API's (``usecases.coverage``, ``usecases.scorecards``), with the
same access policy: a visitor who may not run them gets the same 401/403 as from the API, as a page
with a login box. A page navigation carries the login as the cookie ``POST /token`` sets. Rendered
pages are kept per data version, so switching back to one already seen is instant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from shequ.api.auth import User, workspace
from shequ.api.errors import status_of, validation_error
from shequ.api.report_files import Cached, Format, report_answer
from shequ.errors import InvalidInput, ShequError
from shequ.layers.exporting import analysis_geojson
from shequ.usecases.catchment import AccessQuery, access_analysis
from shequ.usecases.compare import compare, compare_xlsx
from shequ.usecases.coverage import (
    MAP_SEARCH_BEYOND_M,
    CoverageOutcome,
    CoverageQuery,
    coverage,
    service_area_frame,
)
from shequ.usecases.progress import progress
from shequ.usecases.progress import write_workbook as write_progress_workbook
from shequ.usecases.scenarios import list_scenarios, scenario_revision
from shequ.usecases.scorecards import community_card, community_workbook, scorecard, shipped_profile, write_workbook
from shequ.usecases.workspace import ResultCache, Workspace
from shequ.web.access_page import access_page
from shequ.web.compare_page import compare_page, compare_report
from shequ.web.coverage_page import CoverageParams, coverage_page, parse_view, service_areas_geojson
from shequ.web.editor import editor_page
from shequ.web.exports_page import exports_page
from shequ.web.pages import error_page
from shequ.web.progress_page import progress_page
from shequ.web.scorecard_page import community_scorecard_page, scorecard_overview_page


def page_error(exc: ShequError, request: Request) -> HTMLResponse:
    """An error as a page in the frame; a missing login opens the login box."""
    path = request.url.path
    active = "/reports/scorecard" if path.startswith("/reports") else "/maps/coverage"
    back = "/reports/scorecard" if path.startswith("/reports") else "/maps/coverage"
    status = status_of(exc)
    zh = exc.text_zh()  # its own Chinese, else the code's Chinese lead: never bare English
    html = error_page(status, zh, exc.message, active=active, back=back if status != 401 else path,
                      login=status == 401)
    response = HTMLResponse(html, status_code=status)
    if exc.details.get("reason") == "invalid_token":  # an expired login: forget it
        from shequ.api.auth import COOKIE

        response.delete_cookie(COOKIE, path="/")
    return response


class PageRoute(APIRoute):
    """A route that answers errors a user can cause with a page, not a JSON body."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except ShequError as exc:
                return page_error(exc, request)
            except RequestValidationError as exc:  # a page's parameter of the wrong kind: a page too
                return page_error(validation_error(exc.errors()), request)

        return route


pages = APIRouter(include_in_schema=False, route_class=PageRoute)
data = APIRouter(include_in_schema=False)


def _pages_cache(ws: Workspace, request: Request) -> ResultCache:
    cache = getattr(request.app.state, "page_cache", None)
    if cache is None:
        cache = request.app.state.page_cache = ResultCache(size=24)
    return cache


def _query(ws: Workspace, types: list[str] | None, level: str | None, area: str | None,
           scenario: str | None = None, *, nearest: bool = False) -> CoverageQuery:
    """The coverage question; ``nearest``: for the map, whose popups name the nearest facility of an
    uncovered compound (a walk past the distance is searched). The downloads stay the other doors' numbers."""
    return CoverageQuery.parse(types, level, None, area, search_beyond_m=MAP_SEARCH_BEYOND_M if nearest else 0.0,
                               max_types=ws.settings.max_facility_types, scenario=scenario)


def _view(ws: Workspace, mode: str | None, basemap: str | None, tk: str | None, url: str | None,
          gcj02: str | None) -> dict[str, Any]:
    s = ws.settings
    return parse_view(mode, basemap, tk, url, gcj02, default_basemap=s.basemap, default_url=s.basemap_url or "",
                      default_tk=s.tianditu_key.get_secret_value() if s.tianditu_key else "",
                      default_gcj02=s.basemap_gcj02)


def _params(outcome: CoverageOutcome, view: dict[str, Any]) -> CoverageParams:
    q = outcome.query
    return CoverageParams(tuple(q.types), q.level, q.area, **view, scenario=q.scenario)


Types = Annotated[list[str] | None, Query()]


@pages.get("/maps/coverage", response_class=HTMLResponse)
def coverage_map_page(request: Request, user: User, types: Types = None, level: str | None = None,
                      area: str | None = None, mode: str | None = None, basemap: str | None = None,
                      tk: str | None = None, url: str | None = None, gcj02: str | None = None,
                      scenario: str | None = None) -> HTMLResponse:
    """The coverage map for the chosen facility types, level and area, on the real layers or a scenario's;
    the planning tools (a facility placed by a click, suggested sites) write scenarios through the API."""
    ws = workspace(request)
    query, view = _query(ws, types, level, area, scenario, nearest=True), _view(ws, mode, basemap, tk, url, gcj02)
    outcome = coverage(ws, query, user=user)
    params = _params(outcome, view)
    snap = ws.snapshot()
    found = [s["name"] for s in list_scenarios(ws, user=user)]
    key = ("coverage", params, tuple(found), scenario_revision(ws, params.scenario))
    body = _pages_cache(ws, request).get(snap.version, key, lambda: coverage_page(
        outcome, params, snap.communities, snap.type_counts, scenarios=found))
    return HTMLResponse(body)


@pages.get("/maps/access", response_class=HTMLResponse)
def access_map_page(request: Request, user: User, type: str = "kindergarten", method: str | None = None,
                    distance: float | None = None, area: str | None = None, scenario: str | None = None,
                    assume_capacity: str | None = None) -> HTMLResponse:
    """Capacity-aware access (2SFCA / E2SFCA) of one type: places per 1 000 per community and residence."""
    ws = workspace(request)
    assumed = (assume_capacity or "").strip() or None  # an empty form field is no assumption
    query = AccessQuery.parse(type, method, distance, area, scenario, assumed)
    outcome = access_analysis(ws, query, user=user)
    snap = ws.snapshot()
    found = [s["name"] for s in list_scenarios(ws, user=user)]
    key = ("access", query, tuple(found), scenario_revision(ws, query.scenario))
    return HTMLResponse(_pages_cache(ws, request).get(snap.version, key, lambda: access_page(
        outcome, snap.communities, snap.type_counts, found)))


@pages.get("/maps/compare", response_class=HTMLResponse)
def compare_map_page(request: Request, user: User, scenario: str | None = None, base: str | None = None,
                     types: Types = None,
                     type: str | None = None, level: str | None = None, area: str | None = None,
                     profile: str | None = None, format: Format = None) -> Response:
    """What a scenario changes: before → after per type and community, a difference map of one type;
    ``format=pdf``: the report part (the numbers) as an A4 PDF."""
    ws = workspace(request)
    if not (scenario or "").strip():
        raise InvalidInput("choose a scenario to compare: /maps/compare?scenario=NAME (GET /scenarios lists them)",
                           zh="请选择要比较的方案：/maps/compare?scenario=方案名称")
    if profile:
        shipped_profile(profile)  # a web client names shipped profiles only
    c = compare(ws, base, scenario, types=types, level=level, area=area, profile=profile, user=user)
    snap = ws.snapshot()
    key = ("compare", c.base, c.scenario, tuple(c.types), type, level, area, profile,
           c.after.query, scenario_revision(ws, c.scenario), scenario_revision(ws, c.base))
    if format == "pdf":  # the report part: the numbers without the map
        return report_answer(format, lambda: compare_report(c, type), f"compare_{c.scenario}", key=key,
                             cached=_cached(ws, request, snap.version))
    if format not in (None, "html"):
        raise InvalidInput(f"this page has no {format} download: /maps/compare/compare.xlsx is the workbook",
                           zh=f"此页面没有 {format} 格式的下载：比较结果工作簿见 /maps/compare/compare.xlsx")
    return HTMLResponse(_pages_cache(ws, request).get(snap.version, key, lambda: compare_page(c, type)))


@data.get("/maps/coverage/service-areas")
def coverage_service_areas(request: Request, user: User, type: str, types: Types = None, level: str | None = None,
                           area: str | None = None, gcj02: str | None = None, basemap: str | None = None,
                           url: str | None = None, scenario: str | None = None) -> Response:
    """One type's walking service areas for the coverage page, as GeoJSON, loaded when the layer is
    switched on (they are the costliest part of the page and hidden at first)."""
    ws = workspace(request)
    query = _query(ws, types, level, area, scenario, nearest=True)  # the page's own question: one computation
    view = _view(ws, "network", basemap, None, url, gcj02)
    areas = service_area_frame(ws, query, type, user=user)
    outcome = coverage(ws, query, user=user)
    doc = service_areas_geojson(areas, _params(outcome, view), outcome.result.network.crs)
    return Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), media_type="application/geo+json")


@data.get("/maps/coverage/residences.geojson")
def coverage_residences(request: Request, user: User, types: Types = None, level: str | None = None,
                        area: str | None = None, scenario: str | None = None) -> Response:
    """The numbers behind the map, per residence: the same frame as ``shequ analyze coverage`` writes."""
    ws = workspace(request)
    outcome = coverage(ws, _query(ws, types, level, area, scenario), user=user)
    body = json.dumps(analysis_geojson(outcome.residences()), ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body, media_type="application/geo+json",
                    headers={"Content-Disposition": 'attachment; filename="residences_coverage.geojson"'})


@data.get("/maps/compare/compare.xlsx")
def compare_workbook(request: Request, user: User, scenario: str, base: str | None = None, types: Types = None,
                     level: str | None = None, area: str | None = None) -> Response:
    """The comparison's numbers as a workbook: per type, per community / grid / life circle."""
    ws = workspace(request)
    c = compare(ws, base, scenario, types=types, level=level, area=area, user=user)
    return Response(compare_xlsx(c), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="compare.xlsx"'})


@data.get("/maps/coverage/summary.csv")
def coverage_summary(request: Request, user: User, types: Types = None, level: str | None = None,
                     area: str | None = None, scenario: str | None = None) -> Response:
    """The numbers behind the map, per type over the area and per community, grid and life circle."""
    ws = workspace(request)
    outcome = coverage(ws, _query(ws, types, level, area, scenario), user=user)
    return Response("\ufeff" + outcome.summary_table().to_csv(index=False), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="summary.csv"'})


def _cached(ws: Workspace, request: Request, version: Any) -> Cached:
    cache = _pages_cache(ws, request)
    return lambda key, make: cache.get(version, key, make)


@pages.get("/reports/scorecard", response_class=HTMLResponse)
def scorecard_overview(request: Request, user: User, profile: str = "national", format: Format = None) -> Response:
    """Every community against a policy profile: rules met, charts, district maps (the written report);
    ``format``: its community table as csv or the whole scorecard as xlsx, the page as pdf."""
    ws = workspace(request)
    outcome = scorecard(ws, profile, user=user)
    cached = _cached(ws, request, ws.snapshot().version)
    key = ("scorecard", profile)
    return report_answer(format, lambda: cached(key, lambda: scorecard_overview_page(outcome)),
                         f"scorecard_{outcome.profile.name}", cached=cached, key=key,
                         table=lambda: outcome.card.communities, workbook=lambda f: write_workbook(outcome, f))


@pages.get("/reports/scorecard/{code}", response_class=HTMLResponse)
def community_scorecard(request: Request, code: str, user: User, profile: str = "national",
                        format: Format = None) -> Response:
    """One community's scorecard: its measures against each rule, shortfalls, facilities and grids;
    ``format``: its verdicts as csv, verdicts and grids as xlsx, the page as pdf."""
    ws = workspace(request)
    card = community_card(ws, profile, code, user=user)
    cached = _cached(ws, request, ws.snapshot().version)
    key = ("community", profile, code)
    return report_answer(format, lambda: cached(key, lambda: community_scorecard_page(card)),
                         f"scorecard_{card.code}_{card.profile.name}", cached=cached, key=key,
                         table=lambda: card.verdicts, workbook=lambda f: community_workbook(card, f))


@pages.get("/reports/progress", response_class=HTMLResponse)
def target_progress(request: Request, user: User, profile: str = "national", format: Format = None) -> Response:
    """Progress towards the profile's dated targets: the gap in communities, years left, the trend of the
    saved runs (today's scorecard is saved as the run of the day). Not kept in the page cache: the trend
    changes by the day, not with the data (a PDF is kept for the day)."""
    ws = workspace(request)
    outcome = progress(ws, profile, user=user, record=False)
    cached = _cached(ws, request, (ws.snapshot().version, outcome.today.isoformat(), len(outcome.runs)))
    return report_answer(format, lambda: progress_page(outcome), f"progress_{outcome.profile.name}", cached=cached,
                         key=("progress", profile), table=outcome.frame,
                         workbook=lambda f: write_progress_workbook(outcome, f))


@pages.get("/edit/grids", response_class=HTMLResponse)
def grid_editor() -> HTMLResponse:
    """The grid editor: a client of the API (it fetches and saves with the user's token)."""
    return HTMLResponse(editor_page())


@pages.get("/exports", response_class=HTMLResponse)
def exports(request: Request) -> HTMLResponse:
    return HTMLResponse(exports_page(workspace(request).store.counts()))


@pages.get("/maps", response_class=HTMLResponse)
def maps_home() -> RedirectResponse:
    return RedirectResponse("/maps/coverage")
