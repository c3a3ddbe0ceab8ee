"""Editing features: create, replace, update, delete, restore, and for grids split, merge, reshape
(a boundary moved once, every grid it touches follows) and absorb (a gap given to a grid); what a
restore would change (diff) and a community's gaps and overlaps (problems).

Each edit is one application call in one transaction: the feature is read once, the editor's right
and version are checked, the lock of its area is taken, its neighbourhood (the parent community and
the sibling grids) is read once, the layer's own rules are checked once against it — the same check
gives the refusals (an overlap, a part outside the community) and the warnings (land left in no
grid) — and the write and its history row follow. Which roles may edit a layer and what its features
must keep to are the layer's rules (``layers.schema.EditRules``), not a route's. Whenever a grid's land
changes (create, a new geometry, split, merge, restore, reshape, absorb) its households and population
are counted again from the residences, in the same transaction, by the rule the grid drafts use.

Geometry arrives in WGS84 (CRS84, longitude first); a door that accepts other CRSs converts first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import split as split_polygon

from shequ.errors import (
    AlreadyExists,
    Conflict,
    InvalidBody,
    InvalidFeature,
    NotFound,
    PreconditionRequired,
)
from shequ.gis import reshape as reshaping
from shequ.gis.boundaries import grid_people, round_keeping_total
from shequ.gis.crs import metric_crs
from shequ.gis.topology import GridRules, check_grids, repair_grid
from shequ.layers import edits
from shequ.layers.edits import Stored
from shequ.layers.problems import LayerValidationError
from shequ.layers.schema import LAYERS, Layer
from shequ.layers.store import Store
from shequ.layers.users import User
from shequ.layers.validate import validate
from shequ.logs import timed
from shequ.usecases.access import Action, require, require_edit
from shequ.usecases.workspace import Workspace

#: the note of a grid write whose households and population were counted again
COUNTED = "households and population counted from the residences"
COUNTED_ZH = "户数和人口已按居住单元重新统计"
#: the checks that refuse a write; a gap is only reported
REFUSING = ("outside_community", "overlap", "invalid_geometry")


@dataclass
class EditOutcome:
    """What was written (one feature, or two for a split), what a repair changed, what it left."""

    stored: list[Stored]
    fixes: list[str] | None = None  # None unless a repair was asked for
    warnings: list[dict] = field(default_factory=list)  # e.g. land of the community left in no grid
    removed: str | None = None  # a merge's folded grid
    fixes_zh: list[str] | None = None  # the same notes in Chinese, where a use case has them (reshape, absorb)

    @property
    def feature(self) -> Stored:
        return self.stored[0]


# ---- reading ------------------------------------------------------------------------------------
def read(ws: Workspace, layer: str, key: str) -> Stored:
    stored = edits.get(ws.store, layer, key)
    if stored is None:
        raise NotFound(f"no {layer} {key!r}", zh=f"没有这个{_zh(layer)}：{key}")
    return stored


def history(ws: Workspace, layer: str, key: str, *, user: User | None) -> list[dict]:
    """Every version of a feature, oldest first (also after a delete)."""
    require(user, Action.HISTORY, ws.settings)
    versions = edits.history(ws.store, layer, key)
    if not versions:
        raise NotFound(f"no history for {layer} {key!r}", zh=f"{_zh(layer)} {key} 没有修改历史")
    return versions


def properties(stored: Stored) -> dict[str, Any]:
    """Every field of a stored feature (personal ones too) and its extra attributes, as plain values."""
    row = stored.frame.iloc[0]
    out = {}
    for name in LAYERS[stored.layer].field_names:
        value = row.get(name)
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            continue
        out[name] = value.item() if isinstance(value, np.generic) else value
    extra = row.get("extra")
    return {**(extra if isinstance(extra, dict) else {}), **out}


# ---- the checks ---------------------------------------------------------------------------------
def check_version(current: Stored, if_match: str | None) -> int:
    """The version the editor read, from If-Match; a stale or missing one refuses the edit."""
    if if_match is None:
        raise PreconditionRequired(f"editing {current.layer} {current.key!r} needs If-Match with the ETag you read "
                                   f"(now {current.etag}): GET the feature first",
                                   zh=f"编辑{_zh(current.layer)} {current.key} 需要所读版本的标记（If-Match）："
                                      "请先重新读取")
    tags = [t.strip() for t in if_match.split(",")]
    if "*" not in tags and current.etag not in tags:
        raise Conflict(f"{current.layer} {current.key!r} was changed by someone else since you read it (now version "
                       f"{current.version}, ETag {current.etag}): reload it and edit again", etag=current.etag,
                       zh=f"{_zh(current.layer)} {current.key} 在您读取后已被他人修改（现为第 {current.version} 版）："
                          "请重新加载后再编辑")
    return current.version


def candidate(layer: str, feature: Any, key: str | None, fixes: list[str] | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON Feature (CRS84) as a validated one-row frame. With ``fixes`` (a repair was asked for)
    an invalid geometry is made valid first and the list says so."""
    spec = LAYERS[layer]
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidBody("the body must be a GeoJSON Feature", zh="请求内容应为 GeoJSON 要素（Feature）")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidBody("properties must be an object", zh="properties（属性）应为对象")
    props = {k: v for k, v in props.items() if k not in ("version", "etag")}
    body_key = props.get(spec.key, feature.get("id"))
    if key is not None:
        if body_key is not None and str(body_key) != key:
            raise InvalidBody(f"the body's {spec.key} {body_key!r} is not the feature {key!r} of the URL; a key "
                              "cannot be changed",
                              zh=f"请求中的 {spec.key} {body_key!r} 与地址中的 {key!r} 不符：编码不能修改")
        props[spec.key] = key
    elif body_key is not None:
        props[spec.key] = body_key
    geom = geometry(feature.get("geometry")) if feature.get("geometry") else None
    if geom is not None and fixes is not None and not shapely.is_valid(geom):
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
        raise InvalidFeature(exc.summary(), zh=exc.summary_zh(),
                             problems=[{"check": "schema", "field": p.field, "message": p.reason,
                                        "message_zh": p.reason_zh or p.reason} for p in exc.problems]) from None


