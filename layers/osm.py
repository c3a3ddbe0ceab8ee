"""OpenStreetMap ``.osm.pbf`` → streets, facilities and residences.

GDAL's OSM driver (bundled with pyogrio) reads the file, so no extra dependency is needed. Tag
mapping, walkability and the household estimate are data (``data/osm_import.json``), not code.
OSM polygons are sometimes invalid (self-touching rings); they are repaired with ``make_valid``
and counted, never silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from tqdm import tqdm

from shequ.layers import catalog
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate

#: how a figure estimated by this module's rules is cited (Chinese, English): the rules are shequ's,
#: read from OpenStreetMap tags (the rule file, data/osm_import.json, is a provenance, not a source)
OSM_ESTIMATE = ("OpenStreetMap 估算（shequ 规则）", "estimated from OpenStreetMap tags (shequ's rule)")

_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def load_config(path: str | Path | None = None) -> dict:
    """The import rules: ``path`` if given, else the shipped ``data/osm_import.json``."""
    if path:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return json.loads(resources.files("shequ.data").joinpath("osm_import.json").read_text(encoding="utf-8"))


def _value(config: dict, section: str, key: str) -> object:
    return config[section][key]["value"]


def parse_other_tags(text: object) -> dict[str, str]:
    """GDAL's ``other_tags`` (hstore text) → dict."""
    if not isinstance(text, str):
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _TAG.findall(text)}


def _tags(frame: pd.DataFrame) -> list[dict[str, str]]:
    """All tags per feature: the driver's own columns plus ``other_tags``."""
    skip = {"osm_id", "osm_way_id", "other_tags", "z_order", "geometry", "type"}
    cols = [c for c in frame.columns if c not in skip]
    base = frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")
    return [{**parse_other_tags(o), **{k: str(v) for k, v in b.items() if v is not None}}
            for b, o in zip(base, frame.get("other_tags", [None] * len(frame)), strict=True)]


@dataclass
class OsmLayers:
    """What an OSM file yields, before writing; ``notes`` say what was repaired or skipped."""

    streets: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    residences: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)

    def frames(self) -> dict[str, gpd.GeoDataFrame]:
        return {"streets": self.streets, "facilities": self.facilities, "residences": self.residences}


def _walkable(classes: pd.Series, tags: list[dict[str, str]], config: dict) -> np.ndarray:
    blocked_classes = set(_value(config, "streets", "non_walkable_classes"))
    blocked_tags: dict[str, list[str]] = _value(config, "streets", "non_walkable_tags")
    foot_ok = {"yes", "designated", "permissive"}
    out = ~classes.isin(blocked_classes).to_numpy()
    for i, t in enumerate(tags):
        if t.get("foot") in foot_ok:
            out[i] = True
            continue
        if any(t.get(k) in vals for k, vals in blocked_tags.items()):
            out[i] = False
    return out


def streets_from(lines: gpd.GeoDataFrame, config: dict) -> gpd.GeoDataFrame:
    classes = set(_value(config, "streets", "highway_classes"))
    lines = lines[lines["highway"].isin(classes)].reset_index(drop=True)
    tags = _tags(lines)
    return gpd.GeoDataFrame({
        "id": "osm:w" + lines["osm_id"].astype(str),
        "name": lines["name"],
        "class": lines["highway"],
        "walkable": _walkable(lines["highway"], tags, config),
    }, geometry=lines.geometry.values, crs=4326)


def _osm_ids(frame: pd.DataFrame, kind: str) -> pd.Series:
    if kind == "points":
        return "osm:n" + frame["osm_id"].astype(str)
    way = frame["osm_way_id"]
    return pd.Series(np.where(way.notna(), "osm:w" + way.astype(str), "osm:r" + frame["osm_id"].astype(str)),
                     index=frame.index)


