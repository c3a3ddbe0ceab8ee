"""Life-circle audit: does each life circle have what its level requires?

Each circle is checked against its own level's list only (GB 50180-2018 tiers are not inclusive:
a 15-minute facility never stands in for a 5-minute one). For every required type the audit says
whether one lies inside the circle, what share of the circle's residents reach one within the
level's walking distance, and what is missing; and it compares the circle's population with the
level's range. The requirement table is data: ``data/life_circle_requirements.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.gis.coverage import Coverage, thresholds
from shequ.gis.isochrones import DEFAULT_BUFFER_M, service_areas
from shequ.gis.network import WalkNetwork
from shequ.layers import catalog


@dataclass(frozen=True)
class Requirement:
    level: str
    type: str
    required: str  # ▲ required, △ optional
    source: str
    clause: str
    status: str


@functools.cache
def _titles() -> dict[str, str]:
    return json.loads(resources.files("shequ.data").joinpath("life_circle_requirements.json")
                      .read_text(encoding="utf-8"))["sources"]


def _cited(r: Requirement) -> str:
    """The document a requirement comes from and its clause, as a reader looks it up (not a source key)."""
    titles = _titles()
    title = re.split(r"[,:]", str(titles.get(r.source, r.source)))[0].strip()
    first = r.clause.split()[0] if r.clause.split() else ""
    if first and title.endswith(" " + first):  # "… GB 50437-2007 (2018年版) 表3.1.2" + "表3.1.2 (…)"
        title = title[: -len(first) - 1]
    return f"{title} {r.clause}".strip()


def load_requirements(path: str | Path | None = None) -> dict[str, list[Requirement]]:
    """The per-level requirement table (shipped file unless ``path`` is given)."""
    text = (Path(path).read_text(encoding="utf-8") if path else
            resources.files("shequ.data").joinpath("life_circle_requirements.json").read_text(encoding="utf-8"))
    doc = json.loads(text)
    known = catalog.load_facility_types()
    out = {}
    for level, rows in doc["levels"].items():
        for r in rows:
            if r["type"] not in known:
                raise ValueError(catalog.unknown_type_message(r["type"]))
        out[level] = [Requirement(level, r["type"], r["required"], r["source"], r["clause"], r["status"])
                      for r in rows]
    return out


def generate_life_circles(network: WalkNetwork, centres: gpd.GeoDataFrame, level: str,
                          buffer_m: float = DEFAULT_BUFFER_M) -> gpd.GeoDataFrame:
    """Life circles drawn as the walking service area of each centre at the level's distance."""
    distance = thresholds(["kindergarten"], level=level)["kindergarten"].distance_m
    areas = service_areas(network, np.asarray(centres.to_crs(network.crs).geometry.values), distance, buffer_m)
    out = centres.drop(columns=centres.geometry.name).copy()
    out["level"] = level
    return gpd.GeoDataFrame(out, geometry=areas, crs=network.crs).to_crs(4326)


def audit(network: WalkNetwork, circles: gpd.GeoDataFrame, residences: gpd.GeoDataFrame,
          facilities: gpd.GeoDataFrame, requirements: dict[str, list[Requirement]] | None = None, *,
          gates: Sequence[object] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(findings per circle × required type, one row per circle). ``gates``: each residence's own
    gates, aligned with ``residences`` (as ``Coverage`` takes them)."""
    requirements = requirements or load_requirements()
    levels = catalog.load_life_circle_levels()
    circles = circles.to_crs(4326).reset_index(drop=True)
    residences = residences.to_crs(4326).reset_index(drop=True)
    facilities = facilities.to_crs(4326).reset_index(drop=True)
    fac_tree = shapely.STRtree(np.asarray(facilities.geometry.values))
    inside = fac_tree.query(np.asarray(circles.geometry.values), predicate="contains")
    fac_types = facilities["type"].to_numpy()
    # Residences belong to every circle their inner point lies in (circles may overlap).
    points = shapely.point_on_surface(np.asarray(residences.geometry.values))
    members_of = shapely.STRtree(points).query(np.asarray(circles.geometry.values), predicate="contains").T
    population = residences["population"].astype(float).fillna(0).to_numpy() if "population" in residences \
        else np.zeros(len(residences))

    findings, summary = [], []
    for level, group in circles.groupby("level", sort=False):
        reqs = requirements.get(level, [])
        walk = levels[level].walk_distance_m if level in levels else None
        covered = {}
        res_in = [members_of[members_of[:, 0] == i, 1] for i in group.index]
        if walk is not None and walk.value is not None and reqs:
            types = [r.type for r in reqs]
            members = np.unique(np.concatenate(res_in)) if res_in else np.empty(0, dtype=int)
            if len(members):
                result = Coverage(network, residences.iloc[members], facilities, thresholds(types, level=level),
                                  gates=None if gates is None else [gates[i] for i in members]).solve().long
                for t in types:
                    flags = np.zeros(len(residences), dtype=bool)
                    part = result[result["type"] == t].sort_values("residence")
                    flags[members] = part["covered"].to_numpy()
                    covered[t] = flags
        for i, res_idx in zip(group.index, res_in, strict=True):
            code = circles.at[i, "code"]
            pop = float(population[res_idx].sum())
            here = fac_types[inside[1][inside[0] == i]]
            missing = 0
            for r in reqs:
                present = int((here == r.type).sum())
                share = (float(population[res_idx][covered[r.type][res_idx]].sum() / pop)
                         if r.type in covered and pop > 0 else np.nan)
                status = "present" if present else ("reachable" if share > 0 else "missing")
                missing += status == "missing" and r.required == "▲"
                findings.append({"code": code, "level": level, "type": r.type,
                                 "name_zh": catalog.load_facility_types()[r.type].name_zh, "required": r.required,
                                 "present": present, "population_share_reached": share, "status": status,
                                 "source": _cited(r), "source_status": r.status})
            pop_range = levels[level].population if level in levels else None
            summary.append({"code": code, "level": level, "population": pop,
                            "population_range": pop_range.value if pop_range else None,
                            "population_check": _range_check(pop, pop_range.value if pop_range else None),
                            "population_range_status": pop_range.status if pop_range else None,
                            "required_types": sum(r.required == "▲" for r in reqs),
                            "missing_required": missing})
    return pd.DataFrame(findings), pd.DataFrame(summary)


def _range_check(value: float, rng: object) -> str:
    if not rng:
        return "no range"
    lo, hi = rng
    return "below" if value < lo else "above" if value > hi else "within"