def geometry(value: Any) -> shapely.Geometry:
    try:
        return shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InvalidBody(f"geometry is not GeoJSON: {exc}", zh=f"几何图形不是有效的 GeoJSON：{exc}") from None


def _zh(layer: str) -> str:
    """A layer's Chinese name for messages (网格, 社区 …)."""
    return LAYERS[layer].zh if layer in LAYERS else layer


def _geojson(geom: shapely.Geometry | None) -> dict | None:
    return None if geom is None else json.loads(shapely.to_geojson(geom))


def _area(spec: Layer, frame: gpd.GeoDataFrame | None) -> str | None:
    if frame is None or spec.edit.area_field is None:
        return None
    value = frame[spec.edit.area_field].iloc[0]
    return None if value is None or value is pd.NA else str(value)


def _neighbourhood(store: Store, conn, spec: Layer, written: list[gpd.GeoDataFrame], gone: set[str],
                   fixes: list[str] | None) -> tuple[list[dict], list[dict]]:
    """The layer's topology for the features being written, against their area as it is now (read once,
    under the lock): (refusals, warnings). With ``fixes`` the candidates are repaired first."""
    if spec.edit.topology != "tiles_parent" or not written:
        return [], []
    parent_layer = spec.field(spec.edit.area_field).references
    refusals: list[dict] = []
    warnings: list[dict] = []
    keys = {str(c[spec.key].iloc[0]) for c in written}
    for code in sorted({_area(spec, c) for c in written} - {None}):
        parent = store.read(parent_layer, where={LAYERS[parent_layer].key: code}, conn=conn)
        if parent.empty:
            continue  # the reference check says the community does not exist
        siblings = store.read(spec.name, where={spec.edit.area_field: code}, conn=conn)
        siblings = siblings[~siblings[spec.key].isin(keys | gone)]
        mine = [c for c in written if _area(spec, c) == code]
        if fixes is not None:
            for k, c in enumerate(mine):
                others = [o.geometry.iloc[0] for j, o in enumerate(mine) if j != k]
                geom, notes = repair_grid(c.geometry.iloc[0], np.r_[np.asarray(siblings.geometry.values),
                                                                     np.array(others, dtype=object)],
                                          parent.geometry.iloc[0])
                if notes:
                    c.loc[c.index[0], "geometry"] = geom
                    fixes.extend(notes)
        together = pd.concat([siblings, *(c.assign(version=0) for c in mine)], ignore_index=True)
        findings = check_grids(together, parent, GridRules(), gaps=True)
        ours = findings[(findings["grid"].isin(keys) | findings["other"].isin(keys))
                        & findings["check"].isin(REFUSING)]
        for f in ours.to_dict("records"):
            other = f["other"] if f["grid"] in keys else f["grid"]  # the one that is not this feature
            refusals.append({"check": f["check"], "other": other, "value": f["value"], "message": f["message"],
                             "message_zh": f["message_zh"], "geometry": _geojson(f["geometry"])})
        near = shapely.union_all([c.geometry.iloc[0] for c in mine]).buffer(1e-5)  # ≈1 m: gaps that touch them
        gaps = findings[findings["check"] == "gap"]
        for f in gaps[gaps.intersects(near)].to_dict("records"):
            warnings.append({"check": "gap", "other": code, "value": f["value"], "message": f["message"],
                             "message_zh": f["message_zh"], "geometry": _geojson(f["geometry"])})
    return refusals, warnings


