"""OGC API – Features: Part 1 (core, GeoJSON), Part 2 (CRS), Part 4 (create, replace, update, delete)
with optimistic locking by ETag, for every layer; plus each feature's history and restore.

Thin: reading is ``Store.read``, validation ``layers.validate``, writing ``layers.edits``, grid
topology ``gis.topology``; this module maps them to HTTP. Conventions follow pygeoapi and tipg
(``limit`` ≤ 10 000, ``offset`` with next/prev links, ``numberMatched``), and the Part 4 draft
(OGC 20-002): a write without ``If-Match`` gets 428, a stale one 412, and nothing changes.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from shequ.api import crs as ogc_crs
from shequ.api.auth import ApiError, User, forbidden, unauthorised
from shequ.gis.topology import GridRules, check_grids, repair_grid
from shequ.layers import edits
from shequ.layers.exporting import geojson_dict
from shequ.layers.problems import LayerValidationError
from shequ.layers.schema import LAYERS
from shequ.layers.store import Prefix, Store
from shequ.layers.users import User as UserRecord
from shequ.layers.validate import validate

Collection = Enum("Collection", {name: name for name in LAYERS}, type=str)  # type: ignore[misc]
GEOJSON = "application/geo+json"
MAX_LIMIT = 10_000
EDIT_ROLES = {"grids": ("admin", "grid_manager")}  # every other layer: admin only


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


ERRORS = {400: {"description": "bad request (parameter, CRS, body)"}, 401: {"description": "not logged in"},
          403: {"description": "not allowed for this user or area"}, 404: {"description": "no such feature"},
          409: {"description": "the feature exists already"},
          412: {"description": "If-Match does not match: someone else changed the feature"},
          422: {"description": "the feature breaks a rule; nothing was written"},
          428: {"description": "If-Match is required"}}
GEO_OK = {200: {"content": {GEOJSON: {}}, "description": "GeoJSON"}}

router = APIRouter(tags=["features 要素 (OGC API – Features)"])


# ---- reading ---------------------------------------------------------------------------------
def _store(request: Request) -> Store:
    return request.app.state.store


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _public(spec, user: UserRecord | None) -> list[str]:
    """Fields this reader may see: personal ones (a grid manager's name, phone) need a login."""
    return [f.name for f in spec.fields if user is not None or not f.personal]


def features_json(frame: gpd.GeoDataFrame, layer: str, crs: str, user: UserRecord | None) -> list[dict]:
    """GeoJSON features of a stored frame, in ``crs``, without the fields this user may not read."""
    spec = LAYERS[layer]
    if frame.empty:
        return []
    frame = frame.copy()
    frame["geometry"] = gpd.GeoSeries(ogc_crs.from_wgs84(np.asarray(frame.geometry.values), crs),
                                      index=frame.index)
    doc = geojson_dict(frame, spec)
    hidden = {f.name for f in spec.fields} - set(_public(spec, user))
    for feature, version in zip(doc["features"], frame["version"], strict=True):
        for name in hidden:
            feature["properties"].pop(name, None)
        feature["id"] = str(feature["id"])
        feature["properties"]["version"] = int(version)
    return doc["features"]


def collection_json(request: Request, layer: str) -> dict:
    spec = LAYERS[layer]
    base = _base(request)
    extent = _store(request).extent(layer)
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


@router.get("/collections/{collectionId}", summary="One collection", responses=ERRORS)
def collection(request: Request, collectionId: Collection) -> dict:
    return collection_json(request, collectionId.value)


def _bbox(text: str | None, bbox_crs: str) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", f"bbox {text!r}: four numbers, comma separated") from None
    if len(values) == 6:  # 3D bbox: the heights do not matter here
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ApiError(400, "InvalidParameterValue", f"bbox {text!r}: four numbers, minx,miny,maxx,maxy")
    box = ogc_crs.bbox_to_wgs84(tuple(values), bbox_crs)
    if box[0] > box[2] or box[1] > box[3]:
        raise ApiError(400, "InvalidParameterValue", f"bbox {text!r}: the lower corner comes first")
    return box


def _crs(value: str | None, param: str) -> str:
    try:
        return ogc_crs.parse(value, param)
    except ogc_crs.CRSError as exc:
        raise ApiError(400, "InvalidParameterValue", str(exc)) from None


RESERVED = {"limit", "offset", "bbox", "bbox-crs", "crs", "f", "datetime", "fix"}


def _filters(request: Request, layer: str, user: UserRecord | None) -> dict:
    spec = LAYERS[layer]
    out = {}
    for name, value in request.query_params.items():
        if name in RESERVED:
            continue
        if name not in spec.field_names:
            raise ApiError(400, "InvalidParameterValue", f"unknown parameter {name!r}; {layer} can be filtered by "
                           + ", ".join(_public(spec, user)))
        field = spec.field(name)
        if field.personal and user is None:
            raise unauthorised(f"filtering on {name}")
        if field.type == "int":
            try:
                value = int(value)
            except ValueError:
                raise ApiError(400, "InvalidParameterValue", f"{name} must be a whole number") from None
        elif field.type == "float":
            try:
                value = float(value)
            except ValueError:
                raise ApiError(400, "InvalidParameterValue", f"{name} must be a number") from None
        elif field.type == "bool":
            value = value.lower() in ("true", "1", "yes")
        elif value.endswith("*"):  # a prefix: community_code=510106900* is every community of that street
            value = Prefix(value[:-1])
        out[name] = value
    return out


@router.get("/collections/{collectionId}/items", response_class=GeoJSONResponse, responses={**GEO_OK, **ERRORS},
            summary="Features of a layer: limit, offset, bbox, crs, bbox-crs and property filters (field=value)")
def items(request: Request, collectionId: Collection, user: User,
          limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10, offset: Annotated[int, Query(ge=0)] = 0,
          bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs")] = None,
          bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
          crs: Annotated[str | None, Query(description="output CRS: CRS84, EPSG:4326 or EPSG:4490")] = None,
          ) -> GeoJSONResponse:
    layer = collectionId.value
    out_crs = _crs(crs, "crs")
    box = _bbox(bbox, _crs(bbox_crs, "bbox-crs"))
    where = _filters(request, layer, user)
    store = _store(request)
    matched = store.count(layer, bbox=box, where=where)
    frame = store.read(layer, bbox=box, where=where, limit=limit, offset=offset)
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


def _one(store: Store, layer: str, key: str) -> edits.Stored:
    stored = edits.get(store, layer, key)
    if stored is None:
        raise ApiError(404, "NotFound", f"no {layer} {key!r}")
    return stored


def _feature_response(request: Request, stored: edits.Stored, user: UserRecord | None, crs: str,
                      status_code: int = 200, extra: dict | None = None) -> GeoJSONResponse:
    (feature,) = features_json(stored.frame, stored.layer, crs, user)
    base = _base(request)
    feature["links"] = [
        {"rel": "self", "type": GEOJSON, "href": f"{base}/collections/{stored.layer}/items/{stored.key}"},
        {"rel": "collection", "type": "application/json", "href": f"{base}/collections/{stored.layer}"},
        {"rel": "version-history", "type": GEOJSON,
         "href": f"{base}/collections/{stored.layer}/items/{stored.key}/history"}]
    if extra:
        feature.update(extra)
    headers = {"ETag": stored.etag, "Content-Crs": f"<{crs}>"}
    if status_code == 201:
        headers["Location"] = f"{base}/collections/{stored.layer}/items/{stored.key}"
    return GeoJSONResponse(feature, status_code=status_code, headers=headers)


@router.get("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
            responses={**GEO_OK, **ERRORS}, summary="One feature, with its ETag")
def item(request: Request, collectionId: Collection, featureId: str, user: User,
         crs: Annotated[str | None, Query()] = None) -> GeoJSONResponse:
    return _feature_response(request, _one(_store(request), collectionId.value, featureId), user, _crs(crs, "crs"))


# ---- writing ---------------------------------------------------------------------------------
def _may_edit(user: UserRecord | None, layer: str, communities: list[str | None]) -> UserRecord:
    if user is None:
        raise unauthorised(f"editing {layer}")
    roles = EDIT_ROLES.get(layer, ("admin",))
    if user.role not in roles:
        raise forbidden(f"editing {layer} is for {' and '.join(roles)}; {user.name} is a {user.role}")
    if user.role == "grid_manager":
        outside = [c for c in communities if not user.may_edit_community(c)]
        if outside:
            raise forbidden(f"{user.name} looks after {', '.join(user.areas)}; community {outside[0]} is not theirs")
    return user


def _candidate(layer: str, body: dict, key: str | None, content_crs: str,
               fixes: list[str] | None = None) -> gpd.GeoDataFrame:
    """A request body (GeoJSON Feature) as a validated one-row frame, or 400/422. With ``fixes`` (a
    write with ``?fix=true``) an invalid geometry is made valid first and the list says so."""
    spec = LAYERS[layer]
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise ApiError(400, "InvalidBody", "the body must be a GeoJSON Feature")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ApiError(400, "InvalidBody", "properties must be an object")
    props = {k: v for k, v in props.items() if k != "version"}
    body_key = props.get(spec.key, body.get("id"))
    if key is not None:
        if body_key is not None and str(body_key) != key:
            raise ApiError(400, "InvalidBody", f"the body's {spec.key} {body_key!r} is not the feature {key!r} "
                           "of the URL; a key cannot be changed")
        props[spec.key] = key
    elif body_key is not None:
        props[spec.key] = body_key
    try:
        geom = shapely.from_geojson(json.dumps(body.get("geometry"))) if body.get("geometry") else None
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise ApiError(400, "InvalidBody", f"geometry is not GeoJSON: {exc}") from None
    if geom is not None:
        geom = ogc_crs.to_wgs84(np.array([geom]), content_crs)[0]
        if fixes is not None and not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
            fixes.append(f"made the geometry valid ({reason})")
            parts = shapely.get_parts(geom)
            if spec.geometry == ("Polygon",) and len(parts) > 1:  # a bow tie falls into two: keep the larger
                geom = parts[np.argmax(shapely.area(parts))]
                fixes.append(f"kept the largest of its {len(parts)} pieces")
    raw = gpd.GeoDataFrame({k: [v if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False)]
                            for k, v in props.items()}, geometry=[geom], crs=4326)
    try:
        return validate(raw, spec, source="request body")
    except LayerValidationError as exc:
        raise ApiError(422, "InvalidFeature", exc.summary(),
                       problems=[{"check": "schema", "field": p.field, "message": p.reason}
                                 for p in exc.problems]) from None


