"""Analyses and exports over HTTP: walking coverage, the life-circle audit and scorecards; any layer as
GeoJSON, GeoPackage, Shapefile or CSV in WGS84 or CGCS2000. A door over ``shequ.usecases``: the same
calls as ``/maps/coverage`` and ``shequ analyze coverage``, so the same numbers and the same access."""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from shequ.api.auth import User, workspace
from shequ.api.errors import RESPONSES
from shequ.api.ogc import Collection, parse_bbox, parse_crs
from shequ.layers.exporting import analysis_geojson
from shequ.usecases import lifecircles, transfer
from shequ.usecases.catchment import AccessQuery, access_analysis
from shequ.usecases.coverage import CoverageQuery, coverage
from shequ.usecases.progress import progress
from shequ.usecases.scorecards import scorecard

router = APIRouter(tags=["analyses and exports 分析与导出"])


class CoverageRequest(BaseModel):
    types: list[str] | None = Field(None, description="facility types, by code or Chinese/English name (default: "
                                    "kindergarten, primary school, health station, market, elderly day care, "
                                    "those present)", min_length=1, max_length=20)
    level: str | None = Field(None, pattern="^(5min|10min|15min)$",
                              description="use a life-circle level's distance for every type")
    distances: dict[str, float] | None = Field(None, description="metres per type, overriding the catalog")
    area: str | None = Field(None, pattern="^([0-9]{6}|[0-9]{9}|[0-9]{12})$",
                             description="a community (12 digits), street (9) or county (6) code: its residences")
    bbox: list[float] | None = Field(None, min_length=4, max_length=4,
                                     description="minx,miny,maxx,maxy (CRS84): the residences in it")
    scenario: str | None = Field(None, max_length=64, description="the layers as this stored scenario would make "
                                 "them (GET /scenarios)")


def frame_json(frame: pd.DataFrame) -> list[dict]:
    clean = frame.replace([np.inf, -np.inf], np.nan).astype(object)
    return json.loads(clean.where(clean.notna(), None).to_json(orient="records", force_ascii=False))


@router.post("/analyses/coverage", summary="Walking coverage of residences by facility types, for an area",
             responses=RESPONSES)
def coverage_analysis(request: Request, body: CoverageRequest, user: User) -> dict:
    ws = workspace(request)
    query = CoverageQuery.parse(body.types, body.level, body.distances, body.area, body.bbox,
                                max_types=ws.settings.max_facility_types, scenario=body.scenario)
    outcome = coverage(ws, query, user=user)
    per_community = outcome.zones[outcome.zones["zone_kind"] == "communities"]
    return {"query": {"types": outcome.types, "level": outcome.query.level, "area": outcome.query.area,
                      "scenario": outcome.query.scenario or None,
                      "bbox": outcome.query.bbox},
            "thresholds": {t: vars(th) for t, th in outcome.thresholds.items()},
            "summary": frame_json(outcome.summary),
            "communities": frame_json(per_community.drop(columns=["zone_kind"]).rename(columns={"zone": "community"})),
            "residences": analysis_geojson(outcome.residences()),
            "gaps": analysis_geojson(outcome.gaps),
            "islands": len(outcome.result.islands),
            "notes": [{"zh": zh, "en": en} for zh, en in outcome.notes]}


class AccessSummaryRow(BaseModel):
    measure: str = Field(description="what is measured (access_per_1000, zero_access_share, facilities_excluded …); "
                         "'note' rows are not in this list")
    value: bool | int | float | str | None
    unit: str
    zh: str
    en: str


class AccessCommunityRow(BaseModel):
    model_config = ConfigDict(extra="allow")  # norm_per_1000 and ratio_to_norm where a norm exists

    code: str
    name: str | None = None
    residences: int
    demand: float = Field(description="demand people (children, elderly or residents) in the community's residences")
    access_per_1000: float | None = Field(description="places per 1 000 demand people within a walk, the "
                                          "demand-weighted mean of its residences (null: not measured)")
    zero_access_demand: float | None
    zero_access_share: float | None
    zero_access_uncounted_demand: float | None = Field(
        description="of the demand with no place, the part beside a facility that has no capacity in the data")
    missing_demand: int = Field(description="residences without a demand figure (counted as none)")
    capacity_basis: str = Field(description="data, assumed (假设), data + assumed (假设), or none")


class Note(BaseModel):
    zh: str
    en: str


class AccessAnswer(BaseModel):
    query: dict[str, Any] = Field(description="the question as answered: type, method, distance_m, demand, area, "
                                  "scenario, assume_capacity")
    measured: bool = Field(description="false when no facility within reach has a capacity (and none is assumed)")
    summary: list[AccessSummaryRow]
    communities: list[AccessCommunityRow]
    notes: list[Note] = Field(description="what the numbers rest on: capacities' provenance and assumptions first")


@router.get("/analyses/access", summary="Capacity-aware access: places per 1000 children, elderly or residents "
            "within a walk (2SFCA / E2SFCA), per community", response_model=AccessAnswer, responses=RESPONSES)
