"""OGC API – Features: Part 1 (core, GeoJSON), Part 2 (CRS), Part 4 (create, replace, update, delete)
with optimistic locking by ETag, for every layer; plus each feature's history, what a restore would
change and restore; and for grids splitting, merging, reshaping (a boundary moved once, the neighbours
follow), absorbing a gap and a community's gaps and overlaps.

A door: reading is ``Store.read``; every write is one call of ``shequ.usecases.editing`` (roles,
version, the layer's rules, the write and its history, in one transaction). Conventions follow pygeoapi
and tipg (``limit`` ≤ 10 000, ``offset`` with next/prev links, ``numberMatched``), and Part 4
(OGC 20-002): a write without ``If-Match`` gets 428, a stale one 412, and nothing changes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import BaseModel, Field

from shequ.api import crs as ogc_crs
from shequ.api.auth import User, workspace
from shequ.api.errors import RESPONSES
from shequ.api.ogc import (
    GEO_OK,
    GEOJSON,
    Collection,
    GeoJSONResponse,
    features_json,
    parse_bbox,
    parse_crs,
    public_fields,
    to_crs84,
)
from shequ.errors import InvalidInput
from shequ.layers.edits import Stored
from shequ.layers.schema import LAYERS
from shequ.layers.store import Prefix
from shequ.layers.users import User as UserRecord
from shequ.usecases import editing
from shequ.usecases.access import Action, require
from shequ.usecases.editing import EditOutcome

router = APIRouter(tags=["features 要素 (OGC API – Features)"])


#: the largest limit or offset a client may send: both databases count rows in 64-bit integers, and a larger
#: number must be a clear 400, never an overflow inside the database
MAX_QUERY_INT = 10**12


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# ---- reading ---------------------------------------------------------------------------------
def collection_json(request: Request, layer: str) -> dict:
    spec = LAYERS[layer]
    base = _base(request)
    extent = workspace(request).store.extent(layer)
    return {
        "id": layer, "title": f"{spec.en} ({spec.zh})", "description": spec.description, "itemType": "feature",
        "crs": list(ogc_crs.SUPPORTED), "storageCrs": ogc_crs.CRS84,
        "extent": {"spatial": {"bbox": [extent] if extent else [[73.0, 3.5, 135.5, 54.0]],
                               "crs": ogc_crs.CRS84}},
        "links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections/{layer}"},
                  {"rel": "items", "type": GEOJSON, "href": f"{base}/collections/{layer}/items",
                   "title": "features"}],
    }


@router.get("/collections", summary="The layers as OGC API collections")
def collections(request: Request) -> dict:
    base = _base(request)
    return {"links": [{"rel": "self", "type": "application/json", "href": f"{base}/collections"}],
            "collections": [collection_json(request, name) for name in LAYERS]}


@router.get("/collections/grids/problems", responses=RESPONSES,
            summary="A community's gaps (land in no grid, with the grids around each, longest shared boundary "
                    "first) and overlaps (land in two grids)")
def grid_problems(request: Request, community_code: Annotated[str, Query(description="the community")]) -> dict:
    found = editing.problems(workspace(request), community_code)
    return {"community_code": community_code,
            "gaps": [{"id": f"gap-{k}", "geometry": _geojson(g["geometry"]), "area_m2": round(g["area_m2"], 2),
                      "neighbours": g["neighbours"]} for k, g in enumerate(found.gaps, start=1)],
            "overlaps": [{"id": f"overlap-{k}", "geometry": _geojson(o["geometry"]), "area_m2": round(o["area_m2"], 2),
                          "grids": o["grids"]} for k, o in enumerate(found.overlaps, start=1)]}


@router.get("/collections/{collectionId}", summary="One collection", responses=RESPONSES)
def collection(request: Request, collectionId: Collection) -> dict:
    return collection_json(request, collectionId.value)


RESERVED = {"limit", "offset", "bbox", "bbox-crs", "crs", "f", "datetime", "fix"}


def _filters(request: Request, layer: str, user: UserRecord | None) -> dict:
    spec = LAYERS[layer]
    out = {}
    for name, value in request.query_params.items():
        if name in RESERVED:
            continue
        if name not in spec.field_names:
            raise InvalidInput(f"unknown parameter {name!r}; {layer} can be filtered by "
                               + ", ".join(public_fields(layer, user)),
                               zh=f"未知的参数 {name!r}：{LAYERS[layer].zh}可按这些字段筛选："
                                  + "、".join(public_fields(layer, user)))
        field = spec.field(name)
        if field.personal:
            require(user, Action.READ_PERSONAL, workspace(request).settings)
        if field.type == "int":
            try:
                value = int(value)
            except ValueError:
                raise InvalidInput(f"{name} must be a whole number",
                                   zh=f"{name} 应为整数") from None
        elif field.type == "float":
            try:
                value = float(value)
            except ValueError:
                raise InvalidInput(f"{name} must be a number",
                                   zh=f"{name} 应为数字") from None
        elif field.type == "bool":
            value = value.lower() in ("true", "1", "yes")
        elif value.endswith("*"):  # a prefix: community_code=510106900* is every community of that street
            value = Prefix(value[:-1])
        out[name] = value
    return out


@router.get("/collections/{collectionId}/items", response_class=GeoJSONResponse,
            responses={**GEO_OK, **RESPONSES},
            summary="Features of a layer: limit, offset, bbox, crs, bbox-crs and property filters (field=value)")
def items(request: Request, collectionId: Collection, user: User,
          limit: Annotated[int, Query(ge=1, le=MAX_QUERY_INT, description="page size; above the server's maximum "
                                      "the maximum is used (OGC API – Features Part 1, 7.15.3)")] = 10,
          offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT)] = 0,
          bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
          bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
          crs: Annotated[str | None, Query(description="output CRS: CRS84, EPSG:4326 or EPSG:4490")] = None,
          ) -> GeoJSONResponse:
    layer = collectionId.value
    ws = workspace(request)
    limit = min(limit, ws.settings.max_page_items)  # clamped, as the standard asks, not refused
    out_crs = parse_crs(crs, "crs")
    box = parse_bbox(bbox, parse_crs(bbox_crs, "bbox-crs"))
    where = _filters(request, layer, user)
    matched = ws.store.count(layer, bbox=box, where=where)
    frame = ws.store.read(layer, bbox=box, where=where, limit=limit, offset=offset)
    feats = features_json(frame, layer, out_crs, user)
    url = request.url
    links = [{"rel": "self", "type": GEOJSON, "href": str(url)},
             {"rel": "collection", "type": "application/json", "href": f"{_base(request)}/collections/{layer}"}]
    if offset + limit < matched:
        links.append({"rel": "next", "type": GEOJSON, "href": str(url.include_query_params(offset=offset + limit))})
    if offset > 0:
        links.append({"rel": "prev", "type": GEOJSON,
                      "href": str(url.include_query_params(offset=max(offset - limit, 0)))})
    body = {"type": "FeatureCollection", "features": feats, "numberMatched": matched, "numberReturned": len(feats),
            "links": links}
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{out_crs}>"})


def feature_json(request: Request, stored: Stored, user: UserRecord | None, crs: str) -> dict:
    (feature,) = features_json(stored.frame, stored.layer, crs, user)
    base = _base(request)
    feature["links"] = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}/collections/{stored.layer}/items/{stored.key}"},
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{stored.layer}"},
        {"rel": "version-history", "type": GEOJSON,
         "href": f"{base}/collections/{stored.layer}/items/{stored.key}/history"}]
    return feature


def _feature_response(request: Request, stored: Stored, user: UserRecord | None, crs: str,
                      status_code: int = 200, extra: dict | None = None) -> GeoJSONResponse:
    feature = feature_json(request, stored, user, crs)
    if extra:
        feature.update(extra)
    headers = {"ETag": stored.etag, "Content-Crs": f"<{crs}>"}
    if status_code == 201:
        headers["Location"] = f"{_base(request)}/collections/{stored.layer}/items/{stored.key}"
    return GeoJSONResponse(feature, status_code=status_code, headers=headers)


@router.get("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
            responses={**GEO_OK, **RESPONSES}, summary="One feature, with its ETag")
def item(request: Request, collectionId: Collection, featureId: str, user: User,
         crs: Annotated[str | None, Query()] = None) -> GeoJSONResponse:
    stored = editing.read(workspace(request), collectionId.value, featureId)
    return _feature_response(request, stored, user, parse_crs(crs, "crs"))


# ---- writing ---------------------------------------------------------------------------------
FixParam = Annotated[bool, Query(description="repair the geometry: make it valid, snap it to its neighbours "
                                             "within 0.5 m, clip what lies outside its community or over a "
                                             "neighbour; the answer lists what changed")]
ContentCrs = Annotated[str | None, Header(alias="Content-Crs", description="CRS of the body's geometry")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the ETag of the version you edited")]


def _content_crs(value: str | None) -> str:
    return parse_crs(value.strip("<> ") if value else None, "Content-Crs")


def _extra(outcome: EditOutcome) -> dict | None:
    """What a write's answer adds to the feature: the repairs made, gaps left (grids)."""
    extra: dict[str, Any] = {} if outcome.fixes is None else {"fixes": outcome.fixes}
    if outcome.fixes_zh is not None:
        extra["fixes_zh"] = outcome.fixes_zh
    if LAYERS[outcome.feature.layer].edit.topology:
        extra["warnings"] = outcome.warnings
    return extra or None


