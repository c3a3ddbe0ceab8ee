"""Editing features: create, replace, update, delete, restore, and for grids split and merge.

Each edit is one application call in one transaction: the feature is read once, the editor's right
and version are checked, the lock of its area is taken, its neighbourhood (the parent community and
the sibling grids) is read once, the layer's own rules are checked once against it — the same check
gives the refusals (an overlap, a part outside the community) and the warnings (land left in no
grid) — and the write and its history row follow. Which roles may edit a layer and what its features
must keep to are the layer's rules (``layers.schema.EditRules``), not a route's.

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
from shequ.gis.boundaries import round_keeping_total
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

#: the checks that refuse a write; a gap is only reported
REFUSING = ("outside_community", "overlap", "invalid_geometry")


@dataclass
class EditOutcome:
    """What was written (one feature, or two for a split), what a repair changed, what it left."""

    stored: list[Stored]
    fixes: list[str] | None = None  # None unless a repair was asked for
    warnings: list[dict] = field(default_factory=list)  # e.g. land of the community left in no grid
    removed: str | None = None  # a merge's folded grid

    @property
    def feature(self) -> Stored:
        return self.stored[0]


# ---- reading ------------------------------------------------------------------------------------
def read(ws: Workspace, layer: str, key: str) -> Stored:
    stored = edits.get(ws.store, layer, key)
    if stored is None:
        raise NotFound(f"no {layer} {key!r}")
    return stored


def history(ws: Workspace, layer: str, key: str, *, user: User | None) -> list[dict]:
    """Every version of a feature, oldest first (also after a delete)."""
    require(user, Action.HISTORY, ws.settings)
    versions = edits.history(ws.store, layer, key)
    if not versions:
        raise NotFound(f"no history for {layer} {key!r}")
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
                                   f"(now {current.etag}): GET the feature first")
    tags = [t.strip() for t in if_match.split(",")]
    if "*" not in tags and current.etag not in tags:
        raise Conflict(f"{current.layer} {current.key!r} was changed by someone else since you read it (now version "
                       f"{current.version}, ETag {current.etag}): reload it and edit again", etag=current.etag)
    return current.version


def candidate(layer: str, feature: Any, key: str | None, fixes: list[str] | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON Feature (CRS84) as a validated one-row frame. With ``fixes`` (a repair was asked for)
    an invalid geometry is made valid first and the list says so."""
    spec = LAYERS[layer]
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InvalidBody("the body must be a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidBody("properties must be an object")
    props = {k: v for k, v in props.items() if k not in ("version", "etag")}
    body_key = props.get(spec.key, feature.get("id"))
    if key is not None:
        if body_key is not None and str(body_key) != key:
            raise InvalidBody(f"the body's {spec.key} {body_key!r} is not the feature {key!r} of the URL; a key "
                              "cannot be changed")
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
        raise InvalidFeature(exc.summary(), problems=[{"check": "schema", "field": p.field, "message": p.reason}
                                                      for p in exc.problems]) from None


def geometry(value: Any) -> shapely.Geometry:
    try:
        return shapely.from_geojson(json.dumps(value))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise InvalidBody(f"geometry is not GeoJSON: {exc}") from None


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
                             "geometry": _geojson(f["geometry"])})
        near = shapely.union_all([c.geometry.iloc[0] for c in mine]).buffer(1e-5)  # ≈1 m: gaps that touch them
        gaps = findings[findings["check"] == "gap"]
        for f in gaps[gaps.intersects(near)].to_dict("records"):
            warnings.append({"check": "gap", "other": code, "value": f["value"], "message": f["message"],
                             "geometry": _geojson(f["geometry"])})
    return refusals, warnings


def _refuse(layer: str, key: str, problems: list[dict]) -> None:
    if problems:
        raise InvalidFeature(f"the {layer} {key!r} breaks {len(problems)} rule{'s' if len(problems) > 1 else ''}; "
                             "nothing was written", problems=problems)


