"""Walking coverage: who lacks which facility within a walk, for the whole data or one area.

The one coverage pipeline: ``shequ analyze coverage``, ``POST /analyses/coverage`` and
``/maps/coverage`` all call ``coverage`` with a ``CoverageQuery`` and get the same
``CoverageOutcome`` (per residence × type, summaries, gaps, the life-circle audit), so every door
gives the same numbers. One default type list, one rule for compound gates (each compound's own,
from the data), one candidate search (in metres: right at every latitude), one network (the whole
data's, so an area's numbers equal the whole's for the same residences).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.errors import InvalidInput, NoData, UnknownName
from shequ.gis.audit import audit
from shequ.gis.coverage import Coverage, CoverageResult, Threshold, assign_zones, thresholds
from shequ.gis.isochrones import DEFAULT_BUFFER_M, service_areas
from shequ.gis.nearby import within_reach
from shequ.layers import catalog, results
from shequ.layers.exporting import write_analysis_geojson
from shequ.layers.osm import OSM_ESTIMATE
from shequ.layers.scenarios import check_name
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.scenarios import snapshot_for
from shequ.usecases.workspace import Snapshot, Workspace

#: the facility types measured when none are named (those of them present in the data): what the
#: five-minute and ten-minute life circles are judged on first (GB 50180-2018 附录B)
DEFAULT_TYPES = ("kindergarten", "primary_school", "community_health_station", "market", "elderly_day_care")
LEVELS = ("5min", "10min", "15min")
#: a distance a user sets is a walk, not a drive
MAX_DISTANCE_M = 10_000.0
#: how far past a type's service distance a map looks for the nearest facility by walking, so a popup
#: on an uncovered compound can say which facility is nearest and how far a walk it is
MAP_SEARCH_BEYOND_M = 3000.0
#: the zones coverage is summed over, with their key
ZONES = (("communities", "code"), ("grids", "code"), ("lifecircles", "code"))


# ---- the question ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageQuery:
    """What to measure; hashable, so results are cached by it. Build it with ``CoverageQuery.parse``."""

    types: tuple[str, ...] = ()  # facility type codes; empty: the defaults present in the data
    level: str | None = None  # a life-circle level's distance for every type, else each type's own
    distances: tuple[tuple[str, float], ...] = ()  # metres per type, overriding the catalog
    area: str = ""  # a community code, a 6/9-digit county/street prefix, or everything
    bbox: tuple[float, float, float, float] | None = None  # residences in this WGS84 box
    search_beyond_m: float = 0.0  # also find nearest facilities this far beyond the distance
    scenario: str = ""  # a stored scenario's layers instead of the real ones

    @classmethod
    def parse(cls, types: Iterable[str] | None = None, level: str | None = None,
              distances: Mapping[str, float] | None = None, area: str | None = None,
              bbox: Sequence[float] | None = None, search_beyond_m: float = 0.0, *,
              max_types: int = 8, scenario: str | None = None) -> CoverageQuery:
        """Check a request from any door; every mistake is an ``InvalidInput`` saying what is accepted.

        ``types`` may repeat or hold comma lists, by code or by Chinese or English name.
        """
        codes = resolve_types(types)
        if len(codes) > max_types:
            raise InvalidInput(f"at most {max_types} facility types at a time (got {len(codes)})",
                               zh=f"一次最多选 {max_types} 类设施（现选了 {len(codes)} 类）")
        level = (level or "").strip() or None
        if level is not None and level not in LEVELS:
            raise InvalidInput(f"unknown level {level!r}: use {', '.join(LEVELS)} or leave it empty",
                               zh=f"未知的生活圈层级 {level!r}：可选 {'、'.join(LEVELS)}，或留空")
        pairs = []
        for name, metres in (distances or {}).items():
            code = catalog.lookup(str(name))
            if code is None:
                raise UnknownName(catalog.unknown_type_message(str(name)),
                                  zh=catalog.unknown_type_message_zh(str(name)))
            try:
                value = float(metres)
            except (TypeError, ValueError):
                raise InvalidInput(f"distance of {name!r} must be a number of metres, not {metres!r}",
                                   zh=f"{name} 的距离应为米数，而不是 {metres!r}") from None
            if not (0 < value <= MAX_DISTANCE_M):
                raise InvalidInput(f"distance of {name!r} must be more than 0 and at most {MAX_DISTANCE_M:,.0f} m, "
                                   f"not {metres!r}",
                                   zh=f"{name} 的距离应大于 0 且不超过 {MAX_DISTANCE_M:,.0f} 米，而不是 {metres!r}")
            pairs.append((code, value))
        area = (area or "").strip()
        if area and not re.fullmatch(r"\d{6}|\d{9}|\d{12}", area):
            raise InvalidInput(f"unknown area {area!r}: give a community code (12 digits) or a 9-digit street or "
                               "6-digit county code",
                               zh=f"未知的区域 {area!r}：请填写 12 位社区代码、9 位街道代码或 6 位区县代码")
        box = None
        if bbox is not None:
            box = tuple(float(v) for v in bbox)
            if len(box) != 4 or not all(math.isfinite(v) for v in box):
                raise InvalidInput("bbox: four numbers, minx,miny,maxx,maxy (longitude, latitude)",
                                   zh="bbox（范围）应为四个数：最小经度,最小纬度,最大经度,最大纬度")
            if box[0] > box[2] or box[1] > box[3]:
                raise InvalidInput("bbox: the lower corner comes first (minx,miny,maxx,maxy)",
                                   zh="bbox（范围）应先写左下角（最小经度,最小纬度,最大经度,最大纬度）")
            if not (-180 <= box[0] <= 180 and -180 <= box[2] <= 180 and -90 <= box[1] <= 90 and -90 <= box[3] <= 90):
                raise InvalidInput("bbox: longitude and latitude in degrees (WGS84)",
                                   zh="bbox（范围）应为经纬度（WGS84，单位：度）")
        beyond = float(search_beyond_m or 0)
        if not (0 <= beyond <= MAX_DISTANCE_M):
            raise InvalidInput(f"search beyond must be between 0 and {MAX_DISTANCE_M:,.0f} m",
                               zh=f"额外搜索距离应在 0 到 {MAX_DISTANCE_M:,.0f} 米之间")
        scenario = check_name(scenario) if (scenario or "").strip() else ""
        return cls(tuple(codes), level, tuple(sorted(pairs)), area, box, beyond, scenario)


def resolve_types(names: Iterable[str] | None) -> list[str]:
    """Type codes from codes or Chinese/English names, in order, without repeats."""
    codes: list[str] = []
    for item in names or []:
        for name in (s.strip() for s in str(item).split(",")):
            if not name:
                continue
            code = catalog.lookup(name)
            if code is None:
                raise UnknownName(catalog.unknown_type_message(name), zh=catalog.unknown_type_message_zh(name))
            codes.append(code)
    return list(dict.fromkeys(codes))


def default_types(snapshot: Snapshot, max_types: int = 8) -> tuple[str, ...]:
    """The default types present in the data; if none is, every type present, commonest first."""
    present = list(snapshot.type_counts.index)
    chosen = [t for t in DEFAULT_TYPES if t in present] or present
    if not chosen:
        raise NoData("there are no facilities in the data: import them first (shequ import-osm or "
                     "shequ import facilities)",
                     zh="数据中没有设施：请先导入（shequ import-osm 或 shequ import facilities）")
    return tuple(chosen[:max_types])


# ---- the answer -----------------------------------------------------------------------------------
@dataclass
class CoverageOutcome:
    """Everything a door shows or writes of one coverage query (WGS84 frames)."""

    query: CoverageQuery  # with its types resolved
    result: CoverageResult  # per residence × type (``result.long``, ``result.wide()``)
    summary: pd.DataFrame  # one row per type over the area: people covered, rates, gaps
    zones: pd.DataFrame  # per community, grid and life circle (zone_kind, zone, type, …)
    gaps: gpd.GeoDataFrame  # uncovered residences dissolved into areas, with the people in them
    communities: gpd.GeoDataFrame  # the area's communities, with rate_<type> and rate_straight_<type>
    facilities: gpd.GeoDataFrame  # the facilities that can serve the area (every type)
    streets: gpd.GeoDataFrame  # the streets within reach of the area (for drawing)
    circles: gpd.GeoDataFrame | None  # life circles of the area with their audit
    findings: pd.DataFrame | None  # life-circle audit, one row per circle × required type
    area_label: tuple[str, str]  # (Chinese, English)
    estimated: bool  # households are estimates (OpenStreetMap)
    notes: list[tuple[str, str]] = field(default_factory=list)  # what the numbers rest on

    @property
    def thresholds(self) -> dict[str, Threshold]:
        return self.result.thresholds

    @property
    def types(self) -> list[str]:
        return list(self.result.thresholds)

    def residences(self) -> gpd.GeoDataFrame:
        """Per residence: its fields, then ``<type>_m``, ``<type>_covered``, ``<type>_facility`` and the
        straight-line columns (the same frame whichever door asks)."""
        return self.result.wide().drop(columns=["fid", "extra", "version"], errors="ignore")

    def nearest(self) -> pd.DataFrame:
        """Per residence × type, what a map popup says: the nearest facility by walking (its id, name,
        the walk and the straight line to it) and the nearest in a straight line (id, name, metres).
        A walk beyond the search (``search_beyond_m`` past the distance) is infinite and has no facility."""
        long = self.result.long
        fac = self.result.facilities
        if not len(long):
            return pd.DataFrame(columns=["residence", "type", "walk_id", "walk_name", "walk_m", "walk_line_m",
                                         "line_id", "line_name", "line_m"])
        crs = self.result.network.crs
        ids = pd.Index(fac["id"] if "id" in fac else np.arange(len(fac)))
        names = (fac["name"].astype(object).where(fac["name"].notna(), None) if "name" in fac
                 else pd.Series([None] * len(fac))).to_numpy()
        fac_m = np.asarray(fac.to_crs(crs).geometry.values)
        res_m = np.asarray(self.result.residences.to_crs(crs).geometry.values)
        walk_at = ids.get_indexer(long["facility_id"].to_numpy())
        line_at = ids.get_indexer(long["straight_facility_id"].to_numpy())
        residence = long["residence"].to_numpy()
        found = walk_at >= 0
        walk_line = np.full(len(long), np.inf)
        walk_line[found] = shapely.distance(res_m[residence[found]], fac_m[walk_at[found]])
        return pd.DataFrame({
            "residence": residence, "type": long["type"].to_numpy(),
            "walk_id": long["facility_id"].to_numpy(), "walk_name": np.where(found, names[np.maximum(walk_at, 0)], None)
            if len(names) else None, "walk_m": long["distance_m"].to_numpy(dtype=float), "walk_line_m": walk_line,
            "line_id": long["straight_facility_id"].to_numpy(),
            "line_name": np.where(line_at >= 0, names[np.maximum(line_at, 0)], None) if len(names) else None,
            "line_m": long["straight_m"].to_numpy(dtype=float)})

    def summary_table(self) -> pd.DataFrame:
        """The summary over the area (zone_kind "all") and per zone, as one table (``summary.csv``)."""
        head = self.summary.assign(zone_kind="all", zone="all")
        table = pd.concat([head, self.zones], ignore_index=True)
        first = ["zone_kind", "zone", "type", "name_zh"]
        return table[first + [c for c in table.columns if c not in first]]


def coverage(ws: Workspace, query: CoverageQuery, *, user: User | None) -> CoverageOutcome:
    """Walking and straight-line coverage of the query's residences, for a user allowed to ask."""
    require(user, Action.COVERAGE, ws.settings)
    with timed("coverage asked", user=user.name if user else "anonymous", types=",".join(query.types),
               level=query.level or "", area=query.area):
        return coverage_of(ws, query)


