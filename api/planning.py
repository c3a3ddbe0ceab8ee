"""Planning over HTTP: scenarios (named changes on top of the real layers, which never change) and
siting new facilities on the walking network. A door over ``shequ.usecases.scenarios`` and
``shequ.usecases.siting``: the same calls as ``shequ scenario …`` and ``shequ plan sites``, so the
same checks, numbers and access (reading a scenario is like reading coverage; writing one and siting
are for planners and admins).

A scenario's ETag is its revision, which grows with every change: ``POST /scenarios/{name}/changes``
with ``If-Match`` appends only if nobody changed the scenario meanwhile (else 412, nothing written).
Geometries are GeoJSON in WGS84 (CRS84, longitude first).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, Header, Path, Request, Response
from pydantic import AfterValidator, BaseModel, Field, field_validator

from shequ.api.auth import User, workspace
from shequ.api.errors import RESPONSES
from shequ.errors import Conflict, InvalidInput, NotFound
from shequ.layers.exporting import analysis_geojson
from shequ.layers.scenarios import KINDS, NAME, check_name
from shequ.usecases import scenarios, siting
from shequ.usecases.editing import geometry as parse_geometry
from shequ.usecases.scenarios import ScenarioView

router = APIRouter(tags=["planning 规划 (scenarios and siting)"])

#: changes in one request at most (a scenario holds at most ``layers.scenarios.MAX_CHANGES``)
MAX_CHANGES_PER_REQUEST = 1_000
#: the solver's time limit over the web, seconds (longer runs: ``shequ plan sites``)
MAX_TIME_LIMIT_S = 60.0
#: the kinds that place something and so take a geometry; the others name a facility or nothing
PLACED = ("add_facility", "add_residence")
#: property values: plain, bounded (a capacity of 10^20 is a typing slip, not a plan)
MAX_NUMBER = 1e9
MAX_TEXT = 500


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL characters: refuse them as a bad request, not a server error
    if value is not None and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the scenario's ETag (its revision) as you "
                                                                     "read it: the change is made only if it is "
                                                                     "still current")]
#: the scenario the OpenAPI document's examples name
EXAMPLE_SCENARIO = "new-kindergartens"
ScenarioName = Annotated[str, Path(max_length=200, description="the scenario's name", examples=[EXAMPLE_SCENARIO])]


# ---- bodies and answers ----------------------------------------------------------------------------
class NewScenario(BaseModel):
    name: Text = Field(min_length=1, max_length=64, description="1–64 letters, digits, Chinese characters, '-' "
                       "or '_' (it appears in URLs and file names)", examples=[EXAMPLE_SCENARIO])
    title: Text = Field("", max_length=200, examples=["两所新幼儿园 Two new kindergartens"])
    description: Text = Field("", max_length=4_000)


class ChangeIn(BaseModel):
    kind: Literal[KINDS] = Field(description="add_facility (a point, properties type, name?, capacity?, "  # type: ignore[valid-type]
                                 "opening_year?); remove_facility and set_capacity (target_id, the facility's "
                                 "id; set_capacity: properties.capacity); add_residence (a point or polygon, "
                                 "properties households, population?, children?, elderly?, name?); "
                                 "build_planned (the data's planned facilities counted as built)")
    target_id: Text | None = Field(None, max_length=100, description="the existing facility a removal or "
                                   "capacity change is about")
    properties: dict[str, Any] = Field(default_factory=dict, max_length=50,
                                       description="plain values: text, numbers, true/false or null")
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON Point or Polygon in WGS84 (longitude, "
                                            "latitude); only for add_facility and add_residence")

    @field_validator("properties")
    @classmethod
    def _plain_values(cls, props: dict[str, Any]) -> dict[str, Any]:
        for key, value in props.items():
            if len(key) > 100 or "\x00" in key:
                raise ValueError(f"property name {key[:100]!r}: at most 100 characters, no NUL")
            if value is None or isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                    raise ValueError(f"{key}: a number between -{MAX_NUMBER:,.0f} and {MAX_NUMBER:,.0f}, "
                                     f"not {value!r}")
            elif isinstance(value, str):
                if len(value) > MAX_TEXT or "\x00" in value:
                    raise ValueError(f"{key}: text of at most {MAX_TEXT} characters")
            else:
                raise ValueError(f"{key}: a value must be text, a number, true/false or null, "
                                 f"not {type(value).__name__}")
        return props


class ChangesIn(BaseModel):
    changes: list[ChangeIn] = Field(min_length=1, max_length=MAX_CHANGES_PER_REQUEST,
                                    description=f"applied in order, all or none; at most "
                                                f"{MAX_CHANGES_PER_REQUEST:,} a request",
                                    examples=[[{"kind": "add_facility", "properties": {"type": "kindergarten",
                                                                                        "capacity": 180},
                                                "geometry": {"type": "Point", "coordinates": [104.088, 30.6525]}}]])


class ChangeOut(BaseModel):
    id: int
    kind: str
    target_id: str | None
    properties: dict[str, Any]
    geometry: dict[str, Any] | None
    made_by: str | None
    made_at: str | None


class ScenarioHead(BaseModel):
    """What a scenario is, beside its changes (the list gives their count, one scenario gives them all)."""

    name: str
    title: str
    description: str
    revision: int
    created_by: str | None
    created_at: str | None
    updated_at: str | None


class ScenarioOut(ScenarioHead):
    changes: list[ChangeOut] = Field(description="in order: the scenario's history too")


class ScenarioListed(ScenarioHead):
    changes: int = Field(description="how many changes it holds")


class ScenarioList(BaseModel):
    scenarios: list[ScenarioListed]


class SitingRequest(BaseModel):
    type: Text = Field(min_length=1, max_length=100, description="the facility type, by code or Chinese/English "
                       "name", examples=["kindergarten"])
    add: int | None = Field(None, ge=1, le=siting.MAX_ADD, description="mclp: how many new sites (default 3)")
    model: Literal["mclp", "lscp"] = Field("mclp", description="mclp: the best `add` sites; lscp: the fewest sites "
                                           "that reach everyone a candidate can reach")
    weight: Literal[siting.WEIGHTS] | None = Field(None, description="whom to count (default by type: "  # type: ignore[valid-type]
                                                   "children for schools, the elderly for elderly care, "
                                                   "else households)")
    distance_m: float | None = Field(None, gt=0, le=5_000, description="walking metres (default: the type's)")
    area: str | None = Field(None, pattern="^([0-9]{6}|[0-9]{9}|[0-9]{12})$",
                             description="a community (12 digits), street (9) or county (6) code: its residences")
    scenario: Text | None = Field(None, max_length=64, description="on top of this scenario's layers")
    spacing_m: float | None = Field(None, ge=10, le=2_000, description="metres between street candidates "
                                    "(default 100)")
    time_limit_s: float | None = Field(None, ge=1, le=MAX_TIME_LIMIT_S, description="the solver's time limit "
                                       f"(at most {MAX_TIME_LIMIT_S:g} s here; default {MAX_TIME_LIMIT_S:g})")
    save_as: Text | None = Field(None, max_length=64, description="keep the proposed sites as (or in) this "
                                 "scenario")
    capacity: int | None = Field(None, ge=0, le=1_000_000, description="the saved sites' capacity")


# ---- helpers ---------------------------------------------------------------------------------------
def etag_of(revision: int) -> str:
    return f'"{revision}"'


def _known(name: str) -> str:
    """A name from the path: one that cannot be a scenario's is not found (never sent to the database)."""
    if not NAME.fullmatch(name):
        raise NotFound(f"no scenario {name!r}: GET /scenarios lists them",
                       zh=f"没有名为 {name!r} 的方案")
    return name