def capacity_access(request: Request, user: User,
                    type_: Annotated[str, Query(alias="type", min_length=1, max_length=64,
                                                description="facility type, by code or Chinese/English name")],
                    method: Annotated[str, Query(pattern="^(2sfca|e2sfca)$")] = "2sfca",
                    distance: Annotated[float | None, Query(gt=0, le=5000, description="walking catchment, metres "
                                                            "(default: the type's service distance)")] = None,
                    area: Annotated[str | None, Query(pattern="^([0-9]{6}|[0-9]{9}|[0-9]{12})$",
                                                      description="a community (12 digits), street (9) or county "
                                                                  "(6) code: its residences")] = None,
                    scenario: Annotated[str | None, Query(max_length=64, description="a stored scenario's "
                                                          "layers instead of the real ones")] = None,
                    assume_capacity: Annotated[int | None, Query(ge=1, le=100_000, description="places assumed for "
                                                                 "every facility without a capacity (an "
                                                                 "assumption, labelled so)")] = None,
                    demand: Annotated[str | None, Query(pattern="^(children|elderly|population|households)$",
                                                        description="whose figures share the places (default by "
                                                                    "type)")] = None) -> dict:
    """Each facility's capacity shared among the demand within its walking catchment, summed per residence
    and averaged (demand-weighted) per community; residences are left out (too many: the command line
    writes them)."""
    query = AccessQuery.parse(type_, method, distance, area, scenario, assume_capacity, demand)
    outcome = access_analysis(workspace(request), query, user=user)
    q = outcome.query
    return {"query": {"type": q.type, "method": q.method, "distance_m": outcome.distance_m, "demand": q.demand,
                      "area": q.area, "scenario": q.scenario, "assume_capacity": q.assume_capacity},
            "measured": outcome.measured, "summary": frame_json(outcome.summary),
            "communities": frame_json(outcome.communities), "notes": [{"zh": zh, "en": en} for zh, en in outcome.notes]}


@router.get("/analyses/scorecard", summary="Community scorecard against a policy profile", responses=RESPONSES)
def community_scorecard(request: Request, user: User,
                        profile: Annotated[str, Query(pattern="^[a-z0-9_]{1,32}$")] = "national") -> dict:
    outcome = scorecard(workspace(request), profile, user=user)
    prof = outcome.profile
    return {"profile": prof.name, "lineage": list(prof.lineage), "rules": frame_json(outcome.card.rules),
            "communities": frame_json(outcome.card.communities), "notes": outcome.notes}


@router.get("/analyses/progress", summary="Progress towards a profile's dated targets: gap in communities, "
            "years left, trend", responses=RESPONSES)
def target_progress(request: Request, user: User,
                    profile: Annotated[str, Query(pattern="^[a-z0-9_]{1,32}$")] = "national") -> dict:
    """Each dated target of the profile beside today's scorecard; today's scorecard is saved as the
    profile's run of the day, so the trend of later calls includes it."""
    return progress(workspace(request), profile, user=user, record=False).as_dict()


@router.get("/analyses/lifecircles", summary="Life-circle audit: required facilities per level", responses=RESPONSES)
def lifecircle_audit(request: Request, user: User,
                     scenario: Annotated[str | None, Query(max_length=64, description="a stored scenario's "
                                                           "layers (GET /scenarios)")] = None) -> dict:
    findings, summary = lifecircles.audit_all(workspace(request), user=user, scenario=scenario)
    return {"findings": frame_json(findings), "circles": frame_json(summary)}


@router.get("/exports/{collectionId}", summary="Download a layer: GeoJSON, GeoPackage, Shapefile (zip) or CSV, "
            "in WGS84 or CGCS2000", responses={200: {"content": {m: {} for m, _ in transfer.FORMATS.values()},
                                                    "description": "the file",
                                                    "headers": {"X-Feature-Count": {
                                                        "description": "features in the file (0: an empty file)",
                                                        "schema": {"type": "integer"}}}}, **RESPONSES})
def export(request: Request, collectionId: Collection, user: User,
           format: Annotated[str, Query(pattern="^(geojson|gpkg|shapefile|csv)$")] = "geojson",
           crs: Annotated[str, Query(pattern="^(EPSG:4326|EPSG:4490)$")] = "EPSG:4326",
           bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (CRS84)")] = None,
           area: Annotated[str | None, Query(pattern="^[0-9]{6,12}$",
                                             description="a community (12 digits) or street (9) or county (6) "
                                                         "code: its features (those in its outline for "
                                                         "layers or features without a community code)")] = None,
           ) -> FileResponse:
    box = parse_bbox(bbox, parse_crs(None, "bbox-crs"))
    done = transfer.export(workspace(request), collectionId.value, fmt=format, crs=crs, bbox=box, area=area,
                           user=user)
    # the number of features, so a page can say "0 features" instead of saving an empty file
    return FileResponse(done.path, media_type=done.media_type, filename=done.filename,
                        headers={"X-Feature-Count": str(done.features)}, background=BackgroundTask(done.cleanup))
