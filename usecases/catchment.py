"""Capacity-aware access: places per 1 000 children, elderly or people within a walk (2SFCA, E2SFCA).

Coverage says whether a kindergarten is within 300 m; it cannot say that one 90-place kindergarten is
"within reach" of 3 000 children. This use case shares each facility's capacity among the demand in
its walking catchment (``gis/catchment.py``) and reports, per residence, per community and per grid,
the places per 1 000 demand people (a demand-weighted mean for the zones) and the share of demand with
no place at all; ``shequ analyze access`` and ``GET /analyses/access`` call it.

(Not to be confused with ``usecases/access.py``, the access *policy*: who may ask.)

What the answer rests on is said in its notes, in both languages: which capacities are data and which
are the user's assumption (``assume_capacity``: a capacity for every facility that has none, labelled
as an assumption in every output), how many facilities were left out for lack of one (OpenStreetMap
records almost no capacities, so on the Chengdu demo none has one), whose figures the demand is, and
where the catchment distance comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.errors import InvalidInput, NoData
from shequ.gis.catchment import E2SFCA_WEIGHTS, METHODS, Catchment, CatchmentResult
from shequ.gis.costs import walking_distances
from shequ.gis.coverage import assign_zones, thresholds
from shequ.gis.nearby import within_reach
from shequ.layers import catalog
from shequ.layers.exporting import write_analysis_geojson
from shequ.layers.osm import OSM_ESTIMATE
from shequ.layers.scenarios import check_name
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.scenarios import snapshot_for
from shequ.usecases.siting import default_weight
from shequ.usecases.workspace import Snapshot, Workspace

#: whose figures a facility's capacity is shared among (columns of the residences layer)
DEMANDS = ("children", "elderly", "population", "households")
DEMAND_ZH = {"children": "0–14 岁儿童", "elderly": "60 岁及以上老年人", "population": "常住人口",
             "households": "户"}
DEMAND_EN = {"children": "children aged 0–14", "elderly": "residents aged 60 and over", "population": "residents",
             "households": "households"}
METHOD_NAMES = {"2sfca": ("两步移动搜索法（2SFCA）", "two-step floating catchment area (2SFCA)"),
                "e2sfca": ("高斯分区两步移动搜索法（E2SFCA）", "enhanced two-step floating catchment area (E2SFCA)")}
#: a capacity a user may assume per facility
MAX_ASSUMED_CAPACITY = 100_000
MAX_DISTANCE_M = 5_000.0


@dataclass(frozen=True)
class Norm:
    """A planning norm of places per 1 000 demand people, with where it comes from."""

    per_1000: float
    demand: str
    source: str
    status: str
    note: str = ""


#: norms of places per 1 000 demand people, where a source gives one (docs/sources/standards.md §1.4). No
#: kindergarten, school or day-care norm per 1 000 is in the sources read so far: none is made up.
NORMS: dict[str, Norm] = {
    "elderly_care_home": Norm(40.0, "elderly", "GB 50437-2007(2018年版) 城镇老年人设施规划规范 表3.1.2, 3.2.1, 表3.2.4",
                              "verified", "≥40 beds per 1 000 elderly; read in an OCR-garbled mirror [S25]"),
}


# ---- the question ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccessQuery:
    """What to measure; hashable, so results are cached by it. Build it with ``AccessQuery.parse``."""

    type: str
    method: str = "2sfca"
    distance_m: float | None = None  # the catchment; default: the type's service distance
    area: str = ""  # a community code, a 9/6-digit street or county prefix, or everything
    scenario: str = ""  # a stored scenario's layers instead of the real ones
    assume_capacity: int | None = None  # places assumed for every facility without a capacity
    demand: str = ""  # a residences column; "" → the type's (children, elderly, else population)

    @classmethod
    def parse(cls, type_: str | None, method: str | None = "2sfca", distance_m: float | None = None,
              area: str | None = None, scenario: str | None = None, assume_capacity: int | None = None,
              demand: str | None = None) -> AccessQuery:
        """Check a request from any door; every mistake is an ``InvalidInput`` saying what is accepted."""
        code = catalog.lookup(str(type_ or ""))
        if code is None:
            raise InvalidInput(f"type: {catalog.unknown_type_message(str(type_ or ''))}",
                               zh=f"未知的设施类型 {type_!r}")
        method = (method or "2sfca").strip().lower()
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}, not {method!r}",
                               zh=f"方法应为 {'、'.join(METHODS)} 之一，而不是 {method!r}")
        distance = None
        if distance_m is not None:
            try:
                distance = float(distance_m)
            except (TypeError, ValueError):
                raise InvalidInput(f"distance must be a number of metres, not {distance_m!r}",
                                   zh=f"距离应为米数，而不是 {distance_m!r}") from None
            if not (0 < distance <= MAX_DISTANCE_M):
                raise InvalidInput(f"distance: more than 0 and at most {MAX_DISTANCE_M:,.0f} m, not {distance_m!r}",
                                   zh=f"距离应大于 0 且不超过 {MAX_DISTANCE_M:,.0f} 米，而不是 {distance_m!r}")
        area = (area or "").strip()
        if area and not re.fullmatch(r"\d{6}|\d{9}|\d{12}", area):
            raise InvalidInput(f"unknown area {area!r}: give a community code (12 digits) or a 9-digit street or "
                               "6-digit county code",
                               zh=f"未知的区域 {area!r}：请填写 12 位社区代码、9 位街道代码或 6 位区县代码")
        assumed = None
        if assume_capacity is not None:
            try:
                assumed = int(assume_capacity)
                if assumed != float(assume_capacity):
                    raise ValueError
            except (TypeError, ValueError):
                raise InvalidInput(f"assumed capacity must be a whole number, not {assume_capacity!r}",
                                   zh=f"假设容量应为整数，而不是 {assume_capacity!r}") from None
            if not (1 <= assumed <= MAX_ASSUMED_CAPACITY):
                raise InvalidInput(f"assumed capacity: between 1 and {MAX_ASSUMED_CAPACITY:,} places per facility",
                                   zh=f"假设容量应为每处 1 到 {MAX_ASSUMED_CAPACITY:,} 个名额")
        demand = (demand or "").strip() or default_demand(code)
        if demand not in DEMANDS:
            raise InvalidInput(f"demand must be one of {', '.join(DEMANDS)}, not {demand!r}",
                               zh=f"需求人口应为 {'、'.join(DEMANDS)} 之一，而不是 {demand!r}")
        scenario = check_name(scenario) if (scenario or "").strip() else ""
        return cls(code, method, distance, area, scenario, assumed, demand)


def default_demand(type_: str) -> str:
    """Whom a type's places are for: children for kindergartens and schools, the elderly for elderly
    care (as ``usecases.siting.default_weight``), everyone otherwise."""
    weight = default_weight(type_)
    return weight if weight in ("children", "elderly") else "population"


# ---- the answer -----------------------------------------------------------------------------------
@dataclass
class AccessOutcome:
    """Everything a door shows or writes of one access query (WGS84 frames)."""

    query: AccessQuery  # with its demand resolved
    result: CatchmentResult  # the area's residences, every facility within reach of them
    distance_m: float
    distance_source: str
    residences: gpd.GeoDataFrame  # per residence of the area: demand, access, places per 1 000, zero access
    communities: pd.DataFrame  # per community: demand-weighted mean places per 1 000, zero-access share
    grids: pd.DataFrame  # the same per grid
    facilities: gpd.GeoDataFrame  # the facilities within reach: capacity (data or assumed), places per person
    summary: pd.DataFrame  # measure, value, unit, zh, en
    area_label: tuple[str, str]
    norm: Norm | None
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.result.measured

    def value(self, measure: str) -> object:
        """One measure of the summary."""
        rows = self.summary[self.summary["measure"] == measure]
        return rows["value"].iloc[0] if len(rows) else None

    def summary_table(self) -> pd.DataFrame:
        """The summary and then the notes (measure "note"), as ``summary.csv`` holds them."""
        notes = pd.DataFrame({"measure": "note", "value": "", "unit": "", "zh": [zh for zh, _ in self.notes],
                              "en": [en for _, en in self.notes]})
        return pd.concat([self.summary, notes], ignore_index=True)


def access_analysis(ws: Workspace, query: AccessQuery, *, user: User | None) -> AccessOutcome:
    """Places per 1 000 demand people within a walk, for a user allowed to ask (cached per data version)."""
    require(user, Action.COVERAGE, ws.settings)
    query = query if query.demand else replace(query, demand=default_demand(query.type))
    snap = snapshot_for(ws, query.scenario)
    with timed("access asked", user=user.name if user else "anonymous", type=query.type, method=query.method,
               area=query.area, scenario=query.scenario):
        return ws.cached(snap, ("access", query), lambda: _compute(snap, query))


def _select(snap: Snapshot, area: str) -> tuple[np.ndarray, gpd.GeoDataFrame, tuple[str, str]]:
    """Rows of the area's residences, its communities, and its name (as coverage chooses them)."""
    rows, comm, label = snap.area(area)
    if area and not len(rows):
        raise NoData(f"no residence lies in {area}", zh=f"{area} 内没有居住单元")
    return rows, comm, label


