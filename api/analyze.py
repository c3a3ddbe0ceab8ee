"""`shequ analyze coverage`: store → gis analysis → files, map and saved results.

Glue only: the analysis itself is ``shequ.gis``; this module reads the layers, calls it, writes
the outputs and records the run in the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm import tqdm

from shequ.gis.audit import audit
from shequ.gis.coverage import Coverage, assign_zones, thresholds
from shequ.gis.isochrones import DEFAULT_BUFFER_M, service_areas
from shequ.gis.network import WalkNetwork
from shequ.layers import catalog, results
from shequ.layers.store import Store
from shequ.web.coverage_map import coverage_map
from shequ.web.offline import to_html

DEFAULT_TYPES = ["kindergarten", "primary_school", "community_health_station", "market", "elderly_day_care"]


@dataclass
class CoverageRun:
    out: Path
    run_id: int | None
    summary: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    islands: pd.DataFrame | None = None


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """RFC 7946 GeoJSON of an analysis frame (free columns, unlike a layer's; infinities become null)."""
    gdf = gdf.to_crs(4326)
    frame = gdf.copy()
    for c in frame.columns:
        if c == frame.geometry.name:
            continue
        if frame[c].dtype.kind == "f":
            frame[c] = frame[c].where(np.isfinite(frame[c]), None).astype(object)
    feats = []
    geoms = shapely.orient_polygons(np.asarray(frame.geometry.values), exterior_cw=False)
    props = frame.drop(columns=frame.geometry.name).astype(object)
    props = props.where(props.notna(), None).to_dict("records")
    for p, g in zip(props, geoms, strict=True):
        p = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in p.items()}
        feats.append({"type": "Feature", "properties": p, "geometry": json.loads(shapely.to_geojson(g))})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False,
                               separators=(",", ":")), encoding="utf-8")
    return path


def run_coverage(store: Store, out: str | Path, *, types: list[str] | None = None, level: str | None = None,
                 distances: dict[str, float] | None = None, buffer_m: float = DEFAULT_BUFFER_M,
                 search_beyond_m: float = 0.0, save: bool = True, show_progress: bool = True) -> CoverageRun:
    """Run coverage on the store's layers and write everything to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    streets, residences, facilities = store.read("streets"), store.read("residences"), store.read("facilities")
    for name, frame in (("streets", streets), ("residences", residences)):
        if frame.empty:
            raise ValueError(f"the {name} layer is empty: import it first (shequ import-osm or shequ import {name})")
    types = types or [t for t in DEFAULT_TYPES if t in set(facilities["type"])] or \
        sorted(facilities["type"].dropna().unique())
    bar = tqdm(total=6 + len(types), desc="coverage", unit="step", disable=not show_progress)

    def step(msg: str) -> None:
        bar.set_postfix_str(msg)
        bar.update(1)

    step("network")
    network = WalkNetwork.from_streets(streets)
    gates = _gates(residences)
    model = Coverage(network, residences, facilities, thresholds(types, level=level, overrides=distances),
                     gates=gates, search_beyond_m=search_beyond_m)

    def progress(items: list[str]):
        for t in items:
            step(t)
            yield t

    result = model.solve(progress)
    step("summaries")
    zones = {"all": None}
    for layer, key in (("communities", "code"), ("grids", "code"), ("lifecircles", "code")):
        frame = store.read(layer)
        if len(frame):
            zones[layer] = assign_zones(residences, frame, key)
    tables = []
    for kind, z in zones.items():
        t = result.summary(z, name="zone")
        t.insert(0, "zone_kind", kind)
        tables.append(t)
    summary = pd.concat(tables, ignore_index=True)
    summary.insert(3, "name_zh", summary["type"].map(lambda t: catalog.load_facility_types()[t].name_zh))
    summary["distance_source"] = summary["type"].map({t: th.source for t, th in result.thresholds.items()})

    step("gaps")
    gaps = result.gaps()
    step("service areas")
    fac = facilities[facilities["type"].isin(types)].reset_index(drop=True)
    polys = service_areas(network, np.asarray(fac.to_crs(network.crs).geometry.values),
                          fac["type"].map({t: th.distance_m for t, th in result.thresholds.items()}).to_numpy(),
                          buffer_m) if len(fac) else np.empty(0, dtype=object)
    areas = gpd.GeoDataFrame({"facility_id": fac["id"], "type": fac["type"],
                              "distance_m": fac["type"].map({t: th.distance_m for t, th in result.thresholds.items()})},
                             geometry=polys, crs=network.crs).to_crs(4326)
    step("audit")
    circles = store.read("lifecircles")
    findings = circle_summary = None
    if len(circles):
        findings, circle_summary = audit(network, circles, residences, facilities)
        circles = circles.merge(circle_summary, on=["code", "level"], how="left")

    wide = result.wide()
    files = [
        _write_geojson(wide, out / "residences_coverage.geojson"),
        _write_geojson(gaps, out / "gaps.geojson"),
        _write_geojson(areas, out / "service_areas.geojson"),
    ]
    summary.to_csv(out / "summary.csv", index=False, encoding="utf-8-sig")
    files.append(out / "summary.csv")
    if findings is not None:
        findings.to_csv(out / "lifecircle_audit.csv", index=False, encoding="utf-8-sig")
        files.append(out / "lifecircle_audit.csv")
    if len(result.islands):
        result.islands.to_csv(out / "network_islands.csv", index=False)
        files.append(out / "network_islands.csv")
    m = coverage_map(result, gaps=gaps, areas=areas, streets=streets, communities=store.read("communities"),
                     circles=circles if len(circles) else None)
    (out / "coverage_map.html").write_text(to_html(m, "inline"), encoding="utf-8")
    files.append(out / "coverage_map.html")

    run_id = None
    if save:
        params = {"types": types, "level": level, "buffer_m": buffer_m, "search_beyond_m": search_beyond_m,
                  "thresholds": {t: vars(th) for t, th in result.thresholds.items()},
                  "network": {"crs": network.crs.to_string(), "nodes": network.n_nodes, "edges": network.n_edges,
                              "islands": len(result.islands)}}
        run_id = results.save_coverage(store.engine, params, summary[summary["zone_kind"] == "all"],
                                       result.long, gaps, areas)
    step("done")
    bar.close()
    return CoverageRun(out, run_id, summary, files, result.islands)


def _gates(residences: gpd.GeoDataFrame) -> gpd.GeoSeries | None:
    """Gate points from the residences' ``gates`` attribute (WKT MultiPoint), when the data has them."""
    if "extra" not in residences:
        return None
    wkt = [e.get("gates") for e in residences["extra"] if isinstance(e, dict) and e.get("gates")]
    if not wkt:
        return None
    parts = shapely.get_parts(shapely.from_wkt(wkt))
    return gpd.GeoSeries(parts, crs=4326)
