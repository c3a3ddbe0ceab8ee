"""Splitting and merging grids: several writes that must happen together or not at all.

A split along a drawn line keeps the larger piece under the grid's code and gives the other a new
code (community code + the next free 3-digit sequence, never one used before, so histories never
mix); households and population are divided by area and the answer says so. A merge folds a
neighbouring grid of the same community into this one (it is deleted, its history kept). Both take
If-Match for every grid they change and run the same checks as any edit, in one transaction.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, Field
from shapely.ops import split as split_polygon
from sqlalchemy import select

from shequ.api.auth import ApiError, User
from shequ.api.crs import CRS84
from shequ.api.features import (
    ERRORS,
    GEOJSON,
    GeoJSONResponse,
    IfMatch,
    _candidate,
    _grid_check,
    _may_edit,
    _one,
    _store,
    _version,
    edit_error,
    features_json,
    gap_warnings,
)
from shequ.gis.boundaries import round_keeping_total
from shequ.layers import edits
from shequ.layers.history import HISTORY
from shequ.layers.store import Store
from shequ.layers.users import User as UserRecord

router = APIRouter(tags=["features 要素 (OGC API – Features)"])


class SplitBody(BaseModel):
    line: dict[str, Any] = Field(description="a GeoJSON LineString (CRS84) crossing the grid from edge to edge")
    name: str | None = Field(None, description="name of the new grid (default: the old name + ' 2')")


class MergeBody(BaseModel):
    other: str = Field(description="code of the neighbouring grid to fold into this one")
    other_etag: str = Field(description="the ETag of the other grid, as you read it")


def _props(stored: edits.Stored) -> dict:
    # every field, personal ones too: the writes below keep them as they are
    (feature,) = features_json(stored.frame, "grids", CRS84, UserRecord("", "admin"))
    return {k: v for k, v in feature["properties"].items() if k != "version"}


def _next_code(store: Store, conn, community: str) -> str:
    """Community code + the next 3-digit sequence not used now nor ever before."""
    used = set(store.read("grids", where={"community_code": community}, conn=conn)["code"])
    used |= set(conn.execute(select(HISTORY.c.key).where(HISTORY.c.layer == "grids",
                                                         HISTORY.c.key.startswith(community))).scalars())
    seqs = [int(c[len(community):]) for c in used if c.startswith(community) and c[len(community):].isdigit()]
    return f"{community}{max(seqs, default=0) + 1:03d}"


def _divide(total: object, shares: np.ndarray) -> list[int | None]:
    if total is None:
        return [None] * len(shares)
    return round_keeping_total(np.asarray(shares) * float(total)).tolist()


def _collection(request: Request, stored: list[edits.Stored], user, extra: dict) -> GeoJSONResponse:
    feats = []
    for s in stored:
        (f,) = features_json(s.frame, "grids", CRS84, user)
        f["properties"]["etag"] = s.etag
        feats.append(f)
    return GeoJSONResponse({"type": "FeatureCollection", "features": feats,
                            "warnings": gap_warnings(_store(request), stored), **extra})


@router.post("/collections/grids/items/{featureId}/split", response_class=GeoJSONResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "the two grids"}, **ERRORS},
             summary="Split a grid along a line; needs If-Match; the larger piece keeps the code")
def split(request: Request, featureId: str, body: Annotated[SplitBody, Body()], user: User,
          if_match: IfMatch = None) -> GeoJSONResponse:
    store = _store(request)
    current = _one(store, "grids", featureId)
    community = str(current.frame["community_code"].iloc[0])
    _may_edit(user, "grids", [community])
    expected = _version(current, if_match)
    try:
        line = shapely.from_geojson(json.dumps(body.line))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise ApiError(400, "InvalidBody", f"line is not GeoJSON: {exc}") from None
    if line.geom_type not in ("LineString", "MultiLineString"):
        raise ApiError(400, "InvalidBody", f"line must be a LineString, not a {line.geom_type}")
    pieces = [p for p in shapely.get_parts(split_polygon(current.geometry, line)) if p.area > 0]
    if len(pieces) != 2:
        raise ApiError(422, "InvalidFeature", f"the line cuts grid {featureId} into {len(pieces)} piece(s); draw it "
                       "across the grid from one edge to the other, once", problems=[
                           {"check": "split", "message": "the line must cross the grid exactly once",
                            "geometry": json.loads(shapely.to_geojson(line))}])
    pieces.sort(key=lambda p: -p.area)
    shares = np.array([p.area for p in pieces]) / sum(p.area for p in pieces)
    props = _props(current)
    households, population = _divide(props.get("households"), shares), _divide(props.get("population"), shares)
    fixes = [f"households and population divided by area ({shares[0]:.0%} / {shares[1]:.0%}): check them"]
    check = _grid_check(store, None)
    try:
        with store.engine.begin() as conn:
            new_code = _next_code(store, conn, community)
            bodies = [(featureId, {**props, "households": households[0], "population": population[0]}, expected),
                      (new_code, {**props, "code": new_code, "name": body.name or f"{props.get('name')} 2",
                                  "households": households[1], "population": population[1]}, None)]
            written = []
            for (key, p, version), piece in zip(bodies, pieces, strict=True):
                feature = {"type": "Feature", "properties": {k: v for k, v in p.items() if v is not None},
                           "geometry": json.loads(shapely.to_geojson(piece))}
                candidate = _candidate("grids", feature, key, CRS84)
                written.append(edits.write(store, "grids", candidate, user=user.name, expected_version=version,
                                           action="split", scopes=[community], check=check, notes=fixes, conn=conn))
    except edits.EditError as exc:
        raise edit_error(exc) from None
    return _collection(request, written, user, {"fixes": fixes})


@router.post("/collections/grids/items/{featureId}/merge", response_class=GeoJSONResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "the merged grid"}, **ERRORS},
             summary="Merge a neighbouring grid into this one; If-Match for this one, other_etag for the other")
def merge(request: Request, featureId: str, body: Annotated[MergeBody, Body()], user: User,
          if_match: IfMatch = None) -> GeoJSONResponse:
    store = _store(request)
    mine, other = _one(store, "grids", featureId), _one(store, "grids", body.other)
    community = str(mine.frame["community_code"].iloc[0])
    _may_edit(user, "grids", [community, str(other.frame["community_code"].iloc[0])])
    expected = _version(mine, if_match)
    other_expected = _version(other, body.other_etag)
    if featureId == body.other:
        raise ApiError(400, "InvalidBody", "a grid cannot be merged with itself")
    if str(other.frame["community_code"].iloc[0]) != community:
        raise ApiError(422, "InvalidFeature", f"grids {featureId} and {body.other} are in different communities")
    union = shapely.union(mine.geometry, other.geometry)
    if union.geom_type != "Polygon":
        raise ApiError(422, "InvalidFeature", f"grids {featureId} and {body.other} do not share a boundary",
                       problems=[{"check": "not_adjacent", "other": body.other,
                                  "message": "only neighbouring grids can be merged"}])
    a, b = _props(mine), _props(other)
    props = {**a, **{k: (a.get(k) or 0) + (b.get(k) or 0) for k in ("households", "population")
                     if a.get(k) is not None or b.get(k) is not None}}
    feature = {"type": "Feature", "properties": {k: v for k, v in props.items() if v is not None},
               "geometry": json.loads(shapely.to_geojson(union))}
    candidate = _candidate("grids", feature, featureId, CRS84)
    try:
        with store.engine.begin() as conn:
            edits.remove(store, "grids", body.other, user=user.name, expected_version=other_expected,
                         scopes=[community], conn=conn, note=f"merged into {featureId}")
            stored = edits.write(store, "grids", candidate, user=user.name, expected_version=expected,
                                 action="merge", scopes=[community], check=_grid_check(store, None),
                                 notes=[f"merged with {body.other}"], conn=conn)
    except edits.EditError as exc:
        raise edit_error(exc) from None
    return _collection(request, [stored], user, {"removed": body.other})