def coverage_of(ws: Workspace, query: CoverageQuery) -> CoverageOutcome:
    """The coverage of the query's residences (cached per data version), for a use case that has
    checked its own access (a scorecard's coverage columns)."""
    snap = snapshot_for(ws, query.scenario)
    query = resolved(snap, query, ws.settings.max_facility_types)
    return ws.cached(snap, ("coverage", query), lambda: _compute(snap, query))


def resolved(snap: Snapshot, query: CoverageQuery, max_types: int = 8) -> CoverageQuery:
    """The query with its default types filled in from the data."""
    for name in ("streets", "residences"):
        if getattr(snap, name).empty:
            raise NoData(f"the {name} layer is empty: import it first (shequ import-osm or shequ import {name})",
                         zh=f"{'道路' if name == 'streets' else '居住单元'}图层为空：请先导入（shequ import-osm）")
    if not snap.walkable:
        raise NoData("no walkable streets or no residences in the data: no street is walkable",
                     zh="没有可步行的道路")
    return query if query.types else replace(query, types=default_types(snap, max_types))


def _select(snap: Snapshot, query: CoverageQuery) -> tuple[np.ndarray, gpd.GeoDataFrame, tuple[str, str]]:
    """Rows of the residences the query is about, the area's communities, and the area's name."""
    res = snap.residences
    rows, comm, label = snap.area(query.area)
    if query.bbox is not None:
        hit = shapely.intersects(np.asarray(res.geometry.values)[rows], shapely.box(*query.bbox))
        rows = rows[hit]
        label = ("所选范围", "the chosen box") if not query.area else label
    if not len(rows):
        raise NoData("no walkable streets or no residences in the area: import them or widen the area",
                     zh="该范围内没有可步行的道路或居住单元：请导入数据或扩大范围")
    return rows, comm, label