def _refuse(layer: str, key: str, problems: list[dict]) -> None:
    if problems:
        raise InvalidFeature(f"the {layer} {key!r} breaks {len(problems)} rule{'s' if len(problems) > 1 else ''}; "
                             "nothing was written", problems=problems,
                             zh=f"{_zh(layer)} {key} 违反 {len(problems)} 条规则，未保存：" + "；".join(
                                 str(p.get("message_zh") or p.get("message", "")) for p in problems[:5]))


def _current_etag(store: Store, layer: str, key: str) -> str | None:
    now = edits.get(store, layer, key)
    return now.etag if now else None


def _same_land(a: shapely.Geometry | None, b: shapely.Geometry | None) -> bool:
    return a is not None and b is not None and bool(shapely.equals(a, b))


def _recount(store: Store, conn, written: list[gpd.GeoDataFrame], gone: set[str]) -> bool:
    """Households and population of the grids being written, counted from the residences by the rule
    the grid drafts use (``gis.boundaries.grid_people``), against their community's grids as they
    will be (read under the lock). A community with no residence in the store keeps the numbers given:
    there is nothing to count them from. Whether anything was counted."""
    spec = LAYERS["grids"]
    keys = {str(c[spec.key].iloc[0]) for c in written}
    counted = False
    for code in sorted({_area(spec, c) for c in written} - {None}):
        parent = store.read("communities", where={"code": code}, conn=conn)
        if parent.empty:
            continue
        residences = store.read("residences", bbox=list(parent.total_bounds), conn=conn)
        if residences.empty:
            continue
        communities = store.read("communities", bbox=list(residences.total_bounds), conn=conn)
        siblings = store.read("grids", where={spec.edit.area_field: code}, conn=conn)
        siblings = siblings[~siblings[spec.key].isin(keys | gone)]
        mine = [c for c in written if _area(spec, c) == code]
        crs = metric_crs(parent)
        grids = gpd.GeoSeries([*siblings.geometry, *(c.geometry.iloc[0] for c in mine)], crs=4326).to_crs(crs)
        at = int(np.flatnonzero((communities["code"] == code).to_numpy())[0])
        people = grid_people(np.asarray(grids.values), at, np.asarray(communities.to_crs(crs).geometry.values),
                             residences.to_crs(crs))
        for c, (households, population) in zip(mine, people[len(siblings):], strict=True):
            c.loc[c.index[0], "households"] = int(households)
            c.loc[c.index[0], "population"] = int(population)
        counted = True
    return counted


# ---- one feature --------------------------------------------------------------------------------
def _write(ws: Workspace, user: User, layer: str, new: gpd.GeoDataFrame, current: Stored | None, *, action: str,
           fixes: list[str] | None) -> EditOutcome:
    """The shared path of create, replace, update and restore: lock, check once, write, record."""
    spec = LAYERS[layer]
    key = str(new[spec.key].iloc[0])
    store = ws.store
    with timed("edit", layer=layer, key=key, action=action, user=user.name) as log:
        try:
            with store.transaction() as conn:
                edits.lock(conn, layer, [a for a in {_area(spec, current.frame if current else None),
                                                     _area(spec, new)} if a] or [key])
                if current is None and edits.get(store, layer, key, conn) is not None:
                    raise AlreadyExists(f"{layer} {key!r} exists already: replace it with PUT and If-Match",
                                        zh=f"{_zh(layer)} {key} 已存在：请修改它，而不是新建")
                refusals, warnings = _neighbourhood(store, conn, spec, [new], set(), fixes)
                refusals += edits.reference_problems(store, conn, layer, new)
                _refuse(layer, key, refusals)
                if layer == "grids" and not _same_land(current.geometry if current else None, new.geometry.iloc[0]):
                    _recount(store, conn, [new], set())  # its land changed: count its residents again
                stored = edits.save(store, conn, layer, new, current, user=user.name, action=action, notes=fixes)
        except Conflict as exc:
            raise Conflict(f"{layer} {key!r} was changed by someone else (you edited version "
                           f"{current.version if current else '—'}): reload it and edit again",
                           etag=_current_etag(store, layer, key),
                           zh=f"{_zh(layer)} {key} 已被他人修改（您编辑的是第 "
                              f"{current.version if current else '—'} 版）：请重新加载后再编辑") from exc
        log.update(version=stored.version, warnings=len(warnings))
    return EditOutcome([stored], fixes, warnings)


def create(ws: Workspace, layer: str, feature: Any, *, user: User | None, fix: bool = False) -> EditOutcome:
    spec = LAYERS[layer]
    props = feature.get("properties") if isinstance(feature, dict) else None
    area = props.get(spec.edit.area_field) if isinstance(props, dict) and spec.edit.area_field else None
    user = require_edit(user, layer, [area])
    fixes: list[str] | None = [] if fix else None
    new = candidate(layer, feature, None, fixes)
    return _write(ws, user, layer, new, None, action="create", fixes=fixes)


