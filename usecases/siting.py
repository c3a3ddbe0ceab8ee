"""Siting: where the next facilities of a type should go, on the walking network.

``plan_sites`` measures which candidate sites reach which residences within the type's walking
distance (the coverage engine's own distances), keeps the existing facilities (of the real layers or
a scenario) fixed, and solves a maximal covering (``mclp``: the best ``add`` sites) or set covering
(``lscp``: the fewest sites covering everyone a candidate can reach) model exactly with HiGHS. The
proposal can be kept as a scenario, so coverage, scorecards and the comparison show what it changes.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.errors import Busy, InvalidInput, NoData, NotFound
from shequ.gis.coverage import PEOPLE, thresholds
from shequ.gis.nearby import within_reach
from shequ.gis.siting import MODELS, TIME_LIMIT_S, Siting, SitingResult, street_candidates
from shequ.layers import catalog
from shequ.layers.exporting import write_analysis_geojson
from shequ.layers.importing import read_file, to_wgs84
from shequ.layers.scenarios import check_name
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases import scenarios
from shequ.usecases.access import Action, require
from shequ.usecases.workspace import Snapshot, Workspace

WEIGHTS = ("households", "population", "children", "elderly")
#: at most this many sites in one proposal (a plan, not a census of street corners)
MAX_ADD = 200
#: at most this many candidate sites (more is a city-scale run: use the command line's file option)
MAX_CANDIDATES = 50_000


@dataclass(frozen=True)
class SitingQuery:
    """What to site; build it with ``SitingQuery.parse`` (every door's checks in one place)."""

    type: str
    add: int = 3  # mclp: how many new sites
    model: str = "mclp"
    weight: str = "households"
    distance_m: float | None = None  # default: the type's service distance
    area: str = ""  # residences of a community (12 digits) or street/county prefix; "" for all
    scenario: str = ""  # on top of this scenario's layers
    spacing_m: float = 100.0  # between street candidates
    candidates_file: str = ""  # a file of available lots instead of street candidates (command line)
    time_limit_s: float = TIME_LIMIT_S

    @classmethod
    def parse(cls, type_: str, *, add: int | None = 3, model: str = "mclp", weight: str | None = None,
              distance_m: float | None = None, area: str | None = None, scenario: str | None = None,
              spacing_m: float | None = None, candidates_file: str | None = None,
              time_limit_s: float | None = None) -> SitingQuery:
        code = catalog.lookup(str(type_ or ""))
        if code is None:
            raise InvalidInput(f"type: {catalog.unknown_type_message(str(type_))}",
                               zh=catalog.unknown_type_message_zh(str(type_)))
        model = (model or "mclp").lower()
        if model not in MODELS:
            raise InvalidInput(f"model must be one of {', '.join(MODELS)}, not {model!r}",
                               zh=f"模型应为 {'、'.join(MODELS)} 之一，而不是 {model!r}")
        k = 0 if model == "lscp" else int(add if add is not None else 3)
        if model == "mclp" and not (1 <= k <= MAX_ADD):
            raise InvalidInput(f"add: between 1 and {MAX_ADD} sites, not {add}",
                               zh=f"新增设施数应在 1 到 {MAX_ADD} 之间，而不是 {add}")
        weight = weight or default_weight(code)
        if weight not in WEIGHTS:
            raise InvalidInput(f"weight must be one of {', '.join(WEIGHTS)}, not {weight!r}",
                               zh=f"权重应为 {'、'.join(WEIGHTS)} 之一，而不是 {weight!r}")
        if distance_m is not None and not (0 < float(distance_m) <= 5_000):
            raise InvalidInput("distance: more than 0 and at most 5,000 m",
                               zh="服务距离应大于 0 且不超过 5,000 米")
        spacing = float(spacing_m or 100.0)
        if not (10 <= spacing <= 2_000):
            raise InvalidInput("candidate spacing: between 10 and 2,000 m",
                               zh="候选点间距应在 10 到 2,000 米之间")
        limit = float(time_limit_s or TIME_LIMIT_S)
        if not (1 <= limit <= 3_600) or not math.isfinite(limit):
            raise InvalidInput("time limit: between 1 and 3,600 s",
                               zh="求解时限应在 1 到 3,600 秒之间")
        area = (area or "").strip()
        if area and not (area.isdigit() and len(area) in (6, 9, 12)):
            raise InvalidInput(f"unknown area {area!r}: a community code (12 digits) or a 9/6-digit prefix",
                               zh=f"未知的区域 {area!r}：请填写 12 位社区代码或 9/6 位街道、区县代码")
        scenario = check_name(scenario) if (scenario or "").strip() else ""
        return cls(code, k, model, weight, float(distance_m) if distance_m is not None else None, area, scenario,
                   spacing, candidates_file or "", limit)


def default_weight(type_: str) -> str:
    """Whom a type serves: children for kindergartens and schools, the elderly for elderly care,
    households otherwise."""
    t = catalog.load_facility_types().get(type_)
    text = f"{type_} {t.name_en if t else ''}".lower()
    if any(w in text for w in ("kindergarten", "school", "nursery")):
        return "children"
    if "elderly" in text or "aged" in text:
        return "elderly"
    return "households"


@dataclass
class SitingOutcome:
    query: SitingQuery
    result: SitingResult
    distance_m: float
    distance_source: str
    sites: gpd.GeoDataFrame  # WGS84: rank, lon, lat, newly covered households, population, children, elderly
    candidates: gpd.GeoDataFrame  # WGS84: every candidate, chosen or not, with what it alone would newly cover
    residences: gpd.GeoDataFrame  # the area's residences: covered before, newly covered, by which site
    existing: gpd.GeoDataFrame  # facilities of the type that stay
    summary: pd.DataFrame  # one row per measure
    notes: list[tuple[str, str]] = field(default_factory=list)


#: siting runs one at a time per process (each may take a core for up to its time limit): a second
#: request waits a moment, then is told to come back, rather than queueing behind the first
_RUNNING = threading.BoundedSemaphore(1)
WAIT_S = 5.0


def plan_sites(ws: Workspace, query: SitingQuery, *, user: User | None) -> SitingOutcome:
    require(user, Action.SITING, ws.settings)
    if not _RUNNING.acquire(timeout=WAIT_S):
        raise Busy("another siting run is in progress: try again in a minute",
                   zh="另一项选址计算正在进行，请稍后再试", retry_after=60)
    try:
        return _plan_logged(ws, query, user)
    finally:
        _RUNNING.release()


def _plan_logged(ws: Workspace, query: SitingQuery, user: User | None) -> SitingOutcome:
    snap = scenarios.snapshot_for(ws, query.scenario)
    with timed("siting", type=query.type, model=query.model, add=query.add, scenario=query.scenario,
               user=user.name if user else "local") as log:
        outcome = _plan(snap, query)
        log.update(candidates=len(outcome.candidates), status=outcome.result.status,
                   gain=round(outcome.result.gain, 1))
    return outcome


def _plan(snap: Snapshot, query: SitingQuery) -> SitingOutcome:
    if snap.residences.empty or not snap.walkable:
        raise NoData("siting needs residences and walkable streets: import them first",
                     zh="选址需要居住单元和可步行的道路：请先导入")
    th = thresholds([query.type], overrides={query.type: query.distance_m} if query.distance_m else None)[query.type]
    net = snap.network
    res = snap.residences
    rows, _, _ = snap.area(query.area)
    if query.area and not len(rows):
        raise NoData(f"no residence lies in {query.area}", zh=f"{query.area} 内没有居住单元")
    area_res = res.iloc[rows].reset_index(drop=True)
    gate_geoms = snap.gates_metric(rows)
    res_m = snap.metric(area_res)
    existing = snap.serving[snap.serving["type"] == query.type] if len(snap.serving) else snap.serving
    if query.candidates_file:
        cand_wgs = _candidate_file(query.candidates_file)
        cand_m = np.asarray(cand_wgs.to_crs(net.crs).values)
    else:
        cand_m = street_candidates(net, spacing_m=query.spacing_m, exclude=snap.metric(res))
    # only candidates within walking reach of the area can matter (straight line ≤ walk)
    cand_m = cand_m[within_reach(cand_m, res_m, th.distance_m)] if len(cand_m) else cand_m
    if len(cand_m) > MAX_CANDIDATES:
        raise InvalidInput(f"{len(cand_m):,} candidate sites: at most {MAX_CANDIDATES:,}; widen the spacing "
                           "or narrow the area",
                           zh=f"候选点有 {len(cand_m):,} 个，最多 {MAX_CANDIDATES:,} 个：请加大间距或缩小范围")
    if not len(cand_m):
        raise NoData("no candidate site lies within walking reach of the residences",
                     zh="步行范围内没有候选点")
    model = Siting.from_geodataframes(net, area_res, existing.to_crs(net.crs) if len(existing) else existing,
                                      cand_m, th.distance_m, weight=query.weight, gates=gate_geoms)
    result = (model.solve_lscp(time_limit=query.time_limit_s) if query.model == "lscp"
              else model.solve_mclp(query.add, time_limit=query.time_limit_s))
    people = area_res[[c for c in PEOPLE if c in area_res]].apply(pd.to_numeric, errors="coerce").fillna(0)
    cand = gpd.GeoDataFrame(geometry=gpd.GeoSeries(cand_m, crs=net.crs).to_crs(4326).values, crs=4326)
    alone = np.asarray(model.reach.astype(float) @ (model.weight * ~model.covered)).ravel()
    cand["id"] = [f"c{i}" for i in range(len(cand))]
    cand[f"alone_{query.weight}"] = alone.round(1)
    cand["chosen"] = False
    cand.loc[result.chosen, "chosen"] = True
    sites = cand.iloc[result.chosen].reset_index(drop=True)[["id", "geometry"]]
    sites.insert(0, "rank", np.arange(1, len(sites) + 1))
    sites["type"] = query.type
    sites["name_zh"] = catalog.load_facility_types()[query.type].name_zh
    for c in people.columns:
        sites[f"new_{c}"] = [float(people[c].to_numpy()[result.site_of == i].sum()) for i in range(len(sites))]
    sites["new_residences"] = [int((result.site_of == i).sum()) for i in range(len(sites))]
    sites["lon"] = sites.geometry.x.round(6)
    sites["lat"] = sites.geometry.y.round(6)
    residences = area_res[["id", *people.columns, "geometry"]].copy()
    residences["covered_before"] = model.covered
    residences["newly_covered"] = result.newly_covered
    residences["by_site"] = np.where(result.site_of >= 0, result.site_of + 1, 0)
    covered_after = model.covered | result.newly_covered
    summary = _summary(query, th.distance_m, result, people, model.covered, covered_after, len(cand), len(existing))
    outcome = SitingOutcome(query, result, th.distance_m, f"{th.source} ({th.status})", sites, cand, residences,
                            existing.reset_index(drop=True), summary)
    outcome.notes = _notes(outcome, snap)
    return outcome


def _candidate_file(path: str) -> gpd.GeoSeries:
    frame, _ = to_wgs84(read_file(path), None, Path(path).name)
    geoms = np.asarray(frame.geometry.values)
    if not len(geoms) or shapely.is_empty(geoms).all():
        raise InvalidInput(f"{Path(path).name}: no candidate sites",
                           zh=f"{Path(path).name}：没有候选点")
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(bad):
        raise InvalidInput(f"{Path(path).name}: feature {bad[0] + 1}: no geometry",
                           zh=f"{Path(path).name}：第 {bad[0] + 1} 个要素没有几何图形")
    pts = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.point_on_surface(geoms))
    return gpd.GeoSeries(pts, crs=4326)


