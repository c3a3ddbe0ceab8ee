"""Analyses and exports over HTTP: coverage, life-circle audit and scorecards for an area; any layer as
GeoJSON, GeoPackage, Shapefile or CSV in WGS84 or CGCS2000. Glue over ``shequ.gis`` and the exporters."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from shequ.api.auth import ApiError, User, need_role
from shequ.api.features import ERRORS, Collection, _bbox, _crs
from shequ.gis.audit import audit
from shequ.gis.coverage import Coverage, assign_zones
from shequ.gis.network import WalkNetwork
from shequ.gis.scorecard import scorecard
from shequ.layers.exporting import ExportError, export_frame
from shequ.layers.profiles import ProfileError, load_profile
from shequ.layers.store import Prefix

router = APIRouter(tags=["analyses and exports 分析与导出"])
ANALYSTS = ("planner", "admin")
READERS = ("planner", "bureau", "admin", "grid_manager")
MEDIA = {"geojson": ("application/geo+json", ".geojson"), "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
         "shapefile": ("application/zip", ".zip"), "csv": ("text/csv", ".csv")}


class CoverageRequest(BaseModel):
    types: list[str] | None = Field(None, description="facility types (default: those present)", min_length=1,
                                    max_length=20)
    level: str | None = Field(None, pattern="^(5min|10min|15min)$",
                              description="use a life-circle level's distance for every type")
    distances: dict[str, float] | None = Field(None, description="metres per type, overriding the catalog")
    bbox: list[float] | None = Field(None, min_length=4, max_length=4, description="minx,miny,maxx,maxy (CRS84)")


def _frame_json(frame: pd.DataFrame) -> list[dict]:
    clean = frame.replace([np.inf, -np.inf], np.nan).astype(object)
    return json.loads(clean.where(clean.notna(), None).to_json(orient="records", force_ascii=False))


def _walkable(streets: pd.DataFrame) -> bool:
    return bool(len(streets)) and bool(streets["walkable"].fillna(True).astype(bool).any())


def _area_layers(store, bbox: tuple | None, margin_m: float) -> tuple:
    if bbox is None:
        return store.read("streets"), store.read("residences"), store.read("facilities")
    pad = margin_m / 100_000 * 1.2  # degrees, generously: a walk from inside may leave the box
    wide = (bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
    return store.read("streets", bbox=wide), store.read("residences", bbox=bbox), store.read("facilities", bbox=wide)


@router.post("/analyses/coverage", summary="Walking coverage of residences by facility types, for an area",
             responses=ERRORS)
def coverage(request: Request, body: CoverageRequest, user: User) -> dict:
    need_role(user, ANALYSTS, "running analyses")
    store = request.app.state.store
    bbox = _bbox(",".join(map(str, body.bbox)), _crs(None, "bbox-crs")) if body.bbox else None
    margin = max([*(body.distances or {}).values(), 1000.0])
    streets, residences, facilities = _area_layers(store, bbox, margin)
    if not _walkable(streets) or residences.empty:
        raise ApiError(400, "NoData", "no walkable streets or no residences in the area: import them or widen the "
                       "bbox")
    try:
        model = Coverage.from_geodataframes(streets, residences, facilities, types=body.types, level=body.level,
                                            distances=body.distances)
    except ValueError as exc:
        raise ApiError(400, "InvalidParameterValue", str(exc)) from None
    if not model.types:
        raise ApiError(400, "NoData", "no facility types to measure: name them in 'types' or import facilities")
    result = model.solve()
    communities = store.read("communities")
    summary = result.summary()
    per_community = result.summary(assign_zones(residences, communities, "code"), name="community") \
        if len(communities) else pd.DataFrame()
    wide = result.wide()
    return {"thresholds": {t: vars(th) for t, th in result.thresholds.items()},
            "summary": _frame_json(summary), "communities": _frame_json(per_community),
            "residences": json.loads(wide.drop(columns=["extra"], errors="ignore").to_json(drop_id=True)),
            "gaps": json.loads(result.gaps().to_json(drop_id=True)),
            "islands": len(result.islands)}


@router.get("/analyses/scorecard", summary="Community scorecard against a policy profile", responses=ERRORS)
def community_scorecard(request: Request, user: User,
                        profile: Annotated[str, Query(pattern="^[a-z0-9_]{1,32}$")] = "national") -> dict:
    need_role(user, ("planner", "bureau", "admin"), "scorecards")
    store = request.app.state.store
    try:
        prof = load_profile(profile)
    except ProfileError as exc:
        raise ApiError(400, "InvalidParameterValue", str(exc)) from None
    communities = store.read("communities")
    if communities.empty:
        raise ApiError(400, "NoData", "no communities: import them or draft them (shequ draft communities)")
    card = scorecard(communities, store.read("facilities"), prof, grids=store.read("grids"))
    return {"profile": prof.name, "lineage": list(prof.lineage), "rules": _frame_json(card.rules),
            "communities": _frame_json(card.communities)}


@router.get("/analyses/lifecircles", summary="Life-circle audit: required facilities per level", responses=ERRORS)
def lifecircle_audit(request: Request, user: User) -> dict:
    need_role(user, ANALYSTS, "running analyses")
    store = request.app.state.store
    circles = store.read("lifecircles")
    if circles.empty:
        raise ApiError(400, "NoData", "no life circles: import them or draw one (shequ lifecircle)")
    streets = store.read("streets")
    if not _walkable(streets):
        raise ApiError(400, "NoData", "no walkable streets: import them first (shequ import-osm or "
                       "shequ import streets)")
    findings, summary = audit(WalkNetwork.from_streets(streets), circles, store.read("residences"),
                              store.read("facilities"))
    return {"findings": _frame_json(findings), "circles": _frame_json(summary)}


def _area_filter(store, layer: str, area: str | None) -> dict | None:
    if not area:
        return None
    if store.count("communities", where={"code": Prefix(area)}) == 0:
        raise ApiError(400, "InvalidParameterValue", f"area {area!r}: no community has that code or prefix")
    if layer == "communities":
        return {"code": Prefix(area)}
    if layer in ("grids", "facilities", "residences"):
        return {"community_code": Prefix(area)}
    return None


@router.get("/exports/{collectionId}", summary="Download a layer: GeoJSON, GeoPackage, Shapefile (zip) or CSV, "
            "in WGS84 or CGCS2000", responses={200: {"content": {m: {} for m, _ in MEDIA.values()},
                                                    "description": "the file"}, **ERRORS})
def export(request: Request, collectionId: Collection, user: User,
           format: Annotated[str, Query(pattern="^(geojson|gpkg|shapefile|csv)$")] = "geojson",
           crs: Annotated[str, Query(pattern="^(EPSG:4326|EPSG:4490)$")] = "EPSG:4326",
           bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (CRS84)")] = None,
           area: Annotated[str | None, Query(pattern="^[0-9]{6,12}$",
                                             description="a community (12 digits) or street (9) or county (6) "
                                                         "code: its features (those in its outline for layers "
                                                         "without a community code)")] = None) -> FileResponse:
    need_role(user, READERS, "exports")
    layer = collectionId.value
    store = request.app.state.store
    box = _bbox(bbox, _crs(None, "bbox-crs"))
    frame = store.read(layer, bbox=box, where=_area_filter(store, layer, area))
    if area and layer in ("streets", "lifecircles"):
        outline = store.read("communities", where={"code": Prefix(area)})
        frame = frame[frame.intersects(outline.union_all())] if len(outline) else frame.iloc[:0]
    media, suffix = MEDIA[format]
    folder = Path(tempfile.mkdtemp(prefix="shequ-export-"))
    path = folder / f"{layer}{suffix}"
    try:
        export_frame(frame, layer, path, fmt=format, crs=crs)
    except ExportError as exc:
        raise ApiError(400, "InvalidParameterValue", str(exc)) from None
    tag = "" if crs == "EPSG:4326" else "_cgcs2000"
    return FileResponse(path, media_type=media, filename=f"{layer}{tag}{suffix}",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