def _revision(if_match: str | None, name: str, request: Request, user) -> int | None:
    """The revision an ``If-Match`` names (None: no header, or ``*``); one that is not a revision can
    never match, so it is a 412 like a stale one."""
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip().strip('"')
    if tag.isdigit() and len(tag) < 10:
        return int(tag)
    current = scenarios.show(workspace(request), name, user=user).revision
    raise Conflict(f"If-Match {if_match!r} is not a revision of scenario {name!r} (now {etag_of(current)}): "
                   "GET the scenario first", etag=etag_of(current),
                   zh=f"If-Match {if_match!r} 不是方案 {name!r} 的版本（现为 {etag_of(current)}）：请先重新读取方案")


def _geometry(change: ChangeIn, index: int):
    where = f"change {index + 1}"
    if change.geometry is None:
        return None
    if change.kind not in PLACED:
        raise InvalidInput(f"{where}: geometry: a {change.kind} change takes none (it names a facility by "
                           "target_id)" if change.kind != "build_planned" else
                           f"{where}: geometry: a build_planned change takes none",
                           zh=f"第 {index + 1} 项：{change.kind} 类修改不带几何图形")
    try:
        geom = parse_geometry(change.geometry)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}",
                           zh=f"第 {index + 1} 项：{exc.text_zh()}") from None
    if geom is None or geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        raise InvalidInput(f"{where}: geometry: a GeoJSON Point or Polygon (longitude, latitude in WGS84)",
                           zh=f"第 {index + 1} 项：几何图形应为 GeoJSON 点或面（WGS84 经纬度）")
    if geom.is_empty or not np.isfinite(np.asarray(geom.bounds, dtype=float)).all():
        raise InvalidInput(f"{where}: geometry: coordinates must be finite numbers (longitude, latitude)",
                           zh=f"第 {index + 1} 项：坐标应为有限的数（经度、纬度）")
    return geom


def _changes(body: ChangesIn) -> list[dict]:
    return [{"kind": c.kind, "target_id": c.target_id, "properties": dict(c.properties),
             "geometry": _geometry(c, i)} for i, c in enumerate(body.changes)]


def _answer(view: ScenarioView, response: Response) -> ScenarioOut:
    response.headers["ETag"] = etag_of(view.revision)
    return ScenarioOut(**view.to_json())


def _iso(value) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (None if value is None else str(value))


