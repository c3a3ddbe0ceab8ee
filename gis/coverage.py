"""Coverage: for each facility type and each residence, the nearest facility along the walking network.

Model object in the spopt manner: build with ``Coverage.from_geodataframes(...)``, then ``solve()``.
Network and straight-line results are computed side by side, so a planner sees how much a circle
on the map would overstate coverage.

Rules (also in README):
- a point residence is its own entry; a polygon residence (a 小区 compound) is entered wherever the
  walkable network meets it: every point where a street crosses or touches its boundary, and its
  own gates (gate points within 10 m of its boundary; gates are given per residence, so a
  neighbour's gate is never its entry). Only a compound with neither is entered at the boundary
  point nearest the streets outside it (the main network rather than an island when that costs at
  most 5 m more; ties go by position, never by the order of the data). The best entry counts;
- a facility inside a compound serves it directly (distance 0);
- distances are network metres: access leg from the entry to the street + along the streets +
  access leg from the street to the facility; a residence is covered when that is ≤ the type's
  service distance (per type, from the facility catalog, or per life-circle level);
- residences whose every entry snaps to a network island (a component other than the largest)
  are flagged ``island``; their distances stand as computed on that island.

Nothing depends on the order of streets or residences, nor on ring orientation: an export → import
round trip gives the same distances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.gis.network import Snap, WalkNetwork
from shequ.gis.reach import ReachGraph
from shequ.layers import catalog

PEOPLE = ("households", "population", "elderly", "children")
#: distances are compared with this slack: reprojecting WGS84 storage to metres rounds at ~1e-9 m
DISTANCE_TOLERANCE_M = 1e-6
#: radius given to point residences (single buildings) when dissolving gap areas, metres
POINT_GAP_RADIUS_M = 15.0

#: gates as ``Coverage`` takes them, one item per residence: a Point or MultiPoint, its WKT, or None
Gates = gpd.GeoSeries | Sequence[shapely.Geometry | str | None]


@dataclass(frozen=True)
class Threshold:
    """The walking distance that counts as covered for one facility type, with where it comes from."""

    type: str
    distance_m: float
    source: str
    status: str
    note: str = ""


def thresholds(types: Iterable[str], *, level: str | None = None,
               overrides: dict[str, float] | None = None) -> dict[str, Threshold]:
    """Per-type distances: the catalog's service distance, or a life-circle level's walking distance.

    GB 50180-2018 gives distances per level (15-min 800–1000 m, 10-min ≈ 500 m, 5-min 300 m), not a
    walking speed; a range is read at its upper end and the choice is said in ``note``.
    """
    types_ = catalog.load_facility_types()
    out = {}
    level_distance = None
    if level is not None:
        levels = catalog.load_life_circle_levels()
        if level not in levels:
            raise ValueError(f"unknown level {level!r}: use {', '.join(levels)}")
        walk = levels[level].walk_distance_m
        value = walk.value[-1] if isinstance(walk.value, (list, tuple)) else walk.value
        if value is None:
            raise ValueError(f"level {level!r} has no walking distance")
        note = f"upper end of {walk.value[0]}–{walk.value[1]} m" if isinstance(walk.value, (list, tuple)) else ""
        level_distance = Threshold("", float(value), catalog.citation(walk.source, walk.clause, catalog.LEVELS_FILE),
                                   walk.status, note)
    for t in types:
        if t not in types_:
            raise ValueError(catalog.unknown_type_message(t))
        if overrides and t in overrides:
            out[t] = Threshold(t, float(overrides[t]), "用户设定 / user setting", "assumption")
        elif level_distance is not None:
            out[t] = Threshold(t, level_distance.distance_m, level_distance.source, level_distance.status,
                               f"{level} level distance" + (f", {level_distance.note}" if level_distance.note else ""))
        else:
            d = types_[t].service_distance_m
            if d.value is None:
                raise ValueError(f"facility type {t!r} has no service distance in the catalog; give one")
            out[t] = Threshold(t, float(d.value), catalog.citation(d.source, d.clause), d.status, d.note)
    return out


@dataclass
class CoverageResult:
    """Per-residence distances for each type, plus what is needed to aggregate and map them."""

    long: pd.DataFrame  # one row per residence × type
    residences: gpd.GeoDataFrame  # WGS84, the input residences
    facilities: gpd.GeoDataFrame  # WGS84, the input facilities
    thresholds: dict[str, Threshold]
    islands: pd.DataFrame
    network: WalkNetwork = field(repr=False)

    @property
    def types(self) -> list[str]:
        return list(self.thresholds)

    def wide(self) -> gpd.GeoDataFrame:
        """Residences with ``<type>_m``, ``<type>_covered``, ``<type>_facility`` and straight-line columns."""
        out = self.residences.copy()
        for t in self.types:
            part = self.long[self.long["type"] == t].set_index("residence")
            out[f"{t}_m"] = part["distance_m"].to_numpy()
            out[f"{t}_facility"] = part["facility_id"].to_numpy()
            out[f"{t}_covered"] = part["covered"].to_numpy()
            out[f"{t}_line_m"] = part["straight_m"].to_numpy()
            out[f"{t}_line_covered"] = part["covered_straight"].to_numpy()
        return out

    def summary(self, zones: pd.Series | None = None, name: str = "zone") -> pd.DataFrame:
        """Households, population, elderly and children covered per zone (or overall) and type."""
        people = self.residences[[c for c in PEOPLE if c in self.residences]].reset_index(drop=True)
        people = people.astype(float).fillna(0)
        zone = (pd.Series("all", index=people.index) if zones is None
                else pd.Series(np.asarray(zones), index=people.index))
        frames = []
        for t in self.types:
            part = self.long[self.long["type"] == t].set_index("residence").sort_index()
            covered = part["covered"].to_numpy()
            straight = part["covered_straight"].to_numpy()
            g = pd.DataFrame({name: zone.to_numpy(), "type": t, "residences": 1,
                              "residences_covered": covered.astype(int)})
            for c in people.columns:
                g[c] = people[c].to_numpy()
                g[f"{c}_covered"] = people[c].to_numpy() * covered
                g[f"{c}_covered_straight"] = people[c].to_numpy() * straight
            frames.append(g)
        table = pd.concat(frames).groupby([name, "type"], dropna=False, sort=True).sum().reset_index()
        for c in people.columns:
            with np.errstate(invalid="ignore", divide="ignore"):
                table[f"{c}_rate"] = table[f"{c}_covered"] / table[c]
                table[f"{c}_rate_straight"] = table[f"{c}_covered_straight"] / table[c]
        table["distance_m"] = table["type"].map({t: th.distance_m for t, th in self.thresholds.items()})
        table["distance_status"] = table["type"].map({t: th.status for t, th in self.thresholds.items()})
        return table

    def gaps(self) -> gpd.GeoDataFrame:
        """Uncovered residences dissolved into connected gap areas per type, with the people in them."""
        metric = self.residences.to_crs(self.network.crs)
        geoms = np.asarray(metric.geometry.values)
        is_point = shapely.get_type_id(geoms) == 0
        shapes = np.where(is_point, shapely.buffer(geoms, POINT_GAP_RADIUS_M), geoms)
        people = metric[[c for c in PEOPLE if c in metric]].astype(float).fillna(0).to_numpy()
        rows = []
        for t in self.types:
            part = self.long[self.long["type"] == t].set_index("residence").sort_index()
            idx = np.flatnonzero(~part["covered"].to_numpy())
            if not len(idx):
                continue
            clusters = shapely.get_parts(shapely.union_all(shapes[idx]))
            owner = shapely.STRtree(clusters).query(shapely.point_on_surface(shapes[idx]), predicate="intersects")
            _, first = np.unique(owner[0], return_index=True)
            cluster_of = np.full(len(idx), -1)
            cluster_of[owner[0][first]] = owner[1][first]
            sums = np.zeros((len(clusters), people.shape[1]))
            np.add.at(sums, cluster_of, people[idx])
            count = np.bincount(cluster_of, minlength=len(clusters))
            for k, geom in enumerate(clusters):
                rows.append({"type": t, "name_zh": catalog.load_facility_types()[t].name_zh,
                             "distance_m": self.thresholds[t].distance_m, "residences": int(count[k]),
                             **{c: float(sums[k, j]) for j, c in enumerate(PEOPLE[: people.shape[1]])},
                             "geometry": geom})
        if not rows:
            return gpd.GeoDataFrame({"type": []}, geometry=[], crs=4326)
        return gpd.GeoDataFrame(rows, crs=self.network.crs).to_crs(4326)


class Coverage:
    """Walking coverage of residences by facility types.

    ``gates`` holds each residence's own gates, aligned with the residences by position: a Point or
    MultiPoint, its WKT (what ``layers/osm.py`` writes, kept in ``extra["gates"]`` by the store), or
    None. A GeoSeries is read in its own CRS, anything else as WGS84. Without ``gates``, a ``gates``
    column of the residences (geometries or WKT, WGS84 unless a GeoSeries) is used when there is one.
    Gates farther than 10 m from their own residence's boundary are ignored; the same point listed
    by two compounds is an entry of both.
    """

    def __init__(self, network: WalkNetwork, residences: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                 thresholds: dict[str, Threshold], *, gates: Gates | None = None,
                 search_beyond_m: float = 0.0) -> None:
        self.network = network
        self.residences = residences.to_crs(4326).reset_index(drop=True)
        self.facilities = facilities.to_crs(4326).reset_index(drop=True)
        self.thresholds = thresholds
        if gates is None and "gates" in residences:
            gates = residences["gates"]
        self.gates = gates
        self.search_beyond_m = search_beyond_m

    @classmethod
    def from_geodataframes(cls, streets: gpd.GeoDataFrame, residences: gpd.GeoDataFrame,
                           facilities: gpd.GeoDataFrame, *, types: Iterable[str] | None = None,
                           level: str | None = None, distances: dict[str, float] | None = None,
                           gates: Gates | None = None, network: WalkNetwork | None = None,
                           search_beyond_m: float = 0.0) -> Coverage:
        """Build from layers; ``types`` defaults to every type present among the facilities."""
        network = network or WalkNetwork.from_streets(streets)
        types = list(types) if types is not None else sorted(facilities["type"].dropna().unique())
        return cls(network, residences, facilities, thresholds(types, level=level, overrides=distances),
                   gates=gates, search_beyond_m=search_beyond_m)

    def gate_geometries(self) -> np.ndarray | None:
        """Each residence's gates in the network's CRS (None where it has none)."""
        gates, n = self.gates, len(self.residences)
        if gates is None:
            return None
        values = np.asarray(gates.to_numpy() if isinstance(gates, pd.Series) else list(gates), dtype=object)
        if len(values) != n:
            raise ValueError(f"gates: one item per residence ({n}) expected, got {len(values)}; "
                             "give each residence its own gates (None where it has none)")
        out = np.full(n, None, dtype=object)
        is_geom = shapely.is_geometry(values)
        out[is_geom] = values[is_geom]
        missing = pd.isna(values) | np.array([isinstance(v, str) and not v.strip() for v in values], dtype=bool)
        text = ~is_geom & ~missing
        if text.any():
            if not all(isinstance(v, str) for v in values[text]):
                raise TypeError("gates: each item must be a Point/MultiPoint geometry, its WKT, or None")
            out[text] = shapely.from_wkt(values[text].astype(str))
        crs = gates.crs if isinstance(gates, gpd.GeoSeries) and gates.crs is not None else 4326
        return np.asarray(gpd.GeoSeries(out, crs=crs).to_crs(self.network.crs).values)

    def solve(self, progress: Callable[[Iterable], Iterable] | None = None) -> CoverageResult:
        net = self.network
        res_m = np.asarray(self.residences.to_crs(net.crs).geometry.values)
        fac_m = np.asarray(self.facilities.to_crs(net.crs).geometry.values)
        entries = net.entries(res_m, self.gate_geometries())
        entry_snap, owner = entries.snap, entries.owner
        fac_snap = net.snap(fac_m) if len(fac_m) else Snap(np.empty(0, dtype=int), np.empty(0), np.empty(0),
                                                             np.empty((0, 2)))
        n_res = len(res_m)
        reach_graph = ReachGraph.build(net, fac_snap, entry_snap, owner, n_res)
        island = np.ones(n_res, dtype=bool)
        np.logical_and.at(island, owner, net.edge_component(entry_snap.edge) != net.main_component)
        types_col = self.facilities["type"].to_numpy()
        fac_ids = self.facilities["id"].to_numpy() if "id" in self.facilities else np.arange(len(fac_m))
        is_area = np.isin(shapely.get_type_id(res_m), [3, 6])
        frames = []
        iterate = progress(self.types) if progress else self.types
        for t in iterate:
            limit = self.thresholds[t].distance_m
            rows = np.flatnonzero(types_col == t)
            reach = reach_graph.nearest(rows, limit + DISTANCE_TOLERANCE_M + self.search_beyond_m)
            dist, src = reach.distance.copy(), reach.source
            # A facility inside the compound serves it directly.
            if len(rows) and is_area.any():
                inside = shapely.STRtree(fac_m[rows]).query(res_m, predicate="contains")
                dist[inside[0]] = 0.0
                src[inside[0]] = rows[inside[1]]
            line_d, line_src = _straight(res_m, fac_m[rows], rows)
            frames.append(pd.DataFrame({
                "residence": np.arange(n_res), "type": t,
                "distance_m": dist, "facility_id": _ids(fac_ids, src),
                "covered": dist <= limit + DISTANCE_TOLERANCE_M,
                "straight_m": line_d,
                "straight_facility_id": _ids(fac_ids, line_src),
                "covered_straight": line_d <= limit + DISTANCE_TOLERANCE_M, "island": island,
            }))
        long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if "id" in self.residences and len(long):
            long.insert(1, "residence_id", self.residences["id"].to_numpy()[long["residence"].to_numpy()])
        return CoverageResult(long, self.residences, self.facilities, self.thresholds, net.islands(), net)

    @property
    def types(self) -> list[str]:
        return list(self.thresholds)


def _ids(ids: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The facility id of each index, None where there is none (-1, or no facility at all near)."""
    if not len(ids):
        return np.full(len(index), None, dtype=object)
    return np.where(index >= 0, ids[np.maximum(index, 0)], None)


def _straight(res: np.ndarray, fac: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line distance from each residence (its edge, 0 inside) to the nearest facility."""
    if not len(fac):
        return np.full(len(res), np.inf), np.full(len(res), -1)
    idx, d = shapely.STRtree(fac).query_nearest(res, return_distance=True, all_matches=False)
    out_d = np.full(len(res), np.inf)
    out_s = np.full(len(res), -1)
    out_d[idx[0]] = d
    out_s[idx[0]] = rows[idx[1]]
    return out_d, out_s


def assign_zones(residences: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, key: str) -> pd.Series:
    """The zone (community, grid, life circle) each residence lies in, by a point inside it."""
    pts = gpd.GeoSeries(shapely.point_on_surface(np.asarray(residences.to_crs(4326).geometry.values)), crs=4326)
    zones = zones.to_crs(4326)
    hit = shapely.STRtree(np.asarray(zones.geometry.values)).query(np.asarray(pts.values), predicate="within")
    out = pd.Series([None] * len(residences), index=residences.index, dtype=object)
    _, first = np.unique(hit[0], return_index=True)
    out.iloc[hit[0][first]] = zones[key].to_numpy()[hit[1][first]]
    return out