def _compute(snap: Snapshot, query: CoverageQuery) -> CoverageOutcome:
    with timed("coverage", types=",".join(query.types), level=query.level or "", area=query.area,
               bbox=bool(query.bbox)) as log:
        rows, comm, label = _select(snap, query)
        residences = snap.residences.iloc[rows].reset_index(drop=True)
        gates = [snap.gates[i] for i in rows]
        ths = thresholds(query.types, level=query.level, overrides=dict(query.distances))
        reach = max(t.distance_m for t in ths.values()) + query.search_beyond_m
        res_m = snap.metric(residences)
        serving = snap.serving
        near = within_reach(snap.metric(serving), res_m, reach) if len(serving) else []
        facilities = serving[near] if len(serving) else serving
        model = Coverage(snap.network, residences, facilities, ths, gates=gates,
                         search_beyond_m=query.search_beyond_m)
        result = model.solve()
        gaps = result.gaps()
        summary = _summary(result, gaps)
        zones = _zones(snap, result, residences)
        comm = _rates(comm, result, residences, query.types)
        circles, findings = _audit(snap, residences, res_m)
        streets = snap.streets[within_reach(snap.metric(snap.streets), res_m, reach)]
        log.update(residences=len(residences), facilities=len(facilities))
    outcome = CoverageOutcome(query, result, summary, zones, gaps, comm, facilities.reset_index(drop=True),
                              streets.reset_index(drop=True), circles, findings, label, snap.estimated)
    outcome.notes = notes(outcome, n_circles=len(snap.lifecircles))
    return outcome