def replace(ws: Workspace, layer: str, key: str, feature: Any, *, user: User | None, if_match: str | None,
            fix: bool = False, action: str = "replace", current: Stored | None = None) -> EditOutcome:
    spec = LAYERS[layer]
    current = current or read(ws, layer, key)
    old_area = _area(spec, current.frame)
    props = feature.get("properties") if isinstance(feature, dict) else None
    new_area = props.get(spec.edit.area_field, old_area) if isinstance(props, dict) and spec.edit.area_field \
        else old_area
    user = require_edit(user, layer, [old_area, new_area])
    check_version(current, if_match)
    fixes: list[str] | None = [] if fix else None
    new = candidate(layer, feature, key, fixes)
    return _write(ws, user, layer, new, current, action=action, fixes=fixes)


def update(ws: Workspace, layer: str, key: str, change: Any, *, user: User | None, if_match: str | None,
           fix: bool = False) -> EditOutcome:
    """A JSON merge patch: the properties given replace the stored ones (null removes one); a geometry
    given replaces the stored one."""
    current = read(ws, layer, key)
    if not isinstance(change, dict):
        raise InvalidBody("the body must be a JSON object (a partial GeoJSON Feature)",
                          zh="请求内容应为 JSON 对象（GeoJSON 要素的一部分）")
    given = change.get("properties") or {}
    if not isinstance(given, dict):
        raise InvalidBody("properties must be an object", zh="properties（属性）应为对象")
    props = properties(current)
    for k, v in given.items():
        if v is None:
            props.pop(k, None)
        else:
            props[k] = v
    geom = change.get("geometry") if change.get("geometry") is not None else _geojson(current.geometry)
    merged = {"type": "Feature", "properties": props, "geometry": geom}
    return replace(ws, layer, key, merged, user=user, if_match=if_match, fix=fix, action="update", current=current)


def delete(ws: Workspace, layer: str, key: str, *, user: User | None, if_match: str | None) -> int:
    """Remove a feature (its history stays); the version the delete recorded."""
    spec = LAYERS[layer]
    current = read(ws, layer, key)
    user = require_edit(user, layer, [_area(spec, current.frame)])
    check_version(current, if_match)
    with timed("edit", layer=layer, key=key, action="delete", user=user.name):
        try:
            with ws.store.transaction() as conn:
                edits.lock(conn, layer, [_area(spec, current.frame) or key])
                return edits.remove(ws.store, conn, current, user=user.name)
        except Conflict as exc:
            raise Conflict(f"{layer} {key!r} was changed by someone else: reload it before deleting",
                           etag=_current_etag(ws.store, layer, key),
                           zh=f"{_zh(layer)} {key} 已被他人修改：请重新加载后再删除") from exc


def _flat(state: dict) -> dict[str, Any]:
    """A history row's properties as one flat dict of the values set (fields and extra attributes)."""
    out = {k: v for k, v in state.items() if k != "extra" and v is not None}
    return {**(state.get("extra") or {}), **out}


def _version(ws: Workspace, layer: str, key: str, version: int) -> tuple[dict, list[dict]]:
    """The history row of ``version`` (not a delete) and every row, oldest first."""
    rows = edits.history(ws.store, layer, key)
    found = [v for v in rows if v["version"] == version and v["action"] != "delete"]
    if not found:
        raise NotFound(f"{layer} {key!r} has no version {version} to restore",
                       zh=f"{_zh(layer)} {key} 没有可恢复的第 {version} 版")
    return found[0], rows


def restore(ws: Workspace, layer: str, key: str, version: int, *, user: User | None,
            if_match: str | None, fields: list[str] | None = None) -> EditOutcome:
    """Bring back a version's geometry, as a new recorded write (If-Match needed while the feature
    exists). Its attributes stay as they are now — someone may have set a phone number since — except
    the ``fields`` named, which come back too. A deleted feature comes back whole."""
    old, _ = _version(ws, layer, key, version)
    then = _flat(old["properties"])
    current = edits.get(ws.store, layer, key)
    if current is None:
        body = {"type": "Feature", "properties": then, "geometry": _geojson(old["geometry"])}
        spec = LAYERS[layer]
        user = require_edit(user, layer, [then.get(spec.edit.area_field) if spec.edit.area_field else None])
        return _write(ws, user, layer, candidate(layer, body, key), None, action="restore", fixes=None)
    props = properties(current)
    if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
        raise InvalidBody("fields must be a list of field names", zh="fields 应为字段名的列表")
    known = set(LAYERS[layer].field_names) | set(then) | set(props)
    unknown = [f for f in fields or [] if f not in known]
    if unknown:
        raise InvalidBody(f"fields: {', '.join(map(repr, unknown))} is not a field of {layer}",
                          zh=f"fields：{'、'.join(unknown)} 不是{_zh(layer)}的字段")
    for name in fields or []:
        if name in then:
            props[name] = then[name]
        else:
            props.pop(name, None)
    body = {"type": "Feature", "properties": props, "geometry": _geojson(old["geometry"])}
    return replace(ws, layer, key, body, user=user, if_match=if_match, action="restore", current=current)