def facilities_from(points: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """POIs whose tags match the facility catalog; areas are represented by a point inside them."""
    parts = []
    for kind, frame in (("points", points), ("polygons", polygons)):
        tags = _tags(frame)
        types = pd.Series([catalog.match_osm_tags(t) for t in tags], index=frame.index, dtype=object)
        hit = types.notna()
        if not hit.any():
            continue
        sub = frame[hit]
        geoms = np.asarray(sub.geometry.values)
        if kind == "polygons":
            geoms = shapely.point_on_surface(shapely.make_valid(geoms))
        parts.append(gpd.GeoDataFrame({
            "id": _osm_ids(sub, kind).to_numpy(),
            "type": types[hit].to_numpy(),
            "name": sub["name"].to_numpy(),
            "status": "existing",
        }, geometry=geoms, crs=4326))
    if not parts:
        return gpd.GeoDataFrame({"id": [], "type": [], "name": [], "status": []}, geometry=[], crs=4326)
    return pd.concat(parts, ignore_index=True)


def _matches(tags: list[dict[str, str]], wanted: dict[str, list[str]]) -> np.ndarray:
    return np.array([any(t.get(k) in v for k, v in wanted.items()) for t in tags], dtype=bool)


def _polygonal(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Repair invalid polygons, keeping only their polygonal parts; returns how many were repaired."""
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid])
        polys = shapely.get_parts(fixed, return_index=True)
        parts, owner = polys
        keep = np.isin(shapely.get_type_id(parts), [3, 6])
        merged = np.array([shapely.union_all(parts[keep][owner[keep] == i]) for i in range(len(fixed))])
        geoms = geoms.copy()
        geoms[invalid] = merged
    return geoms, int(invalid.sum())


def _gates(points: gpd.GeoDataFrame | None, areas: np.ndarray, config: dict) -> list[str | None]:
    """Gate nodes (barrier=gate, entrance=*) on each compound's boundary, as WKT MULTIPOINT."""
    out: list[str | None] = [None] * len(areas)
    if points is None or not len(points) or not len(areas):
        return out
    tags = _tags(points)
    wanted = _value(config, "residences", "gate_tags")
    is_gate = np.array([any(t.get(k) in v or (v == ["*"] and k in t) for k, v in wanted.items()) for t in tags],
                       dtype=bool)
    if not is_gate.any():
        return out
    gates = np.asarray(points.geometry.values)[is_gate]
    tol_deg = float(_value(config, "residences", "gate_tolerance_m")) / 111_000  # metres → degrees of latitude
    pairs = shapely.STRtree(shapely.boundary(areas)).query(gates, predicate="dwithin", distance=tol_deg)
    for area in np.unique(pairs[1]):
        out[area] = shapely.to_wkt(shapely.multipoints(gates[pairs[0][pairs[1] == area]]), rounding_precision=7)
    return out


def residences_from(polygons: gpd.GeoDataFrame, config: dict,
                    points: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Residential compounds and stand-alone residential buildings, with estimated people and gates."""
    notes = []
    tags = _tags(polygons)
    is_area = _matches(tags, _value(config, "residences", "area_tags"))
    is_building = _matches(tags, _value(config, "residences", "building_tags")) & ~is_area
    geoms, repaired = _polygonal(np.asarray(polygons.geometry.values))
    if repaired:
        notes.append(f"{repaired} invalid OSM polygons repaired with make_valid")
    areas = geoms[is_area]
    # Buildings inside a compound belong to it; only stand-alone ones become residences.
    tree = shapely.STRtree(areas)
    b_idx = np.flatnonzero(is_building)
    inside = tree.query(shapely.point_on_surface(geoms[b_idx]), predicate="within")
    standalone = np.setdiff1d(b_idx, b_idx[np.unique(inside[0])])
    metric = gpd.GeoSeries(geoms, crs=4326).to_crs(gpd.GeoSeries(geoms, crs=4326).estimate_utm_crs())
    area_m2 = metric.area.to_numpy()

    far = float(_value(config, "residences", "floor_area_ratio"))
    per_hh = float(_value(config, "residences", "gross_m2_per_household"))
    default_levels = float(_value(config, "residences", "default_building_levels"))
    levels = pd.to_numeric(pd.Series([t.get("building:levels") for t in tags]), errors="coerce").to_numpy()
    levels = np.where(np.isfinite(levels) & (levels > 0), levels, default_levels)
    floor = np.where(is_area, area_m2 * far, area_m2 * levels)
    households = np.maximum(np.rint(floor / per_hh), 1).astype(int)

    rows = np.concatenate([np.flatnonzero(is_area), standalone])
    hh = households[rows]
    pop = np.rint(hh * float(_value(config, "residences", "persons_per_household"))).astype(int)
    frame = gpd.GeoDataFrame({
        "id": _osm_ids(polygons, "polygons").to_numpy()[rows],
        "name": polygons["name"].to_numpy()[rows],
        "kind": np.where(is_area[rows], "area", "building"),
        "households": hh,
        "population": pop,
        "elderly": np.rint(pop * float(_value(config, "residences", "elderly_share"))).astype(int),
        "children": np.rint(pop * float(_value(config, "residences", "children_share"))).astype(int),
        "estimated": True,
        "gates": _gates(points, geoms[rows], config),
    }, geometry=geoms[rows], crs=4326)
    n_gates = int(frame["gates"].notna().sum())
    if n_gates:
        notes.append(f"{n_gates} compounds have gate nodes (barrier=gate/entrance) on their boundary: "
                     "the walking analysis enters them there")
    return frame, notes


def read_osm(path: str | Path, config: dict | None = None,
             progress: Callable[[str], None] | None = None) -> OsmLayers:
    """Read an ``.osm.pbf`` (or ``.osm``) file into the three OSM-derived layers."""
    config = config or load_config()
    path = Path(path)
    step = progress or (lambda _msg: None)
    step("reading ways")
    lines = pyogrio.read_dataframe(path, layer="lines")
    step("reading nodes")
    points = pyogrio.read_dataframe(path, layer="points")
    step("reading areas")
    polygons = pyogrio.read_dataframe(path, layer="multipolygons")
    step("mapping streets")
    streets = streets_from(lines, config)
    step("mapping facilities")
    facilities = facilities_from(points, polygons)
    step("estimating residences")
    residences, notes = residences_from(polygons, config, points)
    return OsmLayers(streets, facilities, residences, notes)


def import_osm(store: Store, path: str | Path, *, config: dict | None = None, mode: str = "replace",
               show_progress: bool = True) -> tuple[dict[str, int], list[str]]:
    """Read, validate and write the OSM layers in one transaction: all three or none."""
    steps = ["reading ways", "reading nodes", "reading areas", "mapping streets", "mapping facilities",
             "estimating residences", "validating", "writing"]
    bar = tqdm(total=len(steps), desc="import-osm", unit="step", disable=not show_progress)

    def progress(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update(1)

    layers = read_osm(path, config, progress)
    progress("validating")
    name = Path(path).name
    validated = {k: validate(v, LAYERS[k], source=f"{name} ({k})") for k, v in layers.frames().items()}
    progress("writing")
    results = store.write_layers(validated, mode=mode)
    bar.close()
    return {k: r.inserted for k, r in results.items()}, layers.notes