def _summary(result: CoverageResult, gaps: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per type over the area, with the gap areas and the people in them."""
    summary = result.summary().drop(columns=["zone"])
    summary.insert(1, "name_zh", summary["type"].map(lambda t: catalog.load_facility_types()[t].name_zh))
    summary["distance_source"] = summary["type"].map({t: th.source for t, th in result.thresholds.items()})
    counts = (gaps.groupby("type").agg(gaps=("type", "size"), gap_population=("population", "sum"),
                                       gap_households=("households", "sum")) if len(gaps) else None)
    for c in ("gaps", "gap_population", "gap_households"):
        summary[c] = summary["type"].map(counts[c]).fillna(0).astype(float) if counts is not None else 0.0
    return summary


def _zones(snap: Snapshot, result: CoverageResult, residences: gpd.GeoDataFrame) -> pd.DataFrame:
    """The summary per community, grid and life circle the residences lie in."""
    tables = []
    for layer, key in ZONES:
        frame = getattr(snap, layer)
        if len(frame):
            t = result.summary(assign_zones(residences, frame, key), name="zone")
            t = t[t["zone"].notna()]
            t.insert(0, "zone_kind", layer)
            tables.append(t)
    if not tables:
        return pd.DataFrame(columns=["zone_kind", "zone", "type"])
    table = pd.concat(tables, ignore_index=True)
    table.insert(3, "name_zh", table["type"].map(lambda t: catalog.load_facility_types()[t].name_zh))
    return table


def _rates(comm: gpd.GeoDataFrame, result: CoverageResult, residences: gpd.GeoDataFrame,
           types: Sequence[str]) -> gpd.GeoDataFrame:
    """The area's communities with their household coverage rate per type, walking and straight line."""
    comm = comm.copy()
    if comm.empty:
        return comm
    per = result.summary(assign_zones(residences, comm, "code"), name="zone")
    for k in types:
        part = per[per["type"] == k].set_index("zone")
        comm[f"rate_{k}"] = comm["code"].map(part["households_rate"]).astype(float)
        comm[f"rate_straight_{k}"] = comm["code"].map(part["households_rate_straight"]).astype(float)
        comm[f"residences_{k}"] = comm["code"].map(part["residences"]).fillna(0).astype(int)
    return comm


def _audit(snap: Snapshot, residences: gpd.GeoDataFrame, res_m: np.ndarray
           ) -> tuple[gpd.GeoDataFrame | None, pd.DataFrame | None]:
    """The life circles touching the area, audited level by level (on every residence and facility)."""
    if snap.lifecircles.empty:
        return None, None
    circles = snap.lifecircles[within_reach(snap.metric(snap.lifecircles), res_m, 0.0)].reset_index(drop=True)
    if circles.empty:
        return None, None
    findings, per_circle = audit(snap.network, circles, snap.residences, snap.serving, gates=snap.gates)
    missing = (findings[(findings["status"] == "missing") & (findings["required"] == "▲")]
               .groupby(["code", "level"])["name_zh"].agg("、".join).rename("missing").reset_index()
               if len(findings) else pd.DataFrame(columns=["code", "level", "missing"]))
    circles = circles.merge(per_circle, on=["code", "level"], how="left").merge(missing, on=["code", "level"],
                                                                                how="left")
    circles["missing"] = circles["missing"].fillna("—")
    return circles, findings


def notes(outcome: CoverageOutcome, *, n_circles: int) -> list[tuple[str, str]]:
    """What the numbers rest on, said plainly (Chinese, English): distances' sources and status,
    estimates, drafts, islands, the life-circle audit."""
    types = catalog.load_facility_types()
    status_zh = {"verified": "已核实", "secondary": "二手来源", "unverified": "未核实", "derived": "推导",
                 "assumption": "假设", "local": "地方标准"}
    out = []
    for k, th in outcome.thresholds.items():
        status = status_zh.get(th.status, th.status)
        note = re.sub(r"\s*\[S\d+[a-z]?\]", "", th.note or "")  # the reference list's keys are provenance
        extra = f"; {note}" if note else ""
        out.append((f"{types[k].name_zh} {th.distance_m:g} 米：{th.source}（{status}）",
                    f"{types[k].name_en} {th.distance_m:g} m: {th.source} ({th.status}{extra})"))
    if any(th.status != "verified" for th in outcome.thresholds.values()):
        out.append(("未核实或二手来源的距离不可视为权威。", "Secondary or unverified distances are not authoritative."))
    if outcome.estimated:
        out.append((f"户数与人口为 {OSM_ESTIMATE[0]}，不是普查数。",
                    f"Households and population are {OSM_ESTIMATE[1]}, not census counts."))
    comm = outcome.communities
    if len(comm) and "boundary" in comm and comm["boundary"].eq("draft").any():
        out.append(("社区边界为 shequ 草拟，并非官方边界。",
                    "Community boundaries are shequ's drafts, not official ones."))
    out.append(("缺口按步行距离划定；直线距离会高估覆盖。",
                "Gaps are by walking distance; straight-line distance overstates coverage."))
    islands = outcome.result.islands
    if len(islands):
        out.append((f"路网有 {len(islands)} 个孤立部分，其上的距离只在该部分内计算。",
                    f"The street network has {len(islands)} islands; distances there stay on the island."))
    if n_circles == 0:
        out.append(("数据中没有生活圈，未做生活圈评估。", "No life circles in the data: no life-circle audit."))
    elif outcome.circles is None:
        out.append(("该区域内没有生活圈。", "No life circle lies in this area."))
    return out


# ---- service areas ------------------------------------------------------------------
def service_area_frame(ws: Workspace, query: CoverageQuery, kind: str | None = None, *, user: User | None,
                       buffer_m: float = DEFAULT_BUFFER_M) -> gpd.GeoDataFrame:
    """The walking service areas (isochrones) of the facilities that can serve the query's area: of one
    type, or of every type of the query (WGS84)."""
    outcome = coverage(ws, query, user=user)
    if kind is not None and kind not in outcome.types:
        raise InvalidInput(f"type must be one of the chosen types: {', '.join(outcome.types)}",
                           zh=f"类型应为已选类型之一：{'、'.join(outcome.types)}")
    snap = snapshot_for(ws, outcome.query.scenario)
    kinds = [kind] if kind else outcome.types
    return ws.cached(snap, ("service areas", outcome.query, tuple(kinds), buffer_m),
                     lambda: _service_areas(outcome, kinds, buffer_m))


def _service_areas(outcome: CoverageOutcome, kinds: list[str], buffer_m: float) -> gpd.GeoDataFrame:
    network = outcome.result.network
    fac = outcome.facilities[outcome.facilities["type"].isin(kinds)].reset_index(drop=True)
    distance = fac["type"].map({t: th.distance_m for t, th in outcome.thresholds.items()}).to_numpy(dtype=float)
    with timed("service areas", types=",".join(kinds), facilities=len(fac)):
        polys = (service_areas(network, np.asarray(fac.to_crs(network.crs).geometry.values), distance, buffer_m)
                 if len(fac) else np.empty(0, dtype=object))
    names = fac["name"].astype(object).where(fac["name"].notna(), "") if "name" in fac else ""
    return gpd.GeoDataFrame({"facility_id": fac["id"].to_numpy(), "type": fac["type"].to_numpy(),
                             "name": np.asarray(names), "distance_m": distance},
                            geometry=polys, crs=network.crs).to_crs(4326)


# ---- files ----------------------------------------------------------------------------------------
@dataclass
class CoverageFiles:
    out: Path
    files: list[Path]
    run_id: int | None


def write_files(ws: Workspace, outcome: CoverageOutcome, out: str | Path, *, save: bool = True,
                buffer_m: float = DEFAULT_BUFFER_M, user: User | None) -> CoverageFiles:
    """The outcome as files (per residence, gaps, service areas, summaries, audit, islands, an offline
    map) and, with ``save``, as a run in the store."""
    from shequ.web.coverage_map import coverage_map
    from shequ.web.offline import to_html

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    areas = service_area_frame(ws, outcome.query, user=user, buffer_m=buffer_m)
    files = [write_analysis_geojson(outcome.residences(), out / "residences_coverage.geojson"),
             write_analysis_geojson(outcome.gaps, out / "gaps.geojson"),
             write_analysis_geojson(areas, out / "service_areas.geojson")]
    outcome.summary_table().to_csv(out / "summary.csv", index=False, encoding="utf-8-sig")
    files.append(out / "summary.csv")
    if outcome.findings is not None:
        outcome.findings.to_csv(out / "lifecircle_audit.csv", index=False, encoding="utf-8-sig")
        files.append(out / "lifecircle_audit.csv")
    if len(outcome.result.islands):
        outcome.result.islands.to_csv(out / "network_islands.csv", index=False)
        files.append(out / "network_islands.csv")
    snap = snapshot_for(ws, outcome.query.scenario)
    m = coverage_map(outcome.result, gaps=outcome.gaps, areas=areas, streets=outcome.streets,
                     communities=snap.communities, circles=outcome.circles, nearest=outcome.nearest())
    (out / "coverage_map.html").write_text(to_html(m, "inline"), encoding="utf-8")
    files.append(out / "coverage_map.html")
    run_id = None
    if save:
        net = outcome.result.network
        params = {"types": list(outcome.types), "level": outcome.query.level, "buffer_m": buffer_m,
                  "scenario": outcome.query.scenario or None,
                  "search_beyond_m": outcome.query.search_beyond_m, "area": outcome.query.area,
                  "thresholds": {t: vars(th) for t, th in outcome.thresholds.items()},
                  "network": {"crs": net.crs.to_string(), "nodes": net.n_nodes, "edges": net.n_edges,
                              "islands": len(outcome.result.islands)}}
        run_id = results.save_coverage(ws.store.engine, params, outcome.summary, outcome.result.long,
                                       outcome.gaps, areas)
    return CoverageFiles(out, files, run_id)