# ---- grids: split and merge ---------------------------------------------------------------------
def _divide(total: object, shares: np.ndarray) -> list[int | None]:
    if total is None:
        return [None] * len(shares)
    return round_keeping_total(np.asarray(shares) * float(total)).tolist()


def _grid_to_edit(ws: Workspace, key: str, user: User | None, if_match: str | None) -> tuple[Stored, str, User]:
    """The grid a split, reshape or absorb starts from, its community and the editor, once the editor's
    right to edit that community and the If-Match version are checked (in this order: who, then what)."""
    current = read(ws, "grids", key)
    community = _area(LAYERS["grids"], current.frame)
    user = require_edit(user, "grids", [community])
    check_version(current, if_match)
    return current, community, user


def split(ws: Workspace, key: str, line: Any, *, name: str | None = None, user: User | None,
          if_match: str | None) -> EditOutcome:
    """A grid cut along a line into two, in one transaction: the larger piece keeps the code, the
    other gets the community's next code never used; households and population counted from the
    residences (divided by area where the store holds none)."""
    layer, spec = "grids", LAYERS["grids"]
    current, community, user = _grid_to_edit(ws, key, user, if_match)
    cut = geometry(line)
    if cut.geom_type not in ("LineString", "MultiLineString"):
        raise InvalidBody(f"line must be a LineString, not a {cut.geom_type}",
                          zh=f"分割线应为折线（LineString），而不是 {cut.geom_type}")
    pieces = [p for p in shapely.get_parts(split_polygon(current.geometry, cut)) if p.area > 0]
    if len(pieces) != 2:
        raise InvalidFeature(f"the line cuts grid {key} into {len(pieces)} piece(s); draw it across the grid from "
                             "one edge to the other, once",
                             zh=f"分割线把网格 {key} 分成了 {len(pieces)} 块：请从网格一边画到另一边，只穿过一次",
                             problems=[{"check": "split", "message": "the line must cross the grid exactly once",
                                        "message_zh": "分割线必须恰好穿过网格一次", "geometry": _geojson(cut)}])
    pieces.sort(key=lambda p: -p.area)
    shares = np.array([p.area for p in pieces]) / sum(p.area for p in pieces)
    props = properties(current)
    households, population = _divide(props.get("households"), shares), _divide(props.get("population"), shares)
    fixes = [f"households and population divided by area ({shares[0]:.0%} / {shares[1]:.0%}): check them"]
    store = ws.store
    with timed("edit", layer=layer, key=key, action="split", user=user.name):
        try:
            with store.transaction() as conn:
                edits.lock(conn, layer, [community])
                new_code = edits.next_key(store, conn, layer, community)
                bodies = [(key, {**props, "households": households[0], "population": population[0]}),
                          (new_code, {**props, spec.key: new_code, "name": name or f"{props.get('name')} 2",
                                      "households": households[1], "population": population[1]})]
                news = [candidate(layer, {"type": "Feature", "properties": {k: v for k, v in p.items()
                                                                            if v is not None},
                                          "geometry": _geojson(piece)}, k)
                        for (k, p), piece in zip(bodies, pieces, strict=True)]
                refusals, warnings = _neighbourhood(store, conn, spec, news, set(), None)
                _refuse(layer, key, refusals)
                if _recount(store, conn, news, set()):
                    fixes = [COUNTED]
                written = [edits.save(store, conn, layer, news[0], current, user=user.name, action="split",
                                      notes=fixes),
                           edits.save(store, conn, layer, news[1], None, user=user.name, action="split", notes=fixes)]
        except Conflict as exc:
            raise Conflict(f"grids {key!r} was changed by someone else: reload it",
                           etag=_current_etag(store, layer, key), zh=f"网格 {key} 已被他人修改：请重新加载") from exc
    return EditOutcome(written, fixes, warnings)