def _geojson(geom: shapely.Geometry | None) -> dict | None:
    return None if geom is None else json.loads(shapely.to_geojson(geom))


def _grid_check(store: Store, fixes: list[str] | None) -> edits.Check:
    """Inside its community and clear of its siblings, checked in the write's transaction."""
    def check(conn, candidate: gpd.GeoDataFrame, current: edits.Stored | None) -> list[dict]:
        code = str(candidate["code"].iloc[0])
        community_code = candidate["community_code"].iloc[0]
        community = store.read("communities", where={"code": community_code}, conn=conn)
        siblings = store.read("grids", where={"community_code": community_code}, conn=conn)
        siblings = siblings[siblings["code"] != code]
        if fixes is not None and not community.empty:
            geom, notes = repair_grid(candidate.geometry.iloc[0], np.asarray(siblings.geometry.values),
                                      community.geometry.iloc[0])
            if notes:
                candidate.loc[candidate.index[0], "geometry"] = geom
                fixes.extend(notes)
        if community.empty:
            return []  # the reference check says the community does not exist
        mine = pd.concat([siblings, candidate.assign(version=0)], ignore_index=True)
        findings = check_grids(mine, community, GridRules(), gaps=False)
        ours = findings[((findings["grid"] == code) | (findings["other"] == code))
                        & findings["check"].isin(["outside_community", "overlap", "invalid_geometry"])]
        return [{"check": f["check"], "other": f["other"] if f["other"] != code else f["grid"],
                 "value": f["value"], "message": f["message"], "geometry": _geojson(f["geometry"])}
                for f in ours.to_dict("records")]
    return check