@router.post("/collections/{collectionId}/items", status_code=201, response_class=GeoJSONResponse,
             responses={201: {"content": {GEOJSON: {}}, "description": "created"}, **RESPONSES},
             summary="Create a feature (OGC API – Features Part 4)")
def create(request: Request, collectionId: Collection, user: User,
           feature: Annotated[dict, Body(description="a GeoJSON Feature")], content_crs: ContentCrs = None,
           fix: FixParam = False) -> GeoJSONResponse:
    crs = _content_crs(content_crs)
    done = editing.create(workspace(request), collectionId.value, to_crs84(feature, crs), user=user, fix=fix)
    return _feature_response(request, done.feature, user, ogc_crs.CRS84, 201, _extra(done))


@router.put("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
            responses={**GEO_OK, **RESPONSES}, summary="Replace a feature; needs If-Match (Part 4)")
def replace(request: Request, collectionId: Collection, featureId: str, user: User,
            feature: Annotated[dict, Body(description="a GeoJSON Feature")], if_match: IfMatch = None,
            content_crs: ContentCrs = None, fix: FixParam = False) -> GeoJSONResponse:
    crs = _content_crs(content_crs)
    done = editing.replace(workspace(request), collectionId.value, featureId, to_crs84(feature, crs), user=user,
                           if_match=if_match, fix=fix)
    return _feature_response(request, done.feature, user, ogc_crs.CRS84, 200, _extra(done))