def _summary(query: SitingQuery, distance: float, result: SitingResult, people: pd.DataFrame, before: np.ndarray,
             after: np.ndarray, n_cand: int, n_existing: int) -> pd.DataFrame:
    rows = [("model", query.model, ""), ("type", query.type, ""), ("weight", query.weight, ""),
            ("distance_m", distance, "m"), ("existing_facilities", n_existing, ""), ("candidates", n_cand, ""),
            ("sites", len(result.chosen), ""), ("status", result.status, ""),
            ("optimality_gap", result.gap, "share"), ("seconds", round(result.seconds, 2), "s"),
            ("uncoverable_" + query.weight, result.uncoverable, "")]
    for c in people.columns:
        total = float(people[c].sum())
        b, a = float(people[c][before].sum()), float(people[c][after].sum())
        rows += [(f"{c}_total", total, ""), (f"{c}_covered_before", b, ""), (f"{c}_covered_after", a, ""),
                 (f"{c}_newly_covered", a - b, ""),
                 (f"{c}_rate_before", b / total if total else float("nan"), "share"),
                 (f"{c}_rate_after", a / total if total else float("nan"), "share")]
    return pd.DataFrame(rows, columns=["measure", "value", "unit"])


def _notes(outcome: SitingOutcome, snap: Snapshot) -> list[tuple[str, str]]:
    r, q = outcome.result, outcome.query
    out = [(f"按步行网络距离 {outcome.distance_m:g} 米选址（{outcome.distance_source}），现有设施保持不变。",
            f"Sites chosen on walking distances of {outcome.distance_m:g} m ({outcome.distance_source}); the existing "
            "facilities stay.")]
    if r.status == "time limit":
        out.append((f"求解在时限内停止：与最优解的差距至多 {r.gap:.1%}。",
                    f"The solver stopped at the time limit: at most {r.gap:.1%} from the optimum."))
    elif r.status == "optimal":
        out.append(("HiGHS 已证明为最优解。", "HiGHS proved the proposal optimal."))
    if q.model == "mclp" and len(r.chosen) < q.add:
        out.append((f"只有 {len(r.chosen)} 个候选点还能新增覆盖。",
                    f"Only {len(r.chosen)} candidate sites add any coverage."))
    if r.uncoverable:
        out.append((f"{r.uncoverable:,.0f}（{q.weight}）在任何候选点的步行距离之外。",
                    f"{r.uncoverable:,.0f} {q.weight} are beyond walking reach of every candidate site."))
    if snap.estimated:
        out.append(("户数与人口为按规则由 OSM 估算，不是普查数。",
                    "Households and population are estimates from OpenStreetMap, not census counts."))
    if not q.candidates_file:
        out.append((f"候选点：步行道路上每 {q.spacing_m:g} 米一个，不在小区内；实际用地须另行核实。",
                    f"Candidates: one every {q.spacing_m:g} m along walkable streets, none inside a compound; whether "
                    "land is available there must be checked."))
    return out