def _current_etag(store: Store, layer: str, key: str) -> str | None:
    now = edits.get(store, layer, key)
    return now.etag if now else None


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
                    raise AlreadyExists(f"{layer} {key!r} exists already: replace it with PUT and If-Match")
                refusals, warnings = _neighbourhood(store, conn, spec, [new], set(), fixes)
                refusals += edits.reference_problems(store, conn, layer, new)
                _refuse(layer, key, refusals)
                stored = edits.save(store, conn, layer, new, current, user=user.name, action=action, notes=fixes)
        except Conflict as exc:
            raise Conflict(f"{layer} {key!r} was changed by someone else (you edited version "
                           f"{current.version if current else '—'}): reload it and edit again",
                           etag=_current_etag(store, layer, key)) from exc
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
        raise InvalidBody("the body must be a JSON object (a partial GeoJSON Feature)")
    given = change.get("properties") or {}
    if not isinstance(given, dict):
        raise InvalidBody("properties must be an object")
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
                           etag=_current_etag(ws.store, layer, key)) from exc


def restore(ws: Workspace, layer: str, key: str, version: int, *, user: User | None,
            if_match: str | None) -> EditOutcome:
    """Bring back a version, as a new recorded write (If-Match needed while the feature exists)."""
    versions = {v["version"]: v for v in edits.history(ws.store, layer, key)}
    if version not in versions or versions[version]["action"] == "delete":
        raise NotFound(f"{layer} {key!r} has no version {version} to restore")
    old = versions[version]
    props = {k: v for k, v in old["properties"].items() if k != "extra"} | (old["properties"].get("extra") or {})
    body = {"type": "Feature", "properties": props, "geometry": _geojson(old["geometry"])}
    current = edits.get(ws.store, layer, key)
    if current is None:
        spec = LAYERS[layer]
        user = require_edit(user, layer, [props.get(spec.edit.area_field) if spec.edit.area_field else None])
        return _write(ws, user, layer, candidate(layer, body, key), None, action="restore", fixes=None)
    return replace(ws, layer, key, body, user=user, if_match=if_match, action="restore", current=current)


# ---- grids: split and merge ---------------------------------------------------------------------
def _divide(total: object, shares: np.ndarray) -> list[int | None]:
    if total is None:
        return [None] * len(shares)
    return round_keeping_total(np.asarray(shares) * float(total)).tolist()


def split(ws: Workspace, key: str, line: Any, *, name: str | None = None, user: User | None,
          if_match: str | None) -> EditOutcome:
    """A grid cut along a line into two, in one transaction: the larger piece keeps the code, the
    other gets the community's next code never used; households and population divided by area."""
    layer, spec = "grids", LAYERS["grids"]
    current = read(ws, layer, key)
    community = _area(spec, current.frame)
    user = require_edit(user, layer, [community])
    check_version(current, if_match)
    cut = geometry(line)
    if cut.geom_type not in ("LineString", "MultiLineString"):
        raise InvalidBody(f"line must be a LineString, not a {cut.geom_type}")
    pieces = [p for p in shapely.get_parts(split_polygon(current.geometry, cut)) if p.area > 0]
    if len(pieces) != 2:
        raise InvalidFeature(f"the line cuts grid {key} into {len(pieces)} piece(s); draw it across the grid from "
                             "one edge to the other, once", problems=[
                                 {"check": "split", "message": "the line must cross the grid exactly once",
                                  "geometry": _geojson(cut)}])
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
                written = [edits.save(store, conn, layer, news[0], current, user=user.name, action="split",
                                      notes=fixes),
                           edits.save(store, conn, layer, news[1], None, user=user.name, action="split", notes=fixes)]
        except Conflict as exc:
            raise Conflict(f"grids {key!r} was changed by someone else: reload it",
                           etag=_current_etag(store, layer, key)) from exc
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
        raise InvalidBody("a grid cannot be merged with itself")
    if _area(spec, theirs.frame) != community:
        raise InvalidFeature(f"grids {key} and {other} are in different communities")
    union = shapely.union(mine.geometry, theirs.geometry)
    if union.geom_type != "Polygon":
        raise InvalidFeature(f"grids {key} and {other} do not share a boundary", problems=[
            {"check": "not_adjacent", "other": other, "message": "only neighbouring grids can be merged"}])
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
                edits.remove(store, conn, theirs, user=user.name, note=f"merged into {key}")
                stored = edits.save(store, conn, layer, new, mine, user=user.name, action="merge",
                                    notes=[f"merged with {other}"])
        except Conflict as exc:
            raise Conflict(f"grids {key!r} or {other!r} was changed by someone else: reload them",
                           etag=_current_etag(store, layer, key)) from exc
    return EditOutcome([stored], None, warnings, removed=other)