# ---- scenarios -------------------------------------------------------------------------------------
@router.get("/scenarios", response_model=ScenarioList, summary="All scenarios (login as for coverage)",
            responses=RESPONSES)
def list_scenarios(request: Request, user: User) -> ScenarioList:
    rows = scenarios.list_scenarios(workspace(request), user=user)
    return ScenarioList(scenarios=[
        ScenarioListed(name=r["name"], title=r["title"] or r["name"], description=r["description"] or "",
                       revision=int(r["revision"]), created_by=r["created_by"], created_at=_iso(r["created_at"]),
                       updated_at=_iso(r["updated_at"]), changes=int(r["changes"])) for r in rows])


@router.post("/scenarios", response_model=ScenarioOut, status_code=201, responses=RESPONSES,
             summary="Create an empty scenario (planner, admin); the real layers never change")
def create_scenario(request: Request, response: Response, body: NewScenario, user: User) -> ScenarioOut:
    view = scenarios.create(workspace(request), body.name, title=body.title, description=body.description,
                            user=user)
    # a name may be Chinese: a header is Latin-1, so the name goes in percent-encoded
    response.headers["Location"] = f"{str(request.base_url).rstrip('/')}/scenarios/{quote(view.name)}"
    return _answer(view, response)


@router.get("/scenarios/{name}", response_model=ScenarioOut, responses=RESPONSES,
            summary="A scenario with its changes in order; ETag: its revision")
def show_scenario(request: Request, response: Response, name: ScenarioName, user: User) -> ScenarioOut:
    return _answer(scenarios.show(workspace(request), _known(name), user=user), response)


@router.delete("/scenarios/{name}", status_code=204, responses=RESPONSES,
               summary="Delete a scenario and its changes (planner, admin); the real layers are unchanged")
def delete_scenario(request: Request, name: ScenarioName, user: User) -> Response:
    scenarios.delete(workspace(request), _known(name), user=user)
    return Response(status_code=204)


@router.post("/scenarios/{name}/changes", response_model=ScenarioOut, responses=RESPONSES,
             summary="Append changes (planner, admin): checked against the real layers, all or none; with "
                     "If-Match only if the scenario is still at that revision")
def add_changes(request: Request, response: Response, name: ScenarioName, body: ChangesIn, user: User,
                if_match: IfMatch = None) -> ScenarioOut:
    ws = workspace(request)
    name = _known(name)
    changes = _changes(body)
    revision = _revision(if_match, name, request, user)
    try:
        view = scenarios.add_changes(ws, name, changes, user=user, revision=revision)
    except Conflict as exc:  # say which revision is current, as a feature's 412 does
        exc.details.setdefault("etag", etag_of(scenarios.show(ws, name, user=user).revision))
        raise
    return _answer(view, response)


@router.delete("/scenarios/{name}/changes/{change_id}", response_model=ScenarioOut, responses=RESPONSES,
               summary="Take one change back (planner, admin); the revision still grows")
def remove_change(request: Request, response: Response, name: ScenarioName,
                  change_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: User) -> ScenarioOut:
    view = scenarios.remove_change(workspace(request), _known(name), change_id, user=user)
    return _answer(view, response)


# ---- siting ----------------------------------------------------------------------------------------
def _number(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.post("/analyses/siting",
             responses={**RESPONSES, 429: {"description": "another siting run is in progress: retry after the "
                                                          "Retry-After seconds"}},
             summary="Where new facilities of a type should go: maximal (mclp) or set covering (lscp) on "
                     "the walking network, existing facilities kept (planner, admin)")
def plan_sites(request: Request, body: SitingRequest, user: User) -> dict:
    ws = workspace(request)
    save_as = check_name(body.save_as) if body.save_as is not None else None  # before minutes of solving
    query = siting.SitingQuery.parse(body.type, add=body.add if body.add is not None else 3, model=body.model,
                                     weight=body.weight, distance_m=body.distance_m, area=body.area,
                                     scenario=body.scenario, spacing_m=body.spacing_m,
                                     time_limit_s=body.time_limit_s or MAX_TIME_LIMIT_S)
    outcome = siting.plan_sites(ws, query, user=user)
    summary = outcome.summary
    result = outcome.result
    answer = {"query": {"type": query.type, "model": query.model, "add": query.add, "weight": query.weight,
                        "area": query.area or None, "scenario": query.scenario or None},
              "distance_m": _number(outcome.distance_m), "distance_source": outcome.distance_source,
              "summary": {str(m): _number(v) for m, v in zip(summary["measure"], summary["value"], strict=True)},
              "units": {str(m): u for m, u in zip(summary["measure"], summary["unit"], strict=True) if u},
              "sites": analysis_geojson(outcome.sites),
              "notes": [{"zh": zh, "en": en} for zh, en in outcome.notes],
              "status": result.status, "gap": _number(float(result.gap)),
              "seconds": round(float(result.seconds), 2)}
    if save_as is not None:
        view = siting.save_as_scenario(ws, outcome, save_as, user=user, capacity=body.capacity)
        answer["scenario"] = view.to_json()
    return answer