def gap_warnings(store: Store, grids: list[edits.Stored]) -> list[dict]:
    """Land of the community next to the written grids that no grid covers. A write may leave one
    (shrink this grid, then grow its neighbour): it is saved, and the editor is told where."""
    if not grids:
        return []
    communities = {str(g.frame["community_code"].iloc[0]) for g in grids}
    out = []
    for code in sorted(communities):
        community = store.read("communities", where={"code": code})
        siblings = store.read("grids", where={"community_code": code})
        if community.empty or siblings.empty:
            continue
        findings = check_grids(siblings, community, GridRules(), gaps=True)
        found = findings[findings["check"] == "gap"]
        near = shapely.union_all([g.geometry for g in grids]).buffer(1e-5)  # ≈1 m: gaps that touch them
        for f in found[found.intersects(near)].to_dict("records"):
            out.append({"check": "gap", "other": code, "value": f["value"], "message": f["message"],
                        "geometry": _geojson(f["geometry"])})
    return out


def _answer(store: Store, stored: edits.Stored, fixes: list[str] | None) -> dict | None:
    """What a write's answer adds to the feature: the repairs made, gaps left (grids)."""
    extra = {} if fixes is None else {"fixes": fixes}
    if stored.layer == "grids":
        extra["warnings"] = gap_warnings(store, [stored])
    return extra or None