@router.patch("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
              responses={**GEO_OK, **RESPONSES},
              summary="Update some properties or the geometry (JSON merge patch); needs If-Match (Part 4)")
def patch(request: Request, collectionId: Collection, featureId: str, user: User,
          change: Annotated[dict, Body(description="a partial GeoJSON Feature: the properties to change "
                                                   "(null removes one) and/or a new geometry")],
          if_match: IfMatch = None, content_crs: ContentCrs = None, fix: FixParam = False) -> GeoJSONResponse:
    crs = _content_crs(content_crs)
    done = editing.update(workspace(request), collectionId.value, featureId, to_crs84(change, crs), user=user,
                          if_match=if_match, fix=fix)
    return _feature_response(request, done.feature, user, ogc_crs.CRS84, 200, _extra(done))


@router.delete("/collections/{collectionId}/items/{featureId}", status_code=204, responses=RESPONSES,
               summary="Delete a feature; needs If-Match (Part 4); its history stays")
def remove(request: Request, collectionId: Collection, featureId: str, user: User,
           if_match: IfMatch = None) -> Response:
    editing.delete(workspace(request), collectionId.value, featureId, user=user, if_match=if_match)
    return Response(status_code=204)


# ---- history ---------------------------------------------------------------------------------
def _geojson(geom: shapely.Geometry | None) -> dict | None:
    return None if geom is None else json.loads(shapely.to_geojson(geom))


@router.get("/collections/{collectionId}/items/{featureId}/history", response_class=GeoJSONResponse,
            responses={**GEO_OK, **RESPONSES}, summary="Every version of a feature: who, when, what (login needed)")
def history(request: Request, collectionId: Collection, featureId: str, user: User) -> GeoJSONResponse:
    layer = collectionId.value
    versions = editing.history(workspace(request), layer, featureId, user=user)
    base = _base(request)
    feats = [{"type": "Feature", "id": f"{featureId}@{v['version']}",
              "properties": {**(v["properties"].get("extra") or {}),
                             **{k: val for k, val in v["properties"].items() if k != "extra"},
                             "version": v["version"], "previous_version": v["previous_version"],
                             "action": v["action"], "user": v["user"], "at": v["at"], "note": v["note"]},
              "geometry": _geojson(v["geometry"]),
              "links": [{"rel": "restore", "method": "POST",
                         "href": f"{base}/collections/{layer}/items/{featureId}/history/{v['version']}/restore"},
                        {"rel": "diff", "type": "application/json",
                         "href": f"{base}/collections/{layer}/items/{featureId}/history/{v['version']}/diff"}]}
             for v in versions]
    return GeoJSONResponse({"type": "FeatureCollection", "features": feats, "numberReturned": len(feats)})


class RestoreBody(BaseModel):
    fields: list[str] | None = Field(None, description="attributes to restore too (e.g. manager_phone); without "
                                                       "them only the geometry comes back")


@router.post("/collections/{collectionId}/items/{featureId}/history/{version}/restore",
             response_class=GeoJSONResponse, responses={**GEO_OK, **RESPONSES},
             summary="Restore a version (a recorded write); If-Match needed while the feature exists")