def merge(ws: Workspace, key: str, other: str, *, user: User | None, if_match: str | None,
          other_etag: str | None) -> EditOutcome:
    """A neighbouring grid of the same community folded into this one (it is deleted, its history
    kept), in one transaction; households and population added up."""
    layer, spec = "grids", LAYERS["grids"]
    mine, theirs = read(ws, layer, key), read(ws, layer, other)
    community = _area(spec, mine.frame)
    user = require_edit(user, layer, [community, _area(spec, theirs.frame)])
    check_version(mine, if_match)
    check_version(theirs, other_etag)
    if key == other:
        raise InvalidBody("a grid cannot be merged with itself", zh="网格不能与自身合并")
    if _area(spec, theirs.frame) != community:
        raise InvalidFeature(f"grids {key} and {other} are in different communities",
                             zh=f"网格 {key} 与 {other} 属于不同社区，不能合并")
    union = shapely.union(mine.geometry, theirs.geometry)
    if union.geom_type != "Polygon":
        raise InvalidFeature(f"grids {key} and {other} do not share a boundary",
                             zh=f"网格 {key} 与 {other} 不相邻，不能合并", problems=[
            {"check": "not_adjacent", "other": other, "message": "only neighbouring grids can be merged",
             "message_zh": "只有相邻的网格可以合并"}])
    a, b = properties(mine), properties(theirs)
    props = {**a, **{k: (a.get(k) or 0) + (b.get(k) or 0) for k in ("households", "population")
                     if a.get(k) is not None or b.get(k) is not None}}
    new = candidate(layer, {"type": "Feature", "properties": props, "geometry": _geojson(union)}, key)
    store = ws.store
    with timed("edit", layer=layer, key=key, action="merge", other=other, user=user.name):
        try:
            with store.transaction() as conn:
                edits.lock(conn, layer, [community])
                refusals, warnings = _neighbourhood(store, conn, spec, [new], {other}, None)
                _refuse(layer, key, refusals)
                _recount(store, conn, [new], {other})  # else the two grids' numbers added up
                edits.remove(store, conn, theirs, user=user.name, note=f"merged into {key}")
                stored = edits.save(store, conn, layer, new, mine, user=user.name, action="merge",
                                    notes=[f"merged with {other}"])
        except Conflict as exc:
            raise Conflict(f"grids {key!r} or {other!r} was changed by someone else: reload them",
                           etag=_current_etag(store, layer, key),
                           zh=f"网格 {key} 或 {other} 已被他人修改：请重新加载") from exc
    return EditOutcome([stored], None, warnings, removed=other)


# ---- grids: reshape, absorb, a community's problems -----------------------------------------------
def _polygon_body(value: Any, name: str = "geometry") -> shapely.Geometry:
    """A body's GeoJSON Polygon or MultiPolygon (CRS84), or a refusal naming the field."""
    what = f"{name} must be a GeoJSON Polygon or MultiPolygon"
    what_zh = f"{name} 应为 GeoJSON 多边形（Polygon 或 MultiPolygon）"
    if not isinstance(value, dict):
        raise InvalidBody(what, zh=what_zh, problems=[{"check": "schema", "field": name, "message": what,
                                                        "message_zh": what_zh}])
    try:
        geom = shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InvalidBody(f"{name} is not GeoJSON: {exc}", zh=f"{name} 不是有效的 GeoJSON：{exc}",
                          problems=[{"check": "schema", "field": name, "message": str(exc)}]) from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidBody(f"{what}, not {'an empty one' if geom.is_empty else 'a ' + geom.geom_type}", zh=what_zh,
                          problems=[{"check": "schema", "field": name, "message": what, "message_zh": what_zh}])
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        raise InvalidFeature(f"{name} is not a valid polygon ({reason}); nothing was written",
                             zh=f"{name} 不是有效的多边形（{reason}），未保存",
                             problems=[{"check": "invalid_geometry", "field": name, "message": reason,
                                        "message_zh": f"多边形无效：{reason}",
                                        "geometry": _geojson(shapely.make_valid(geom))}])
    return geom


def _community_grids(store: Store, conn, community: str) -> tuple[gpd.GeoDataFrame, shapely.Geometry,
                                                                    dict[str, Stored]]:
    """A community's grids as they are now (inside the lock), its boundary, each grid as stored."""
    spec = LAYERS["grids"]
    parent = store.read("communities", where={"code": community}, conn=conn)
    if parent.empty:
        raise NotFound(f"no community {community!r}", zh=f"没有这个社区：{community}")
    grids = store.read("grids", where={spec.edit.area_field: community}, conn=conn).reset_index(drop=True)
    stored = {str(c): Stored("grids", str(c), int(v), grids.iloc[[k]].reset_index(drop=True))
              for k, (c, v) in enumerate(zip(grids[spec.key], grids["version"], strict=True))}
    return grids, parent.geometry.iloc[0], stored


def _still(stored: dict[str, Stored], current: Stored) -> Stored:
    """The grid as read under the lock: a change since the first read is a 412."""
    now = stored.get(current.key)
    if now is None or now.version != current.version:
        raise Conflict(f"grids {current.key!r} was changed by someone else: reload it",
                       etag=now.etag if now else None, zh=f"网格 {current.key} 已被他人修改：请重新加载")
    return now


