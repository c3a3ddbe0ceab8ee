"""Scenarios: what the layers would be with a plan's changes, for every analysis.

A scenario never touches the real layers. ``Workspace.snapshot(scenario=NAME)`` reads the real
snapshot and applies the scenario's changes to a copy (``apply``): planned facilities are added as
built, closed ones removed, capacities changed, new developments added as residences, and, if the
scenario says so, the data's own planned facilities counted as built. The street network is the real
one (shared, not rebuilt), so a scenario costs only the analysis. Coverage, life circles, scorecards,
access and siting all take ``scenario=``; their answers are cached per scenario revision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.errors import InvalidInput
from shequ.layers import catalog
from shequ.layers import scenarios as stored
from shequ.layers.importing import read_file, to_wgs84
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.workspace import Snapshot, Workspace

check_name = stored.check_name  # a scenario name as every door accepts it

#: a planned facility's status once the scenario builds it
BUILT = "existing"


@dataclass
class ScenarioView:
    """A scenario and its changes, as every door shows it."""

    name: str
    title: str
    description: str
    revision: int
    created_by: str | None
    created_at: object
    updated_at: object
    changes: list[dict]

    def table(self) -> pd.DataFrame:
        """One row per change (for the command line and CSV)."""
        rows = []
        for c in self.changes:
            p = c["properties"]
            g = c["geometry"]
            rows.append({"id": c["id"], "kind": c["kind"], "target_id": c["target_id"] or "",
                         "type": p.get("type", ""), "name": p.get("name", ""), "capacity": p.get("capacity"),
                         "households": p.get("households"),
                         "lon": round(g.centroid.x, 6) if g is not None else None,
                         "lat": round(g.centroid.y, 6) if g is not None else None,
                         "made_by": c["made_by"] or "", "made_at": c["made_at"]})
        return pd.DataFrame(rows, columns=["id", "kind", "target_id", "type", "name", "capacity", "households",
                                           "lon", "lat", "made_by", "made_at"])

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "description": self.description, "revision": self.revision,
                "created_by": self.created_by, "created_at": _iso(self.created_at),
                "updated_at": _iso(self.updated_at),
                "changes": [{"id": c["id"], "kind": c["kind"], "target_id": c["target_id"],
                             "properties": c["properties"],
                             "geometry": shapely.geometry.mapping(c["geometry"]) if c["geometry"] is not None else None,
                             "made_by": c["made_by"], "made_at": _iso(c["made_at"])} for c in self.changes]}


def _iso(value) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


# ---- reading and writing ----------------------------------------------------------------------
def create(ws: Workspace, name: str, *, title: str = "", description: str = "", user: User | None) -> ScenarioView:
    who = require(user, Action.SCENARIOS, ws.settings)
    stored.create(ws.store.engine, name, title=title, description=description, user=who.name if who else None)
    return show(ws, name, user=user)


def list_scenarios(ws: Workspace, *, user: User | None) -> list[dict]:
    require(user, Action.COVERAGE, ws.settings)
    return stored.list_all(ws.store.engine)


def show(ws: Workspace, name: str, *, user: User | None) -> ScenarioView:
    require(user, Action.COVERAGE, ws.settings)
    row = stored.get(ws.store.engine, name)
    return ScenarioView(row["name"], row["title"] or row["name"], row["description"] or "", int(row["revision"]),
                        row["created_by"], row["created_at"], row["updated_at"],
                        stored.changes_of(ws.store.engine, name))


def delete(ws: Workspace, name: str, *, user: User | None) -> None:
    require(user, Action.SCENARIOS, ws.settings)
    stored.delete_scenario(ws.store.engine, name)
    ws.forget_scenario(name)


def add_changes(ws: Workspace, name: str, changes: list[dict], *, user: User | None,
                revision: int | None = None) -> ScenarioView:
    """Check every change against the real layers, then append them all in one transaction."""
    who = require(user, Action.SCENARIOS, ws.settings)
    snap = ws.snapshot()
    checked = [check_change(snap, c, i) for i, c in enumerate(changes)]
    with timed("scenario changed", user=who.name if who else "local", scenario=name, changes=len(checked)):
        stored.add_changes(ws.store.engine, name, checked, user=who.name if who else None, revision=revision)
    ws.forget_scenario(name)
    return show(ws, name, user=user)


def remove_change(ws: Workspace, name: str, change_id: int, *, user: User | None) -> ScenarioView:
    who = require(user, Action.SCENARIOS, ws.settings)
    stored.remove_change(ws.store.engine, name, change_id, user=who.name if who else None)
    ws.forget_scenario(name)
    return show(ws, name, user=user)


def facility_change(type_: str, lon: float, lat: float, *, capacity: int | None = None, name: str = "",
                    opening_year: int | None = None, source: str = "") -> dict:
    """An ``add_facility`` change from plain values (the command line, the page's click)."""
    props = {"type": type_, "name": name, "capacity": capacity, "opening_year": opening_year}
    if source:
        props["source"] = source
    return {"kind": "add_facility", "properties": {k: v for k, v in props.items() if v not in (None, "")},
            "geometry": shapely.Point(float(lon), float(lat))}


def facilities_from_file(path: str | Path, *, type_: str | None = None) -> list[dict]:
    """``add_facility`` changes from a file of planned sites (GeoJSON, GPKG, zipped SHP, CSV with
    lon/lat; any CRS): a ``type`` column or ``type_`` for all, optional ``name``, ``capacity``,
    ``opening_year``."""
    frame, _ = to_wgs84(read_file(path), None, Path(path).name)
    if frame.empty:
        raise InvalidInput(f"{Path(path).name}: no features",
                           zh=f"{Path(path).name}：没有要素")
    path = Path(path).name
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        t = type_ or getattr(row, "type", None)
        if not t or (isinstance(t, float) and np.isnan(t)):
            raise InvalidInput(f"{path}: feature {i + 1}: no type (give a type column or --type)",
                               zh=f"{path}：第 {i + 1} 个要素没有类型（请提供 type 列或 --type）")
        geom = row.geometry
        if geom is None or geom.is_empty:
            raise InvalidInput(f"{path}: feature {i + 1}: no geometry",
                               zh=f"{path}：第 {i + 1} 个要素没有几何图形")
        p = geom if geom.geom_type == "Point" else geom.representative_point()
        cap = getattr(row, "capacity", None)
        year = getattr(row, "opening_year", None)
        name = getattr(row, "name", "")
        out.append(facility_change(str(t), p.x, p.y, capacity=None if pd.isna(cap) else int(cap),
                                   name="" if pd.isna(name) else str(name),
                                   opening_year=None if pd.isna(year) else int(year), source=path))
    return out


def check_change(snap: Snapshot, change: dict, index: int) -> dict:
    """A change checked against the real layers, with its type resolved; ``InvalidInput`` saying
    which change, which field and why."""
    where = f"change {index + 1}"
    kind = change.get("kind")
    props = dict(change.get("properties") or {})
    geom = change.get("geometry")
    if kind not in stored.KINDS:
        raise InvalidInput(f"{where}: kind must be one of {', '.join(stored.KINDS)}, not {kind!r}",
                           zh=f"第 {index + 1} 项：修改类型应为 {'、'.join(stored.KINDS)} 之一，而不是 {kind!r}")
    if kind in ("add_facility", "add_residence"):
        if geom is None or not isinstance(geom, shapely.Geometry) or geom.is_empty or not geom.is_valid:
            raise InvalidInput(f"{where}: a valid geometry is needed (longitude, latitude in WGS84)",
                               zh=f"第 {index + 1} 项：需要有效的几何图形（WGS84 经纬度）")
        x0, y0, x1, y1 = geom.bounds
        if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            raise InvalidInput(f"{where}: coordinates must be longitude, latitude in degrees (WGS84)",
                               zh=f"第 {index + 1} 项：坐标应为经纬度（WGS84，单位：度）")
        if not _near_data(snap, geom):
            raise InvalidInput(f"{where}: the point lies outside the data's area (more than 2 km from any street)",
                               zh=f"第 {index + 1} 项：位置在数据范围之外（距任何道路超过 2 公里）")
    if kind == "add_facility":
        if geom.geom_type != "Point":
            raise InvalidInput(f"{where}: a facility is a point",
                               zh=f"第 {index + 1} 项：设施应为点")
        code = catalog.lookup(str(props.get("type", "")))
        if code is None:
            raise InvalidInput(f"{where}: type: {catalog.unknown_type_message(str(props.get('type', '')))}",
                               zh=f"第 {index + 1} 项：" + catalog.unknown_type_message_zh(str(props.get('type', ''))))
        props["type"] = code
        for key in ("capacity", "opening_year"):
            if props.get(key) is not None:
                props[key] = _int(props[key], where, key, minimum=0 if key == "capacity" else 1900)
    elif kind in ("remove_facility", "set_capacity"):
        target = str(change.get("target_id") or "")
        if target not in set(snap.facilities["id"].astype(str)):
            raise InvalidInput(f"{where}: target_id: no facility {target!r} in the data",
                               zh=f"第 {index + 1} 项：数据中没有设施 {target!r}")
        if kind == "set_capacity":
            props["capacity"] = _int(props.get("capacity"), where, "capacity", minimum=0)
    elif kind == "add_residence":
        if geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
            raise InvalidInput(f"{where}: a residence is a point or a polygon",
                               zh=f"第 {index + 1} 项：居住单元应为点或面")
        props["households"] = _int(props.get("households"), where, "households", minimum=1)
        for key in ("population", "children", "elderly"):
            if props.get(key) is not None:
                props[key] = _int(props[key], where, key, minimum=0)
    return {"kind": kind, "target_id": change.get("target_id"), "properties": props, "geometry": geom}


def _int(value, where: str, field: str, *, minimum: int) -> int:
    try:
        number = int(value)
        if float(value) != number:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {field} must be a whole number, not {value!r}",
                           zh=f"{where.replace('change ', '第 ')} 项：{field} 应为整数，而不是 {value!r}") from None
    if number < minimum:
        raise InvalidInput(f"{where}: {field} must be at least {minimum}, not {number}",
                           zh=f"{where.replace('change ', '第 ')} 项：{field} 至少为 {minimum}，而不是 {number}")
    return number