def _version(stored: edits.Stored, if_match: str | None) -> int:
    if if_match is None:
        raise ApiError(428, "PreconditionRequired", f"editing {stored.layer} {stored.key!r} needs If-Match with the "
                       f"ETag you read (now {stored.etag}): GET the feature first")
    tags = [t.strip() for t in if_match.split(",")]
    if "*" not in tags and stored.etag not in tags:
        raise ApiError(412, "PreconditionFailed", f"{stored.layer} {stored.key!r} was changed by someone else since "
                       f"you read it (now version {stored.version}, ETag {stored.etag}): reload it and edit again",
                       headers={"ETag": stored.etag})
    return stored.version


def _do_write(request: Request, layer: str, candidate: gpd.GeoDataFrame, user: UserRecord,
              expected: int | None, action: str, fixes: list[str] | None,
              old_community: str | None = None) -> edits.Stored:
    """Write through ``layers.edits``; ``fixes`` is None unless the caller asked for repairs."""
    store = _store(request)
    scopes = None
    check = None
    if layer == "grids":
        new_community = candidate["community_code"].iloc[0]
        scopes = [c for c in {old_community, new_community} if c]
        check = _grid_check(store, fixes)
    try:
        return edits.write(store, layer, candidate, user=user.name, expected_version=expected, action=action,
                           scopes=scopes, check=check, notes=fixes)
    except edits.EditError as exc:
        raise edit_error(exc) from None


def edit_error(exc: edits.EditError) -> ApiError:
    """A refused write as its HTTP answer; a conflict carries the current ETag."""
    if isinstance(exc, edits.EditConflict):
        return ApiError(412, "PreconditionFailed", exc.message,
                        headers={"ETag": exc.current.etag} if exc.current else None)
    code = {404: "NotFound", 409: "AlreadyExists", 422: "InvalidFeature"}.get(exc.status, "BadRequest")
    return ApiError(exc.status, code, exc.message, problems=exc.problems or None)


FixParam = Annotated[bool, Query(description="repair the geometry: make it valid, snap it to its neighbours "
                                             "within 0.5 m, clip what lies outside its community or over a "
                                             "neighbour; the answer lists what changed")]