def _check_etags(stored: dict[str, Stored], etags: Any) -> None:
    """The neighbours' ETags the editor read (optional): a stale one refuses the whole reshape."""
    if etags is None:
        return
    if not isinstance(etags, dict) or not all(isinstance(v, str) for v in etags.values()):
        raise InvalidBody("etags must be an object: grid code → the ETag you read",
                          zh="etags 应为对象：网格编码 → 读取时的版本标记（ETag）",
                          problems=[{"check": "schema", "field": "etags", "message": "grid code → ETag"}])
    for code, tag in etags.items():
        now = stored.get(str(code))
        if now is None:
            raise Conflict(f"grids {code!r} is no longer a grid of this community: reload the grids",
                           zh=f"网格 {code} 已不在本社区：请重新加载")
        check_version(now, tag)


def reshape(ws: Workspace, key: str, drawn: Any, *, etags: Any = None, user: User | None,
            if_match: str | None) -> EditOutcome:
    """A grid takes a new boundary (clipped to its community) and its neighbours follow, in one
    transaction: land it gains is taken from the grids that held it, each piece it gives up goes to
    the grid sharing the longest boundary with it (touching none, it is left as a gap and said so).
    Every grid whose land changed gets a version, a history row "reshape" and its households and
    population counted from the residences."""
    layer, spec = "grids", LAYERS["grids"]
    current, community, user = _grid_to_edit(ws, key, user, if_match)
    geom = _polygon_body(drawn)
    store = ws.store
    with timed("edit", layer=layer, key=key, action="reshape", user=user.name) as log:
        with store.transaction() as conn:
            edits.lock(conn, layer, [community])
            grids, parent, stored = _community_grids(store, conn, community)
            _still(stored, current)
            _check_etags(stored, etags)
            codes = [str(c) for c in grids[spec.key]]
            i = codes.index(key)
            done = reshaping.reshape(np.asarray(grids.geometry.values), i, geom, parent)
            pieces = [{"check": "pieces", "other": codes[k], "message": f"grid {codes[k]} would fall into "
                       f"{len(shapely.get_parts(g))} pieces: draw the boundary so that every grid stays one piece",
                       "message_zh": f"网格 {codes[k]} 将被分成 {len(shapely.get_parts(g))} 块：请让每个网格保持完整",
                       "geometry": _geojson(g)}
                      for k, g in done.geometries.items() if g.geom_type != "Polygon" and not g.is_empty]
            if done.geometries[i].is_empty:
                pieces.append({"check": "outside_community", "other": community, "field": "geometry",
                               "message": f"the boundary leaves grid {key} no land inside community {community}",
                               "message_zh": f"新边界使网格 {key} 在社区 {community} 内没有任何土地"})
            _refuse(layer, key, pieces)
            news = [candidate(layer, {"type": "Feature", "properties": properties(stored[codes[k]]),
                                      "geometry": _geojson(g)}, codes[k]) for k, g in done.geometries.items()]
            refusals, warnings = _neighbourhood(store, conn, spec, news, set(), None)
            _refuse(layer, key, refusals)
            fixes, fixes_zh = [], []
            if done.clipped_m2 > reshaping.AREA_TOLERANCE_M2:
                fixes.append(f"clipped {done.clipped_m2:,.0f} m² outside community {community}")
                fixes_zh.append(f"已裁去社区 {community} 以外的 {done.clipped_m2:,.0f} 平方米")
            for k, d in done.moved_m2.items():
                fixes.append(f"grid {codes[k]} {'gained' if d > 0 else 'gave up'} {abs(d):,.0f} m²")
                fixes_zh.append(f"网格 {codes[k]} {'增加' if d > 0 else '让出'} {abs(d):,.0f} 平方米")
            for a in done.gap_m2:
                fixes.append(f"{a:,.0f} m² touch no other grid: left in no grid")
                fixes_zh.append(f"{a:,.0f} 平方米不与其他网格相邻：留作空隙")
            if _recount(store, conn, news, set()):
                fixes.append(COUNTED)
                fixes_zh.append(COUNTED_ZH)
            written = [edits.save(store, conn, layer, n, stored[codes[k]], user=user.name, action="reshape",
                                  notes=fixes) for n, k in zip(news, done.geometries, strict=True)]
        log.update(changed=len(written), warnings=len(warnings))
    return EditOutcome(written, fixes, warnings, fixes_zh=fixes_zh)