def _near_data(snap: Snapshot, geom: shapely.Geometry) -> bool:
    if snap.streets.empty:
        return True
    x0, y0, x1, y1 = snap.streets.total_bounds
    pad = 0.02  # ≈ 2 km in degrees of latitude
    return bool(shapely.intersects(shapely.box(x0 - pad, y0 - pad, x1 + pad, y1 + pad), geom))


# ---- applying ---------------------------------------------------------------------------------
def apply(base: Snapshot, name: str, revision: int, changes: list[dict]) -> Snapshot:
    """The base snapshot with the scenario's changes: a new snapshot sharing the base's network."""
    fac = base.facilities.copy()
    res = base.residences.copy()
    if "scenario_change" not in fac:
        fac["scenario_change"] = pd.Series([None] * len(fac), index=fac.index, dtype=object)
    if "scenario_change" not in res:
        res["scenario_change"] = pd.Series([None] * len(res), index=res.index, dtype=object)
    added_fac, added_res = [], []
    closed: set[str] = set()
    for c in changes:
        p, kind = c["properties"], c["kind"]
        if kind == "build_planned":
            planned = fac["status"].isin(["planned", "under_construction"]) if "status" in fac else None
            if planned is not None:
                fac.loc[planned, "status"] = BUILT
        elif kind == "remove_facility":
            closed.add(str(c["target_id"]))
        elif kind == "set_capacity":
            fac.loc[fac["id"].astype(str) == str(c["target_id"]), "capacity"] = p["capacity"]
        elif kind == "add_facility":
            added_fac.append({"id": f"{name}:{c['id']}", "type": p["type"], "name": p.get("name") or "",
                              "capacity": p.get("capacity"), "status": BUILT, "scenario_change": c["id"],
                              "opening_year": p.get("opening_year"), "geometry": c["geometry"]})
        elif kind == "add_residence":
            added_res.append({"id": f"{name}:{c['id']}", "households": p["households"],
                              "population": p.get("population"), "children": p.get("children"),
                              "elderly": p.get("elderly"), "name": p.get("name") or "",
                              "scenario_change": c["id"], "geometry": c["geometry"]})
    if closed:
        fac = fac[~fac["id"].astype(str).isin(closed)]
    if added_fac:
        fac = pd.concat([fac, gpd.GeoDataFrame(added_fac, crs=4326)], ignore_index=True)
    if added_res:
        extra = gpd.GeoDataFrame(added_res, crs=4326)
        res = pd.concat([res, extra], ignore_index=True)
    fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=4326).reset_index(drop=True)
    res = gpd.GeoDataFrame(res, geometry="geometry", crs=4326).reset_index(drop=True)
    snap = Snapshot((base.version, "scenario", name, revision), base.streets, res, fac, base.communities,
                    base.grids, base.lifecircles, base.subdistricts)
    snap.share_network_of(base)
    snap.scenario = name
    return snap


def scenario_revision(ws: Workspace, name: str) -> int:
    """A scenario's revision (-1 for the real layers): part of a page's cache key."""
    return int(stored.get(ws.store.engine, name)["revision"]) if name else -1


def snapshot_for(ws: Workspace, scenario: str | None) -> Snapshot:
    """The layers as they are, or as the scenario would make them."""
    return scenario_snapshot(ws, scenario) if scenario else ws.snapshot()


def scenario_snapshot(ws: Workspace, name: str) -> Snapshot:
    """The snapshot of ``name`` at its current revision (``NotFound`` if there is no such scenario)."""
    row = stored.get(ws.store.engine, name)
    base = ws.snapshot()
    key = (base.version, name, int(row["revision"]))
    return ws.scenario_snapshot(key, lambda: apply(base, name, int(row["revision"]),
                                                   stored.changes_of(ws.store.engine, name)))