ContentCrs = Annotated[str | None, Header(alias="Content-Crs", description="CRS of the body's geometry")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the ETag of the version you edited")]


def _content_crs(value: str | None) -> str:
    return _crs(value.strip("<> ") if value else None, "Content-Crs")


@router.post("/collections/{collectionId}/items", status_code=201, response_class=GeoJSONResponse,
             responses={201: {"content": {GEOJSON: {}}, "description": "created"}, **ERRORS},
             summary="Create a feature (OGC API – Features Part 4)")
def create(request: Request, collectionId: Collection, user: User,
           feature: Annotated[dict, Body(description="a GeoJSON Feature")], content_crs: ContentCrs = None,
           fix: FixParam = False) -> GeoJSONResponse:
    layer = collectionId.value
    props = feature.get("properties") if isinstance(feature, dict) else None
    _may_edit(user, layer, [props.get("community_code") if isinstance(props, dict) else None])
    fixes: list[str] | None = [] if fix else None
    candidate = _candidate(layer, feature, None, _content_crs(content_crs), fixes)
    stored = _do_write(request, layer, candidate, user, None, "create", fixes)
    return _feature_response(request, stored, user, ogc_crs.CRS84, 201, _answer(_store(request), stored, fixes))


def _replace(request: Request, layer: str, key: str, body: dict, user: UserRecord | None, if_match: str | None,
             content_crs: str, fix: bool, action: str) -> GeoJSONResponse:
    store = _store(request)
    current = _one(store, layer, key)
    old_community = current.frame["community_code"].iloc[0] if layer == "grids" else None
    new_props = body.get("properties") if isinstance(body, dict) else None
    new_community = new_props.get("community_code", old_community) if isinstance(new_props, dict) else old_community
    _may_edit(user, layer, [old_community, new_community] if layer == "grids" else [None])
    expected = _version(current, if_match)
    fixes: list[str] | None = [] if fix else None
    candidate = _candidate(layer, body, key, content_crs, fixes)
    stored = _do_write(request, layer, candidate, user, expected, action, fixes, old_community)
    return _feature_response(request, stored, user, ogc_crs.CRS84, 200, _answer(store, stored, fixes))


@router.put("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
            responses={**GEO_OK, **ERRORS}, summary="Replace a feature; needs If-Match (Part 4)")
def replace(request: Request, collectionId: Collection, featureId: str, user: User,
            feature: Annotated[dict, Body(description="a GeoJSON Feature")], if_match: IfMatch = None,
            content_crs: ContentCrs = None, fix: FixParam = False) -> GeoJSONResponse:
    return _replace(request, collectionId.value, featureId, feature, user, if_match, _content_crs(content_crs),
                    fix, "replace")


@router.patch("/collections/{collectionId}/items/{featureId}", response_class=GeoJSONResponse,
              responses={**GEO_OK, **ERRORS},
              summary="Update some properties or the geometry (JSON merge patch); needs If-Match (Part 4)")
def patch(request: Request, collectionId: Collection, featureId: str, user: User,
          change: Annotated[dict, Body(description="a partial GeoJSON Feature: the properties to change "
                                                   "(null removes one) and/or a new geometry")],
          if_match: IfMatch = None, content_crs: ContentCrs = None, fix: FixParam = False) -> GeoJSONResponse:
    layer = collectionId.value
    current = _one(_store(request), layer, featureId)
    (feature,) = features_json(current.frame, layer, ogc_crs.CRS84, UserRecord("", "admin"))
    if not isinstance(change, dict):
        raise ApiError(400, "InvalidBody", "the body must be a JSON object (a partial GeoJSON Feature)")
    merged = {"type": "Feature", "properties": dict(feature["properties"]), "geometry": feature["geometry"]}
    given_props = change.get("properties") or {}
    if not isinstance(given_props, dict):
        raise ApiError(400, "InvalidBody", "properties must be an object")
    for k, v in given_props.items():
        if v is None:
            merged["properties"].pop(k, None)
        else:
            merged["properties"][k] = v
    crs_in = _content_crs(content_crs)
    if change.get("geometry") is not None:
        merged["geometry"] = change["geometry"]
    elif crs_in != ogc_crs.CRS84:  # the stored geometry is CRS84 already; only a new one is in Content-Crs
        merged["geometry"] = _geojson(ogc_crs.from_wgs84(np.array([current.geometry]), crs_in)[0])
    return _replace(request, layer, featureId, merged, user, if_match, crs_in, fix, "update")


@router.delete("/collections/{collectionId}/items/{featureId}", status_code=204, responses=ERRORS,
               summary="Delete a feature; needs If-Match (Part 4); its history stays")
def remove(request: Request, collectionId: Collection, featureId: str, user: User,
           if_match: IfMatch = None) -> Response:
    layer = collectionId.value
    store = _store(request)
    current = _one(store, layer, featureId)
    community = current.frame["community_code"].iloc[0] if layer == "grids" else None
    _may_edit(user, layer, [community])
    expected = _version(current, if_match)
    try:
        edits.remove(store, layer, featureId, user=user.name, expected_version=expected,
                     scopes=[community] if community else None)
    except edits.EditError as exc:
        raise edit_error(exc) from None
    return Response(status_code=204)


# ---- history ---------------------------------------------------------------------------------
@router.get("/collections/{collectionId}/items/{featureId}/history", response_class=GeoJSONResponse,
            responses={**GEO_OK, **ERRORS}, summary="Every version of a feature: who, when, what (login needed)")
def history(request: Request, collectionId: Collection, featureId: str, user: User) -> GeoJSONResponse:
    layer = collectionId.value
    if user is None:
        raise unauthorised("the history")
    versions = edits.history(_store(request), layer, featureId)
    if not versions:
        raise ApiError(404, "NotFound", f"no history for {layer} {featureId!r}")
    base = _base(request)
    feats = [{"type": "Feature", "id": f"{featureId}@{v['version']}",
              "properties": {**(v["properties"].get("extra") or {}),
                             **{k: val for k, val in v["properties"].items() if k != "extra"},
                             "version": v["version"], "previous_version": v["previous_version"],
                             "action": v["action"], "user": v["user"], "at": v["at"], "note": v["note"]},
              "geometry": _geojson(v["geometry"]),
              "links": [{"rel": "restore", "method": "POST",
                         "href": f"{base}/collections/{layer}/items/{featureId}/history/{v['version']}/restore"}]}
             for v in versions]
    return GeoJSONResponse({"type": "FeatureCollection", "features": feats, "numberReturned": len(feats)})


@router.post("/collections/{collectionId}/items/{featureId}/history/{version}/restore",
             response_class=GeoJSONResponse, responses={**GEO_OK, **ERRORS},
             summary="Restore a version (a recorded write); If-Match needed while the feature exists")
def restore(request: Request, collectionId: Collection, featureId: str, version: int, user: User,
            if_match: IfMatch = None) -> GeoJSONResponse:
    layer = collectionId.value
    store = _store(request)
    versions = {v["version"]: v for v in edits.history(store, layer, featureId)}
    if version not in versions or versions[version]["action"] == "delete":
        raise ApiError(404, "NotFound", f"{layer} {featureId!r} has no version {version} to restore")
    old = versions[version]
    props = {k: v for k, v in old["properties"].items() if k != "extra"} | (old["properties"].get("extra") or {})
    body = {"type": "Feature", "properties": props, "geometry": _geojson(old["geometry"])}
    current = edits.get(store, layer, featureId)
    if current is None:
        _may_edit(user, layer, [props.get("community_code")] if layer == "grids" else [None])
        candidate = _candidate(layer, body, featureId, ogc_crs.CRS84)
        stored = _do_write(request, layer, candidate, user, None, "restore", None)
        return _feature_response(request, stored, user, ogc_crs.CRS84)
    return _replace(request, layer, featureId, body, user, if_match, ogc_crs.CRS84, False, "restore")