def restore(request: Request, collectionId: Collection, featureId: str, version: int, user: User,
            body: Annotated[RestoreBody | None, Body()] = None, if_match: IfMatch = None) -> GeoJSONResponse:
    done = editing.restore(workspace(request), collectionId.value, featureId, version, user=user, if_match=if_match,
                           fields=body.fields if body else None)
    return _feature_response(request, done.feature, user, ogc_crs.CRS84, 200, _extra(done))


@router.get("/collections/{collectionId}/items/{featureId}/history/{version}/diff", responses=RESPONSES,
            summary="What restoring a version would change: the land (m²) and each attribute, then and now, "
                    "and whether someone changed it since (login needed)")
def restore_diff(request: Request, collectionId: Collection, featureId: str, version: int, user: User) -> dict:
    return editing.diff(workspace(request), collectionId.value, featureId, version, user=user)


# ---- grids: split and merge --------------------------------------------------------------------
class SplitBody(BaseModel):
    line: dict[str, Any] = Field(description="a GeoJSON LineString (CRS84) crossing the grid from edge to edge")
    name: str | None = Field(None, description="name of the new grid (default: the old name + ' 2')")


class MergeBody(BaseModel):
    other: str = Field(description="code of the neighbouring grid to fold into this one")
    other_etag: str = Field(description="the ETag of the other grid, as you read it")


def _grids(request: Request, outcome: EditOutcome, user: UserRecord | None, extra: dict) -> GeoJSONResponse:
    feats = []
    for s in outcome.stored:
        (f,) = features_json(s.frame, "grids", ogc_crs.CRS84, user)
        f["properties"]["etag"] = s.etag
        feats.append(f)
    return GeoJSONResponse({"type": "FeatureCollection", "features": feats, "warnings": outcome.warnings, **extra})


@router.post("/collections/grids/items/{featureId}/split", response_class=GeoJSONResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "the two grids"}, **RESPONSES},
             summary="Split a grid along a line; needs If-Match; the larger piece keeps the code")
def split(request: Request, featureId: str, body: Annotated[SplitBody, Body()], user: User,
          if_match: IfMatch = None) -> GeoJSONResponse:
    done = editing.split(workspace(request), featureId, body.line, name=body.name, user=user, if_match=if_match)
    return _grids(request, done, user, {"fixes": done.fixes})


@router.post("/collections/grids/items/{featureId}/merge", response_class=GeoJSONResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "the merged grid"}, **RESPONSES},
             summary="Merge a neighbouring grid into this one; If-Match for this one, other_etag for the other")
def merge(request: Request, featureId: str, body: Annotated[MergeBody, Body()], user: User,
          if_match: IfMatch = None) -> GeoJSONResponse:
    done = editing.merge(workspace(request), featureId, body.other, user=user, if_match=if_match,
                         other_etag=body.other_etag)
    return _grids(request, done, user, {"removed": done.removed})


# ---- grids: reshape and absorb --------------------------------------------------------------------
class ReshapeBody(BaseModel):
    geometry: Any = Field(description="the new boundary of this grid: a GeoJSON Polygon or MultiPolygon (CRS84)")
    etags: dict[str, str] | None = Field(None, description="the neighbours' ETags as you read them (grid code → "
                                                           "ETag): a stale one refuses the reshape")


class AbsorbBody(BaseModel):
    geometry: Any = Field(description="a gap (GeoJSON Polygon, CRS84), as /collections/grids/problems gives it")


@router.post("/collections/grids/items/{featureId}/reshape", response_class=GeoJSONResponse,
             responses={200: {"content": {GEOJSON: {}}, "description": "every grid that changed"}, **RESPONSES},
             summary="Move this grid's boundary; the neighbours follow in the same transaction; needs If-Match")
def reshape(request: Request, featureId: str, body: Annotated[ReshapeBody, Body()], user: User,
            if_match: IfMatch = None) -> GeoJSONResponse:
    done = editing.reshape(workspace(request), featureId, body.geometry, etags=body.etags, user=user,
                           if_match=if_match)
    return _grids(request, done, user, {"etags": {s.key: s.etag for s in done.stored}, "fixes": done.fixes,
                                        "fixes_zh": done.fixes_zh})


@router.post("/collections/grids/items/{featureId}/absorb", response_class=GeoJSONResponse,
             responses={**GEO_OK, **RESPONSES},
             summary="Give a gap to this grid (the part in its community and in no grid); needs If-Match")
def absorb(request: Request, featureId: str, body: Annotated[AbsorbBody, Body()], user: User,
           if_match: IfMatch = None) -> GeoJSONResponse:
    done = editing.absorb(workspace(request), featureId, body.geometry, user=user, if_match=if_match)
    return _feature_response(request, done.feature, user, ogc_crs.CRS84, 200, _extra(done))