def _capacity(fac: gpd.GeoDataFrame, assumed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each facility's capacity (NaN: none) and where it comes from ("data", "assumed", "none")."""
    given = (pd.to_numeric(fac["capacity"], errors="coerce").to_numpy(dtype=float) if "capacity" in fac
             else np.full(len(fac), np.nan))
    basis = np.where(np.isnan(given), "none", "data").astype(object)
    if assumed is not None:
        basis = np.where(np.isnan(given), "assumed", basis).astype(object)
        given = np.where(np.isnan(given), float(assumed), given)
    return given, basis


def _compute(snap: Snapshot, q: AccessQuery) -> AccessOutcome:
    if snap.residences.empty or not snap.walkable:
        raise NoData("capacity-aware access needs residences and walkable streets: import them first "
                     "(shequ import-osm)", zh="需要居住单元和可步行的道路：请先导入（shequ import-osm）")
    if q.demand not in snap.residences or pd.to_numeric(snap.residences[q.demand], errors="coerce").isna().all():
        raise NoData(f"the residences have no {q.demand} figures: give them (shequ import residences) or choose "
                     "another demand (population, households)",
                     zh=f"居住单元没有“{DEMAND_ZH[q.demand]}”数据：请补充，或改用其他需求人口")
    th = thresholds([q.type], overrides={q.type: q.distance_m} if q.distance_m else None)[q.type]
    distance = th.distance_m
    with timed("access", type=q.type, method=q.method, area=q.area, scenario=q.scenario) as log:
        rows, comm, label = _select(snap, q.area)
        net = snap.network
        res_all = snap.residences
        res_m = snap.metric(res_all)
        serving = snap.serving
        kind = serving[serving["type"] == q.type] if len(serving) else serving
        fac_m = snap.metric(kind) if len(kind) else np.empty(0, dtype=object)
        near = within_reach(fac_m, res_m[rows], distance)
        fac, fac_m = kind[near].reset_index(drop=True), fac_m[near]
        # step 1 shares a facility's places among all the demand in its catchment, inside the area or not
        measured = within_reach(res_m, fac_m, distance)
        measured[rows] = True
        sub = np.flatnonzero(measured)
        gates = snap.gates_metric(sub)
        dm = walking_distances(net, fac_m, res_m[sub], distance, gates=gates)
        supply, basis = _capacity(fac, q.assume_capacity)
        demand = pd.to_numeric(res_all[q.demand], errors="coerce").to_numpy(dtype=float)[sub]
        whole = Catchment(dm, supply, demand, distance_m=distance, method=q.method).solve()
        result = whole.take(np.searchsorted(sub, rows))
        log.update(residences=len(rows), measured_with=len(sub), facilities=len(fac))
    norm = NORMS.get(q.type)
    norm = norm if norm is not None and norm.demand == q.demand else None
    tag = _basis_label(basis)
    residences = _residences(snap, res_all.iloc[rows].reset_index(drop=True), comm, result, q, norm, tag)
    communities = _zones(result, residences["community"], comm, ["code", "name"], norm, tag)
    grids = _zones(result, residences["grid"], snap.grids, ["code", "name", "community_code"], norm, tag)
    facilities = _facilities(fac, whole, basis)
    summary = _summary(q, th, result, basis, label, norm, tag)
    outcome = AccessOutcome(q, result, distance, f"{th.source} ({th.status})", residences, communities, grids,
                            facilities, summary, label, norm)
    outcome.notes = notes(outcome, basis, estimated=snap.estimated)
    return outcome


def _basis_label(basis: np.ndarray) -> str:
    """How the capacities were come by, for a column in every output."""
    assumed = (basis == "assumed").any()
    data = (basis == "data").any()
    if assumed and data:
        return "data + assumed (假设)"
    if assumed or data:
        return "assumed (假设)" if assumed else "data"
    return "none"


def _residences(snap: Snapshot, area_res: gpd.GeoDataFrame, comm: gpd.GeoDataFrame, result: CatchmentResult,
                q: AccessQuery, norm: Norm | None, tag: str) -> gpd.GeoDataFrame:
    keep = [c for c in ("id", "name", "kind", "households", "population", "children", "elderly", "estimated")
            if c in area_res]
    out = area_res[keep].copy()
    out["community"] = assign_zones(area_res, comm, "code").to_numpy() if len(comm) else None
    out["grid"] = assign_zones(area_res, snap.grids, "code").to_numpy() if len(snap.grids) else None
    per = result.residences()
    out["demand_kind"] = q.demand
    for c in per.columns:
        out[c] = per[c].to_numpy()
    if norm is not None:
        out["ratio_to_norm"] = out["access_per_1000"] / norm.per_1000
    out["capacity_basis"] = tag
    return gpd.GeoDataFrame(out, geometry=area_res.geometry.values, crs=area_res.crs)


def _zones(result: CatchmentResult, zone: pd.Series, layer: gpd.GeoDataFrame, cols: list[str], norm: Norm | None,
           tag: str) -> pd.DataFrame:
    """Per zone the residences lie in (communities or grids), with the zone's name."""
    table = result.aggregate(zone.to_numpy()).rename(columns={"zone": "code"})
    if len(layer):
        names = pd.DataFrame(layer[[c for c in cols if c in layer]]).drop_duplicates("code")
        names["code"] = names["code"].astype(str)
        table = table.assign(code=table["code"].astype(str)).merge(names, on="code", how="left")
        table = table[[c for c in cols if c in table] + [c for c in table.columns if c not in cols]]
    if norm is not None:
        table["norm_per_1000"] = norm.per_1000
        table["ratio_to_norm"] = table["access_per_1000"] / norm.per_1000
    table["capacity_basis"] = tag
    return table


def _facilities(fac: gpd.GeoDataFrame, whole: CatchmentResult, basis: np.ndarray) -> gpd.GeoDataFrame:
    keep = [c for c in ("id", "name", "type", "capacity") if c in fac]
    out = pd.DataFrame(fac[keep]).copy()
    per = whole.facilities()
    out["capacity_used"] = per["supply"].to_numpy()
    out["capacity_basis"] = basis
    for c in ("demand_in_reach", "places_per_person", "places_per_1000", "excluded", "idle"):
        out[c] = per[c].to_numpy()
    geom = fac.to_crs(4326).geometry.values if len(fac) else []
    frame = gpd.GeoDataFrame(out, geometry=list(geom), crs=4326)
    frame["lon"] = frame.geometry.x.round(6) if len(frame) else []
    frame["lat"] = frame.geometry.y.round(6) if len(frame) else []
    return frame


def _summary(q: AccessQuery, th, result: CatchmentResult, basis: np.ndarray, label: tuple[str, str],
             norm: Norm | None, tag: str) -> pd.DataFrame:
    t = catalog.load_facility_types()[q.type]
    whole = result.aggregate().iloc[0] if len(result.access) else None
    supply = result.supply
    counted = ~result.excluded
    rows = [
        ("type", q.type, "", f"设施类型：{t.name_zh}", f"facility type: {t.name_en}"),
        ("method", q.method, "", METHOD_NAMES[q.method][0], METHOD_NAMES[q.method][1]),
        ("distance_m", th.distance_m, "m", "步行服务半径", f"walking catchment: {th.source} ({th.status})"),
        ("demand", q.demand, "", f"需求人口：{DEMAND_ZH[q.demand]}", f"demand: {DEMAND_EN[q.demand]}"),
        ("area", label[1], "", f"范围：{label[0]}", f"area: {label[1]}"),
        ("capacity_basis", tag, "", "容量来源：数据或假设", "capacities: from the data, or assumed"),
        ("assumed_capacity", q.assume_capacity, "places", "假设的每处容量（无容量数据的设施）",
         "capacity assumed per facility without one (an assumption, not data)"),
        ("facilities", len(supply), "", "步行可达范围内的设施数", "facilities of the type within reach"),
        ("facilities_with_capacity", int((basis == "data").sum()), "", "有容量数据的设施",
         "with a capacity in the data"),
        ("facilities_assumed_capacity", int((basis == "assumed").sum()), "", "按假设容量计的设施",
         "counted with the assumed capacity"),
        ("facilities_excluded", int(result.excluded.sum()), "", "无容量数据、已排除的设施",
         "left out: no capacity in the data"),
        ("facilities_idle", int(result.idle.sum()), "", "步行范围内无需求人口的设施",
         "with no demand within their catchment"),
        ("places", float(np.nansum(supply[counted])), "places", "计入的容量（学位/床位）", "places counted"),
        ("places_assumed", float(np.nansum(supply[basis == "assumed"])), "places", "其中按假设计的容量",
         "of which assumed"),
        ("residences", len(result.access), "", "居住单元数", "residences"),
        ("demand_total", float(np.nansum(result.demand)), "persons", "需求人口合计", "demand people"),
        ("residences_missing_demand", int(np.isnan(result.demand).sum()), "", "缺少需求人口数据的居住单元",
         "residences without a demand figure (counted as none)"),
        ("measured", bool(result.measured), "", "能否计算（有容量数据或假设）",
         "whether access could be measured (some capacity known or assumed)"),
        ("access_per_1000", _num(whole, "access_per_1000"), f"places per 1000 {q.demand}",
         f"每千{DEMAND_ZH[q.demand]}可达容量（需求加权平均）", "places per 1 000 demand people (demand-weighted mean)"),
        ("zero_access_demand", _num(whole, "zero_access_demand"), "persons", "步行范围内没有任何容量的需求人口",
         "demand with no place within reach"),
        ("zero_access_share", _num(whole, "zero_access_share"), "share", "无可达容量的需求人口占比",
         "share of demand with no place within reach"),
        ("zero_access_uncounted_demand", _num(whole, "zero_access_uncounted_demand"), "persons",
         "其中附近有无容量数据设施的需求人口",
         "of which beside a facility without a capacity (not necessarily unserved)"),
    ]
    if q.method == "e2sfca":
        w = "/".join(f"{v:.2f}" for v in E2SFCA_WEIGHTS)
        rows.insert(3, ("zone_weights", w, "", "按服务半径三等分的距离衰减权重（Luo & Qi 2009）",
                        "weights over thirds of the catchment (Luo & Qi 2009)"))
    if norm is not None:
        mean = _num(whole, "access_per_1000")
        rows += [("norm_per_1000", norm.per_1000, f"places per 1000 {norm.demand}", f"配置标准：{norm.source}",
                  f"norm: {norm.source} ({norm.status}; {norm.note})"),
                 ("ratio_to_norm", mean / norm.per_1000 if mean == mean else np.nan, "ratio", "达到标准的比例",
                  "access over the norm")]
    return pd.DataFrame(rows, columns=["measure", "value", "unit", "zh", "en"])


def _num(row: pd.Series | None, name: str) -> float:
    return float(row[name]) if row is not None and pd.notna(row[name]) else float("nan")


def notes(outcome: AccessOutcome, basis: np.ndarray, *, estimated: bool) -> list[tuple[str, str]]:
    """What the numbers rest on, said plainly (Chinese, English): capacities first."""
    q, r = outcome.query, outcome.result
    t = catalog.load_facility_types()[q.type]
    n = len(basis)
    have, assumed, missing = int((basis == "data").sum()), int((basis == "assumed").sum()), int((basis == "none").sum())
    out: list[tuple[str, str]] = []
    if n == 0:
        out.append((f"该范围步行可达内没有{t.name_zh}：所有需求人口的可达容量为 0。",
                    f"No {t.name_en} within reach of the area: every demand person has no place."))
    elif missing == n:
        out.append((f"无法计算：步行可达范围内的 {n} 处{t.name_zh}都没有容量数据（OpenStreetMap 几乎不记录容量）。"
                    "请补充容量（shequ import facilities，capacity 字段），或用 --assume-capacity N 假设每处容量。",
                    f"Not measured: none of the {n} {t.name_en} facilities within reach has a capacity in the data "
                    "(OpenStreetMap records almost none). Add capacities (shequ import facilities, field capacity) or "
                    "assume one per facility with --assume-capacity N."))
    elif missing:
        out.append((f"{n} 处{t.name_zh}中有 {missing} 处没有容量数据，已排除（不按 0 也不按无限计）；"
                    "它们附近的可达容量因此被低估。",
                    f"{missing} of the {n} {t.name_en} facilities have no capacity in the data and are left out "
                    "(neither 0 nor unlimited): access near them is understated."))
    if assumed:
        out.append((f"假设：{assumed} 处没有容量数据的{t.name_zh}按每处 {q.assume_capacity} 计（用户给定的假设，"
                    "不是数据）" + (f"；有容量数据的 {have} 处按数据计。" if have else "。"),
                    f"Assumption: {assumed} {t.name_en} facilities without a capacity are counted with "
                    f"{q.assume_capacity} places each (the user's assumption, not data)"
                    + (f"; the {have} with a capacity in the data keep it." if have else ".")))
    zh, en = METHOD_NAMES[q.method]
    out.append((f"{zh}，步行服务半径 {outcome.distance_m:g} 米（{outcome.distance_source}）：每处设施的容量按其"
                "步行范围内的需求人口分摊，再为每个居住单元累加其步行范围内各设施的人均容量。",
                f"{en}, walking catchment {outcome.distance_m:g} m ({outcome.distance_source}): each facility's "
                "places are shared among the demand within its catchment, then summed for each residence over the "
                "facilities within its reach."))
    if q.method == "e2sfca":
        out.append(("距离衰减：服务半径三等分，权重 1.00、0.68、0.22（Luo & Qi 2009 的高斯分区权重）。",
                    "Distance decay: the catchment in thirds weighing 1.00, 0.68 and 0.22 (Luo & Qi 2009's "
                    "Gaussian-derived zone weights)."))
    out.append((f"需求人口为{DEMAND_ZH[q.demand]}（居住单元的 {q.demand} 字段）。",
                f"Demand is {DEMAND_EN[q.demand]} (the residences' {q.demand} field)."))
    if q.demand == "children" and q.type in ("kindergarten", "nursery"):
        out.append(("幼儿园/托儿所实际服务学龄前儿童，而数据只有 0–14 岁儿童数：千人学位数偏低，"
                    "宜与本地学龄前人口核对。",
                    "Kindergartens and nurseries serve pre-school children, but the data hold only children aged "
                    "0–14: places per 1 000 read low; check against local pre-school counts."))
    if estimated:
        out.append((f"户数与人口（及其儿童、老年人数）为 {OSM_ESTIMATE[0]}，不是普查数。",
                    "Households and population (and the children and elderly among them) are "
                    f"{OSM_ESTIMATE[1]}, not census counts."))
    missing_demand = int(np.isnan(r.demand).sum())
    if missing_demand:
        out.append((f"{missing_demand} 个居住单元缺少{DEMAND_ZH[q.demand]}数据，按 0 计入需求。",
                    f"{missing_demand} residences have no {q.demand} figure and count as no demand."))
    if r.idle.any():
        out.append((f"{int(r.idle.sum())} 处设施步行范围内没有需求人口，其容量未分摊给任何人。",
                    f"{int(r.idle.sum())} facilities have no demand within their catchment: their places reach "
                    "nobody who needs them."))
    if outcome.norm is not None:
        nm = outcome.norm
        out.append((f"配置标准：每千人 {nm.per_1000:g}（{nm.source}，{nm.status}）。",
                    f"Norm: {nm.per_1000:g} per 1 000 {nm.demand} ({nm.source}, {nm.status}; {nm.note})."))
    else:
        out.append(("已读资料中没有该类设施的千人指标，未给出与标准的比值。",
                    "The sources read give no per-1 000 norm for this type: no ratio to a norm is given."))
    return out


# ---- files ----------------------------------------------------------------------------------------
@dataclass
class AccessFiles:
    out: Path
    files: list[Path]


def write_files(outcome: AccessOutcome, out: str | Path) -> AccessFiles:
    """``access_residences.geojson``, ``access_communities.csv``, ``access_grids.csv``,
    ``access_facilities.csv`` and ``summary.csv`` (the summary, then the notes)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_analysis_geojson(outcome.residences, out / "access_residences.geojson")]
    for name, frame in (("access_communities.csv", outcome.communities), ("access_grids.csv", outcome.grids),
                        ("access_facilities.csv", pd.DataFrame(outcome.facilities.drop(columns="geometry"))),
                        ("summary.csv", outcome.summary_table())):
        frame.to_csv(out / name, index=False, encoding="utf-8-sig")
        files.append(out / name)
    return AccessFiles(out, files)