# ---- files and scenarios --------------------------------------------------------------------------
@dataclass
class SitingFiles:
    out: Path
    files: list[Path]


def write_files(ws: Workspace, outcome: SitingOutcome, out: str | Path) -> SitingFiles:
    """``sites.geojson``, ``candidates.geojson``, ``summary.csv`` and an offline map."""
    from shequ.web.siting_map import siting_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_analysis_geojson(outcome.sites, out / "sites.geojson"),
             write_analysis_geojson(outcome.candidates, out / "candidates.geojson")]
    outcome.summary.to_csv(out / "summary.csv", index=False, encoding="utf-8-sig")
    files.append(out / "summary.csv")
    snap = scenarios.snapshot_for(ws, outcome.query.scenario)
    html = siting_map(outcome, streets=snap.streets, communities=snap.communities)
    (out / "sites_map.html").write_text(html, encoding="utf-8")
    files.append(out / "sites_map.html")
    return SitingFiles(out, files)


def save_as_scenario(ws: Workspace, outcome: SitingOutcome, name: str, *, user: User | None,
                     capacity: int | None = None) -> scenarios.ScenarioView:
    """Keep the proposal as a scenario (created if new; on top of the one it was made on, its changes
    are copied first)."""
    name = check_name(name)
    try:
        scenarios.show(ws, name, user=user)
    except NotFound:
        scenarios.create(ws, name, title=f"{outcome.sites['name_zh'].iloc[0] if len(outcome.sites) else ''} "
                                           f"选址 siting ({outcome.query.model})", user=user)
        if outcome.query.scenario and outcome.query.scenario != name:
            base = scenarios.show(ws, outcome.query.scenario, user=user)
            scenarios.add_changes(ws, name, [{k: c[k] for k in ("kind", "target_id", "properties", "geometry")}
                                             for c in base.changes], user=user)
    changes = [scenarios.facility_change(outcome.query.type, row.geometry.x, row.geometry.y, capacity=capacity,
                                         name=f"{row.name_zh} 建议点 {row.rank}", source=f"shequ plan sites ({row.id})")
               for row in outcome.sites.itertuples()]
    return scenarios.add_changes(ws, name, changes, user=user)