def absorb(ws: Workspace, key: str, polygon: Any, *, user: User | None, if_match: str | None) -> EditOutcome:
    """A grid takes the part of ``polygon`` (a gap, as ``problems`` gives it) that lies in its community
    and in no grid; it must touch the grid. One version, a history row "absorb", households counted."""
    layer, spec = "grids", LAYERS["grids"]
    current, community, user = _grid_to_edit(ws, key, user, if_match)
    geom = _polygon_body(polygon)
    store = ws.store
    with timed("edit", layer=layer, key=key, action="absorb", user=user.name), store.transaction() as conn:
        edits.lock(conn, layer, [community])
        grids, parent, stored = _community_grids(store, conn, community)
        mine = _still(stored, current)
        codes = [str(c) for c in grids[spec.key]]
        done = reshaping.absorb(np.asarray(grids.geometry.values), codes.index(key), geom, parent)
        if done.free_m2 <= 0:
            _refuse(layer, key, [{"check": "no_gap", "field": "geometry", "other": community,
                                  "message": f"the polygon holds no land of community {community} that is in "
                                             "no grid",
                                  "message_zh": f"该多边形内没有社区 {community} 中不属于任何网格的土地"}])
        if done.shared_m <= 0:
            _refuse(layer, key, [{"check": "not_adjacent", "field": "geometry", "other": key,
                                  "message": f"the land in no grid there does not touch grid {key}: give it to "
                                             "a grid it touches",
                                  "message_zh": f"这块空隙不与网格 {key} 相邻：请交给与它相邻的网格"}])
        new = candidate(layer, {"type": "Feature", "properties": properties(mine),
                                "geometry": _geojson(done.geometry)}, key)
        refusals, warnings = _neighbourhood(store, conn, spec, [new], set(), None)
        _refuse(layer, key, refusals)
        fixes = [f"took {done.taken_m2:,.0f} m² that were in no grid"]
        fixes_zh = [f"已并入 {done.taken_m2:,.0f} 平方米空隙"]
        if _recount(store, conn, [new], set()):
            fixes.append(COUNTED)
            fixes_zh.append(COUNTED_ZH)
        saved = edits.save(store, conn, layer, new, mine, user=user.name, action="absorb", notes=fixes)
    return EditOutcome([saved], fixes, warnings, fixes_zh=fixes_zh)


def problems(ws: Workspace, community: str) -> reshaping.Problems:
    """A community's gaps (with the grids around each, longest shared boundary first) and overlaps."""
    parent = ws.store.read("communities", where={"code": community})
    if parent.empty:
        raise NotFound(f"no community {community!r}", zh=f"没有这个社区：{community}")
    grids = ws.store.read("grids", where={"community_code": community})
    return reshaping.community_problems(np.asarray(grids.geometry.values), [str(c) for c in grids["code"]],
                                        parent.geometry.iloc[0])


# ---- what a restore would change --------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return float(a) == float(b)
    return a == b


def diff(ws: Workspace, layer: str, key: str, version: int, *, user: User | None) -> dict:
    """What restoring ``version`` would change: the land it brings back and takes away (m²), and every
    attribute whose value then differs from now — ``changed_since`` when a version after it set it,
    i.e. someone edited it since (a restore keeps those unless asked)."""
    require(user, Action.HISTORY, ws.settings)
    old, rows = _version(ws, layer, key, version)
    current = edits.get(ws.store, layer, key)
    spec = LAYERS[layer]
    then, now = _flat(old["properties"]), properties(current) if current else {}
    then_geom, now_geom = old["geometry"], current.geometry if current else None
    added = removed = 0.0
    present = [g for g in (then_geom, now_geom) if g is not None]
    if present:
        crs = metric_crs(gpd.GeoSeries(present, crs=4326))
        a, b = (g if g is not None else shapely.Polygon() for g in (then_geom, now_geom))
        # the differences where the vertices are (WGS84), then measured: a projected edge bows by millimetres
        added, removed = gpd.GeoSeries([shapely.difference(a, b), shapely.difference(b, a)], crs=4326).to_crs(crs).area
        added, removed = float(added), float(removed)
    later = [v for v in rows if v["version"] > version and v["action"] != "delete"]
    states = [then] + [_flat(v["properties"]) for v in later]
    extra = sorted((set(then) | set(now)) - set(spec.field_names))
    fields = []
    for name in [*spec.field_names, *extra]:
        if name == spec.key or _same(then.get(name), now.get(name)):
            continue
        changes = [(v, s) for v, s, before in zip(later, states[1:], states[:-1], strict=True)
                   if not _same(s.get(name), before.get(name))]
        f = spec.field(name) if name in spec.field_names else None
        entry = {"name": name, "zh": f.zh if f else name, "en": f.en if f else name, "then": then.get(name),
                 "now": now.get(name), "changed_since": bool(changes)}
        if changes:
            entry |= {"changed_by": changes[-1][0]["user"], "changed_in": changes[-1][0]["version"]}
        fields.append(entry)
    return {"version": version, "current_version": current.version if current else None,
            "geometry": {"then": _geojson(then_geom), "now": _geojson(now_geom), "added_m2": added,
                         "removed_m2": removed},
            "fields": fields}
