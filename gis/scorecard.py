"""Community scorecards: does each community meet its city's standard, by how much does it miss it, and
what would put it right?

Pure computation on GeoDataFrames and a policy profile (``shequ.layers.profiles.Profile``): the
profile says which rules apply, to whom (each rule's ``scope``: kinds of community, new or existing,
the city's districts, the street level, residential developments) and their values; this module
measures each community against them. Every community gets one **verdict** per rule:

- ``meets`` / ``not met`` — in the rule's scope and measured (with the measure, and for a miss the
  remedy in words and its cost: m² of floor area or facilities to add);
- ``not applicable`` — outside the rule's scope (a rule for new communities, an existing one): never
  counted as not met;
- ``not in the data`` — the data cannot say (no facility of that type anywhere in the imported data,
  no establishment year, no grid with a party branch recorded): never counted as not met;
- ``not judged`` — in scope but a figure it needs is unknown (a centre without floor area);
- ``shown`` — a figure the rule sets (workers needed, funding), nothing to meet.

``Scorecard.rules`` counts per rule how many communities it applies to and how many meet it, beside the
profile's targets (each over its own scope: a rural target over rural communities only).

Each rule is one check: a function registered with ``@_check(<profile keys it reads>)`` that returns
its community columns and its rule results. ``CHECKS`` runs in the order the checks are defined here,
which is the order of the rows in a report, so a new rule is one new function in the right place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.gis.boundaries import draft_subdistricts
from shequ.gis.crs import metric_crs
from shequ.gis.topology import GridRules, check_grids
from shequ.layers import catalog
from shequ.layers.profiles import KIND_ZH, Profile, Rule, Scope

#: the rules a community row is scored on, in report order: key → (English, Chinese)
RULE_LABELS = {
    "community_households": ("Community size", "社区规模"),
    "service_centre": ("Service-centre floor area", "综合服务设施面积"),
    "one_stop": ("One-stop service hall", "一站式服务大厅面积"),
    "required_facilities": ("Required facilities", "应配设施"),
    "grids": ("Grids", "网格"),
}
MEETS, NOT_MET, NA, NO_DATA, NOT_JUDGED, SHOWN = (
    "meets", "not met", "not applicable", "not in the data", "not judged", "shown")
VERDICTS = (MEETS, NOT_MET, NA, NO_DATA, NOT_JUDGED, SHOWN)
VERDICT_ZH = {MEETS: "达标", NOT_MET: "未达标", NA: "不适用", NO_DATA: "数据中没有", NOT_JUDGED: "无法判断",
              SHOWN: "仅列示"}
#: the facilities that count as built (a planned or unfinished one never does)
BUILT = "existing"


@dataclass
class Scorecard:
    communities: pd.DataFrame  # one row per community (wide: a column or more per rule)
    rules: pd.DataFrame  # one row per rule: communities it applies to, meeting, share, target
    profile_name: str
    types: list[str] = field(default_factory=list)  # facility types with a coverage column
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # community × rule: verdict, measure, remedy
    subdistricts: pd.DataFrame = field(default_factory=pd.DataFrame)  # street-level rules, one row per street
    priorities: pd.DataFrame = field(default_factory=pd.DataFrame)  # per street: what moves most for least


# ---- the inputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    """What the checks measure, prepared once so that each check does not locate facilities again."""

    communities: gpd.GeoDataFrame  # index 0 … n-1
    households: np.ndarray  # float, missing counted as 0
    inside: np.ndarray  # per facility: row of the community it belongs to, -1 for none
    facility_type: np.ndarray
    floor_area: np.ndarray  # per facility, m², NaN where unknown
    grids: gpd.GeoDataFrame | None = None
    coverage: pd.DataFrame | None = None
    facilities: gpd.GeoDataFrame | None = None  # the layer itself (status, usage, location)
    residences: gpd.GeoDataFrame | None = None
    subdistricts: gpd.GeoDataFrame | None = None

    @classmethod
    def of(cls, communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
           grids: gpd.GeoDataFrame | None = None, coverage: pd.DataFrame | None = None,
           residences: gpd.GeoDataFrame | None = None, subdistricts: gpd.GeoDataFrame | None = None) -> Inputs:
        comm = communities.reset_index(drop=True)
        households = pd.to_numeric(comm["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
        facilities = facilities.reset_index(drop=True)
        if len(facilities):
            types = facilities["type"].to_numpy()
            area = pd.to_numeric(facilities.get("floor_area_m2"), errors="coerce").to_numpy(dtype=float)
        else:
            types, area = np.array([]), np.array([])
        return cls(comm, households, _inside(facilities, comm), types, area, grids, coverage, facilities,
                   residences, subdistricts)

    @property
    def n(self) -> int:
        return len(self.communities)

    @property
    def built(self) -> np.ndarray:
        """Facilities that exist (not planned, not under construction)."""
        if self.facilities is None or "status" not in self.facilities:
            return np.ones(len(self.facility_type), dtype=bool)
        return self.facilities["status"].fillna(BUILT).astype(str).to_numpy() == BUILT

    @property
    def types_in_data(self) -> set[str]:
        """Every facility type the imported data holds somewhere (built or not)."""
        return set(map(str, self.facility_type))

    def count(self, facilities: np.ndarray) -> np.ndarray:
        """How many of the selected facilities (a boolean mask) lie in each community."""
        return np.bincount(self.inside[facilities & (self.inside >= 0)], minlength=self.n)

    def floor_area_sum(self, facilities: np.ndarray) -> np.ndarray:
        """Floor area of the selected facilities per community, unknown areas counted as 0."""
        hit = facilities & (self.inside >= 0)
        return np.bincount(self.inside[hit], weights=np.nan_to_num(self.floor_area[hit]), minlength=self.n)

    def column(self, name: str, default: Any = None) -> pd.Series:
        comm = self.communities
        return comm[name] if name in comm else pd.Series([default] * self.n, index=comm.index)

    def kinds(self) -> np.ndarray:
        """Each community's kind: urban, town or rural (an older ``urban_rural`` column read too)."""
        kind = self.column("kind")
        if kind.isna().all() and "urban_rural" in self.communities:
            kind = self.communities["urban_rural"]
        return kind.fillna("urban").astype(str).to_numpy()


@dataclass(frozen=True)
class Reads:
    """The rules of a profile one check declared: reading any other is a bug in the check, so it raises."""

    profile: Profile
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.profile.name

    def get(self, key: str) -> Rule | None:
        if key not in self.keys:
            raise KeyError(f"a scorecard check reads {key!r} without declaring it")
        return self.profile.rules.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        rule = self.get(key)
        return default if rule is None else rule.value


# ---- verdicts -----------------------------------------------------------------------------------
@dataclass
class Judged:
    """One rule's verdict on every community, with what was measured and what would put it right."""

    status: np.ndarray  # one of VERDICTS
    measure: np.ndarray  # what this community has, in words
    reason: np.ndarray  # why not applicable / not in the data / not judged (English)
    reason_zh: np.ndarray
    remedy: np.ndarray  # what would put a miss right (English)
    remedy_zh: np.ndarray
    cost: np.ndarray  # how much of it: m² or facilities (0 where none)
    cost_unit: str = ""

    @classmethod
    def empty(cls, n: int, status: str = MEETS) -> Judged:
        text = lambda: np.full(n, "", dtype=object)  # noqa: E731
        return cls(np.full(n, status, dtype=object), text(), text(), text(), text(), text(), np.zeros(n))

    def mark(self, where: np.ndarray, status: str, reason: str = "", reason_zh: str = "") -> None:
        """Set ``status`` (and its reason) where ``where`` holds and the verdict is still open."""
        open_ = np.isin(self.status, [MEETS, NOT_MET])
        hit = np.asarray(where, dtype=bool) & open_
        self.status[hit] = status
        self.reason[hit] = reason
        self.reason_zh[hit] = reason_zh


@dataclass
class Result:
    """A rules-table row and the verdicts behind it."""

    row: dict
    judged: Judged


@dataclass
class Measured:
    """What one check adds to the scorecard."""

    columns: dict[str, Any] = field(default_factory=dict)  # community-table columns, in order
    results: list[Result] = field(default_factory=list)  # rules, in order
    types: list[str] = field(default_factory=list)  # facility types given a coverage column
    streets: list[dict] = field(default_factory=list)  # street-level rows

    @property
    def rows(self) -> list[dict]:
        return [r.row for r in self.results]


@dataclass(frozen=True)
class Check:
    """A rule function with the profile keys it reads; called with a whole profile, it sees only those."""

    name: str
    reads: tuple[str, ...]  # the profile keys it may read
    measure: Callable[[Inputs, Reads], Measured]

    def __call__(self, inputs: Inputs, profile: Profile) -> Measured:
        return self.measure(inputs, Reads(profile, self.reads))


#: every check, in report order
CHECKS: list[Check] = []


def _check(*reads: str) -> Callable[[Callable[[Inputs, Reads], Measured]], Check]:
    """Register a check that reads the profile keys ``reads`` (a test holds them to the rule vocabulary,
    ``layers.profiles.RULES``)."""

    def register(measure: Callable[[Inputs, Reads], Measured]) -> Check:
        check = Check(measure.__name__, reads, measure)
        CHECKS.append(check)
        return check
    return register


# ---- scope --------------------------------------------------------------------------------------
def in_scope(inputs: Inputs, scope: Scope) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per community: (applies, unknown, reason, reason_zh) for a community-level scope.

    ``unknown`` is set where the scope turns on a figure the data lacks (an establishment year).
    """
    n = inputs.n
    applies = np.ones(n, dtype=bool)
    unknown = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)
    reason_zh = np.full(n, "", dtype=object)
    scope_zh, scope_en = scope.describe()

    def out(where: np.ndarray, en: str, zh: str) -> None:
        fresh = where & applies & ~unknown
        reason[fresh] = en
        reason_zh[fresh] = zh
        applies[where] = False

    kinds = inputs.kinds()
    if set(scope.kinds) != {"urban", "town", "rural"}:
        other = ~np.isin(kinds, scope.kinds)
        for k in np.unique(kinds[other]):
            out(other & (kinds == k), f"applies to {scope_en}; this is a {k} community",
                f"适用于{scope_zh}；本社区为{KIND_ZH.get(k, k)}")
    if scope.city_districts:
        county = inputs.column("code").astype(str).str[4:6]
        district = county.str.fullmatch(r"0[1-9]|1\d|20").to_numpy()
        out(~district, f"applies to {scope_en}; this community is in a county, not a city district (市辖区)",
            f"适用于{scope_zh}；本社区不在市辖区")
    if scope.established:
        year = pd.to_numeric(inputs.column("established"), errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(year) & applies
        new = year >= (scope.since or 0)
        wrong = ~np.isnan(year) & (~new if scope.established == "new" else new)
        for y in np.unique(year[wrong & applies]):
            out(wrong & (year == y), f"applies to {scope_en}; this community was established in {int(y)}",
                f"适用于{scope_zh}；本社区设立于 {int(y)} 年")
        unknown |= missing
        reason[missing] = f"applies to {scope_en}; the community's establishment year is not in the data"
        reason_zh[missing] = f"适用于{scope_zh}；数据中没有本社区的设立年份"
    return applies & ~unknown, unknown, reason, reason_zh


def _scoped(inputs: Inputs, scope: Scope, judged: Judged) -> Judged:
    """Communities outside ``scope`` are not applicable; those whose scope is unknown not in the data."""
    applies, unknown, reason, reason_zh = in_scope(inputs, scope)
    out = ~applies & ~unknown
    judged.status[out] = NA
    judged.reason[out], judged.reason_zh[out] = reason[out], reason_zh[out]
    judged.status[unknown] = NO_DATA
    judged.reason[unknown], judged.reason_zh[unknown] = reason[unknown], reason_zh[unknown]
    for arr in (judged.remedy, judged.remedy_zh):
        arr[~applies] = ""
    judged.cost[~applies] = 0
    return judged


# ---- rows ---------------------------------------------------------------------------------------
def _row(key: str, rule: Rule | None, profile: Reads, n: int, *, label: str, zh: str,
         meeting: int | None = None, share: float | None = None, scope: Scope | None = None, **shown: Any) -> dict:
    """A rules-table row citing ``rule``; ``shown`` replaces its value, unit or source where a row shows a part."""
    if set(shown) - {"value", "unit", "source"}:
        raise TypeError(f"a rule row has no fields {sorted(set(shown) - {'value', 'unit', 'source'})}")
    scope = scope or (rule.scope if rule else Scope())
    scope_zh, scope_en = scope.describe()
    row = {"rule": key, "label": label, "label_zh": zh, "value": _show(rule.value) if rule else None,
           "unit": rule.unit if rule else "", "source": _source(rule) if rule else "",
           "status": rule.status if rule else "", "inherited": bool(rule and rule.profile != profile.name),
           "scope": scope_en, "scope_zh": scope_zh, "communities": n, "meeting": meeting, "share": share}
    row.update(shown)
    return row


def _result(key: str, rule: Rule | None, profile: Reads, judged: Judged, *, label: str, zh: str,
            scope: Scope | None = None, **shown: Any) -> Result:
    """A measured rule: counted over the communities it applies to (meets or not met)."""
    counted = np.isin(judged.status, [MEETS, NOT_MET])
    n = int(counted.sum())
    m = int((judged.status == MEETS).sum())
    row = _row(key, rule, profile, n, label=label, zh=zh, meeting=m, share=m / n if n else None, scope=scope,
               **shown)
    for status, column in ((NA, "not_applicable"), (NO_DATA, "not_in_data"), (NOT_JUDGED, "not_judged")):
        row[column] = int((judged.status == status).sum())
    return Result(row, judged)


def _shown(key: str, rule: Rule | None, profile: Reads, measure: np.ndarray, *, label: str, zh: str,
           scope: Scope | None = None, judged: Judged | None = None, **shown: Any) -> Result:
    """A figure the rule sets for each community (workers needed, funding): nothing to meet."""
    judged = judged or Judged.empty(len(measure), SHOWN)
    judged.measure[:] = measure
    row = _row(key, rule, profile, int((judged.status == SHOWN).sum()), label=label, zh=zh, scope=scope, **shown)
    row["not_applicable"] = int((judged.status == NA).sum())
    return Result(row, judged)


def _missing_everywhere(what: str, zh: str, column: str) -> tuple[str, str]:
    return (f"no {what} anywhere in the data ({column}): import it to judge this rule",
            f"数据中没有任何{zh}记录（{column}）：导入后才能判断")


# ---- the checks, in report order ----------------------------------------------------------------
@_check("community_households", "new_community_households")
def community_size(inputs: Inputs, profile: Reads) -> Measured:
    """Households per community in scope against the range (for new communities where that is what it says)."""
    size = profile.profile.size_rule()  # the two keys declared above; its own before an inherited one
    if size is None:
        return Measured()
    hh = inputs.households
    lo, hi = size.value
    check = np.where(hh < lo, "below", np.where(hh > hi, "above", "within"))
    off = np.where(hh < lo, hh - lo, np.where(hh > hi, hh - hi, 0)).astype(int)
    judged = Judged.empty(inputs.n)
    judged.status[check != "within"] = NOT_MET
    judged.measure[:] = [f"{h:,.0f} households" for h in hh]
    for k in np.flatnonzero(check == "above"):
        judged.remedy[k] = f"{off[k]:,} households over {hi:,.0f}: split it, or give blocks to a neighbour"
        judged.remedy_zh[k] = f"超出 {off[k]:,} 户：拆分社区或将部分街坊划入相邻社区"
    for k in np.flatnonzero(check == "below"):
        judged.remedy[k] = f"{-off[k]:,} households under {lo:,.0f}: merge with a neighbour"
        judged.remedy_zh[k] = f"不足 {-off[k]:,} 户：与相邻社区合并"
    _scoped(inputs, size.scope, judged)
    new = size.scope.established == "new" or size.key == "new_community_households"
    return Measured({"size_check": check, "size_off_by": off},
                    [_result("community_households", size, profile, judged,
                             label=f"households per community {lo:,.0f}–{hi:,.0f}" + (" (new communities)" if new
                                                                                      else ""),
                             zh=f"{'新建' if new else ''}社区规模 {lo:,.0f}–{hi:,.0f} 户")])


_CENTRE_RULES = ("service_centre_types", "service_centre_m2_per_100_households", "service_centre_min_m2",
                 "new_community_service_centre_min_m2")


def _centres(inputs: Inputs, profile: Reads) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Built service centres per community: how many, their floor area, how many of unknown area; and
    how many are planned or under construction (they do not count)."""
    is_centre = np.isin(inputs.facility_type, profile.value("service_centre_types", []))
    built = inputs.built
    return (inputs.count(is_centre & built), inputs.floor_area_sum(is_centre & built),
            inputs.count(is_centre & built & np.isnan(inputs.floor_area)), inputs.count(is_centre & ~built))


def _centres_in_data(inputs: Inputs, profile: Reads) -> bool:
    return bool(np.isin(inputs.facility_type, profile.value("service_centre_types", [])).any())


@_check(*_CENTRE_RULES)
def service_centres(inputs: Inputs, profile: Reads) -> Measured:
    """The service centres found, whatever the profile asks of them (shown even without a rule)."""
    count, m2, unknown, planned = _centres(inputs, profile)
    return Measured({"centre_count": count, "centre_m2": m2, "centre_area_unknown": unknown,
                     "centre_planned": planned})


def _no_centres(inputs: Inputs, profile: Reads, judged: Judged) -> None:
    if not _centres_in_data(inputs, profile):
        judged.mark(np.ones(inputs.n, dtype=bool), NO_DATA,
                    *_missing_everywhere("community service centre", "社区综合服务设施", "facilities.type"))


@_check(*_CENTRE_RULES)
def centre_present(inputs: Inputs, profile: Reads) -> Measured:
    """Any built service centre at all: counted where the profile asks for a floor area, which presumes one."""
    per100 = profile.get("service_centre_m2_per_100_households")
    minimum = profile.get("service_centre_min_m2")
    if per100 is None and minimum is None:
        return Measured()
    count, _, _, planned = _centres(inputs, profile)
    judged = Judged.empty(inputs.n)
    judged.status[count == 0] = NOT_MET
    judged.measure[:] = [f"{c} built" + (f", {p} planned" if p else "") for c, p in zip(count, planned, strict=True)]
    judged.remedy[count == 0] = "build a community service centre (a planned one counts once built)"
    judged.remedy_zh[count == 0] = "建设社区综合服务设施（规划中的建成后计入）"
    judged.cost[count == 0] = 1
    judged.cost_unit = "facilities"
    _no_centres(inputs, profile, judged)
    scope = (minimum or per100).scope if (minimum or per100).scope.level == "community" else Scope()
    _scoped(inputs, scope, judged)
    return Measured(results=[_result("service_centre_present", profile.get("service_centre_types") or per100,
                                     profile, judged, scope=scope,
                                     label="has a community service centre (built, any of the service-centre types)",
                                     zh="有社区综合服务设施（已建成）")])


def _area_verdict(inputs: Inputs, profile: Reads, need: np.ndarray, m2: np.ndarray, count: np.ndarray,
                  unknown: np.ndarray) -> tuple[Judged, np.ndarray, np.ndarray]:
    shortfall = np.round(np.maximum(need - m2, 0), 1)
    judged = Judged.empty(inputs.n)
    judged.measure[:] = [f"{a:,.0f} / {r:,.0f} m²" for a, r in zip(m2, need, strict=True)]
    short = shortfall > 0
    judged.status[short | (count == 0)] = NOT_MET
    for k in np.flatnonzero(short):
        judged.remedy[k] = f"add {shortfall[k]:,.0f} m² of service-centre floor area"
        judged.remedy_zh[k] = f"增加综合服务设施面积 {shortfall[k]:,.0f} m²"
    judged.cost[:] = shortfall
    judged.cost_unit = "m²"
    judged.mark(unknown > 0, NOT_JUDGED, "a service centre's floor area is not in the data (floor_area_m2)",
                "社区综合服务设施面积未知（floor_area_m2）")
    _no_centres(inputs, profile, judged)
    check = np.select([count == 0, unknown > 0, shortfall > 0], ["no centre in the data", "floor area unknown",
                                                                  "short"], "meets")
    return judged, shortfall, check


@_check(*_CENTRE_RULES)
def centre_floor_area(inputs: Inputs, profile: Reads) -> Measured:
    """Service-centre floor area against the larger of m² per 100 households and the minimum, in each one's
    scope (a per-household area for new developments is measured per development, below)."""
    per100 = profile.get("service_centre_m2_per_100_households")
    minimum = profile.get("service_centre_min_m2")
    if per100 is not None and per100.scope.level != "community":
        per100 = None  # measured on its own level (``development_floor_area``)
    if per100 is None and minimum is None:
        return Measured()
    count, m2, unknown, _ = _centres(inputs, profile)
    need = np.zeros(inputs.n)
    if per100 is not None:
        need = np.maximum(need, inputs.households / 100 * per100.value)
    if minimum is not None:
        need = np.maximum(need, minimum.value)
    judged, shortfall, check = _area_verdict(inputs, profile, need, m2, count, unknown)
    _scoped(inputs, (per100 or minimum).scope, judged)
    parts = [f"{per100.value} m²/100 households" if per100 else "", f"≥ {minimum.value:,} m²" if minimum else ""]
    return Measured({"centre_required_m2": np.round(need, 1), "centre_shortfall_m2": shortfall, "centre_check": check},
                    [_result("service_centre", per100 or minimum, profile, judged,
                             label="service-centre floor area " + ", ".join(p for p in parts if p)
                                   + (" (the larger, per community)" if per100 and minimum else ""),
                             zh="综合服务设施面积 " + "，".join(p.replace("households", "户") for p in parts if p)
                                + ("（取大者）" if per100 and minimum else ""))])


@_check(*_CENTRE_RULES)
def centre_minimum(inputs: Inputs, profile: Reads) -> Measured:
    """The minimum on its own, with its own source, when the profile also has a per-household area."""
    minimum = profile.get("service_centre_min_m2")
    per100 = profile.get("service_centre_m2_per_100_households")
    if per100 is None or per100.scope.level != "community" or minimum is None:
        return Measured()
    count, m2, unknown, _ = _centres(inputs, profile)
    judged, _, _ = _area_verdict(inputs, profile, np.full(inputs.n, float(minimum.value)), m2, count, unknown)
    _scoped(inputs, minimum.scope, judged)
    return Measured(results=[_result("service_centre_min_m2", minimum, profile, judged,
                                     label=f"service centre ≥ {minimum.value:,} m²",
                                     zh=f"综合服务设施不少于 {minimum.value:,} m²")])


@_check(*_CENTRE_RULES)
def new_community_centre(inputs: Inputs, profile: Reads) -> Measured:
    """The minimum floor area of a new community's service centre (its own rule and scope)."""
    minimum = profile.get("new_community_service_centre_min_m2")
    if minimum is None:
        return Measured()
    count, m2, unknown, _ = _centres(inputs, profile)
    judged, _, _ = _area_verdict(inputs, profile, np.full(inputs.n, float(minimum.value)), m2, count, unknown)
    scope = minimum.scope if minimum.scope.established else Scope(
        minimum.scope.level, minimum.scope.kinds, "new", minimum.year, minimum.scope.city_districts)
    _scoped(inputs, scope, judged)
    return Measured(results=[_result("new_community_service_centre_min_m2", minimum, profile, judged, scope=scope,
                                     label=f"new community: service centre ≥ {minimum.value:,} m²",
                                     zh=f"新建社区综合服务设施不少于 {minimum.value:,} m²")])


@_check(*_CENTRE_RULES)
def development_floor_area(inputs: Inputs, profile: Reads) -> Measured:
    """A per-household floor area that the document sets for residential developments (新建小区): measured
    on each development in scope (by its ``built`` year), the centres inside it against its households."""
    per100 = profile.get("service_centre_m2_per_100_households")
    if per100 is None or per100.scope.level != "development":
        return Measured()
    judged = Judged.empty(inputs.n, NA)
    res = inputs.residences
    scope = per100.scope
    has = res is not None and len(res) and "built" in res
    built = pd.to_numeric(res["built"], errors="coerce") if has else pd.Series(dtype=float)
    if not has or built.isna().all():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere(
            "residential development's building year", "居住小区建成年份", "residences.built")
        return Measured(results=[_result("service_centre_development", per100, profile, judged,
                                         label=f"new developments: {per100.value} m² per 100 households",
                                         zh=f"新建小区每百户 {per100.value} m²")])
    since = scope.since or 0
    new = (built >= since) if scope.established == "new" else built.notna()
    dev = res[new.to_numpy()].reset_index(drop=True)
    is_centre = np.isin(inputs.facility_type, profile.value("service_centre_types", [])) & inputs.built
    areas = np.zeros(len(dev))
    if len(dev) and is_centre.any():
        fac = np.asarray(inputs.facilities.geometry.values)[is_centre]
        hit = shapely.STRtree(fac).query(np.asarray(dev.geometry.values), predicate="contains")
        np.add.at(areas, hit[0], np.nan_to_num(inputs.floor_area[is_centre][hit[1]]))
    need = pd.to_numeric(dev["households"], errors="coerce").fillna(0).to_numpy() / 100 * per100.value
    short = np.maximum(need - areas, 0)
    owner = shapely.STRtree(np.asarray(inputs.communities.geometry.values)).query(
        shapely.point_on_surface(np.asarray(dev.geometry.values)), predicate="within") if len(dev) else \
        np.empty((2, 0), dtype=int)
    for k in range(inputs.n):
        mine = owner[0][owner[1] == k]
        if not len(mine):
            judged.reason[k] = f"applies to developments built since {since}; none in this community"
            judged.reason_zh[k] = f"适用于 {since} 年起新建的小区；本社区没有"
            continue
        gap = short[mine].sum()
        judged.status[k] = MEETS if gap <= 0 else NOT_MET
        judged.measure[k] = f"{len(mine)} new development(s): {areas[mine].sum():,.0f} / {need[mine].sum():,.0f} m²"
        if gap > 0:
            judged.remedy[k] = f"add {gap:,.0f} m² of service premises in its new developments"
            judged.remedy_zh[k] = f"在新建小区内增加服务用房 {gap:,.0f} m²"
            judged.cost[k] = gap
    judged.cost_unit = "m²"
    return Measured(results=[_result("service_centre_development", per100, profile, judged,
                                     label=f"new developments: {per100.value} m² of service premises per 100 "
                                           "households", zh=f"新建小区每百户配置服务用房 {per100.value} m²")])


@_check("one_stop_min_m2")
def one_stop_hall(inputs: Inputs, profile: Reads) -> Measured:
    """Floor area of the built one-stop service hall(s) inside each community against the minimum."""
    one_stop = profile.get("one_stop_min_m2")
    if one_stop is None:
        return Measured()
    hall = (inputs.facility_type == "one_stop_service_hall") & inputs.built
    m2 = inputs.floor_area_sum(hall)
    count = inputs.count(hall)
    check = np.where(count == 0, "none in the data", np.where(m2 >= one_stop.value, "meets", "short"))
    judged = Judged.empty(inputs.n)
    judged.status[check != "meets"] = NOT_MET
    judged.measure[:] = [f"{a:,.0f} m²" for a in m2]
    short = np.maximum(one_stop.value - m2, 0)
    for k in np.flatnonzero(check != "meets"):
        judged.remedy[k] = f"add {short[k]:,.0f} m² of one-stop service hall"
        judged.remedy_zh[k] = f"增加一站式服务大厅面积 {short[k]:,.0f} m²"
    judged.cost[:] = np.where(check != "meets", short, 0)
    judged.cost_unit = "m²"
    if "one_stop_service_hall" not in inputs.types_in_data:
        judged.mark(np.ones(inputs.n, dtype=bool), NO_DATA,
                    *_missing_everywhere("one-stop service hall", "一站式服务大厅", "facilities.type"))
    _scoped(inputs, one_stop.scope, judged)
    return Measured({"one_stop_m2": m2, "one_stop_check": check},
                    [_result("one_stop", one_stop, profile, judged,
                             label=f"one-stop service hall ≥ {one_stop.value:,} m²",
                             zh=f"一站式服务大厅不少于 {one_stop.value:,} m²")])


def _required_items(required: Rule) -> list[tuple[str, dict]]:
    """The community-level required types (each once, in profile order) and their items."""
    seen: dict[str, dict] = {}
    for item in required.value:
        if required.item_scope(item).level == "community":
            seen.setdefault(item["type"], item)
    return list(seen.items())


def _required_judged(inputs: Inputs, required: Rule, t: str, item: dict) -> Judged:
    """One required type in each community: built inside it, planned only, absent here, absent everywhere."""
    names = catalog.load_facility_types()
    built = inputs.count((inputs.facility_type == t) & inputs.built)
    planned = inputs.count((inputs.facility_type == t) & ~inputs.built)
    judged = Judged.empty(inputs.n)
    judged.status[built == 0] = NOT_MET
    judged.measure[:] = [f"{b} built" + (f", {p} planned" if p else "") for b, p in zip(built, planned, strict=True)]
    distance = names[t].service_distance_m.value
    where = f" (or within {distance:g} m on foot)" if distance else ""
    judged.remedy[built == 0] = [f"add a {names[t].name_en}{where}" + (" — finish the planned one" if p else "")
                                 for p in planned[built == 0]]
    judged.remedy_zh[built == 0] = [f"配建{names[t].name_zh}" + (f"（或步行 {distance:g} 米内）" if distance else "")
                                    + ("——建成规划中的项目" if p else "") for p in planned[built == 0]]
    judged.cost[built == 0] = 1
    judged.cost_unit = "facilities"
    if t not in inputs.types_in_data:
        judged.mark(np.ones(inputs.n, dtype=bool), NO_DATA,
                    *_missing_everywhere(names[t].name_en, names[t].name_zh, "facilities.type"))
    return _scoped(inputs, required.item_scope(item), judged)


@_check("required_facilities")
def required_facilities(inputs: Inputs, profile: Reads) -> Measured:
    """Whether every required type in scope is built inside the community; which are missing."""
    required = profile.get("required_facilities")
    if required is None:
        return Measured()
    names = catalog.load_facility_types()
    items = _required_items(required)
    each = [_required_judged(inputs, required, t, item) for t, item in items]
    status = np.array([j.status for j in each]).T if each else np.empty((inputs.n, 0), dtype=object)
    counted = np.isin(status, [MEETS, NOT_MET])
    judged = Judged.empty(inputs.n)
    judged.status[(status == NOT_MET).any(axis=1)] = NOT_MET
    judged.status[~counted.any(axis=1)] = NA if (status == NA).all() else NO_DATA
    found = (status == MEETS).sum(axis=1)
    total = counted.sum(axis=1)
    judged.measure[:] = [f"{f} / {n}" for f, n in zip(found, total, strict=True)]
    missing = [[names[t].name_zh for (t, _), s in zip(items, row, strict=True) if s == NOT_MET] for row in status]
    judged.remedy[:] = ["add " + ", ".join(m) if m else "" for m in missing]
    judged.remedy_zh[:] = ["配建" + "、".join(m) if m else "" for m in missing]
    judged.cost[:] = [len(m) for m in missing]
    judged.cost_unit = "facilities"
    judged.reason[~counted.any(axis=1)] = "no required type is in scope and in the data"
    judged.reason_zh[~counted.any(axis=1)] = "没有适用且有数据的应配设施"
    absent = [names[t].name_zh for t, _ in items if t not in inputs.types_in_data]
    return Measured({"required_present": found, "required_total": total,
                     "required_missing": [", ".join(m) for m in missing],
                     "required_not_in_data": ", ".join(absent)},
                    [_result("required_facilities", required, profile, judged,
                             label=f"required facility types inside the community ({len(items)} listed; "
                                   "each counted where in scope and in the data)",
                             zh=f"社区内应配设施齐全（共 {len(items)} 类，按适用范围与数据计）")])


@_check("required_facilities")
def required_each(inputs: Inputs, profile: Reads) -> Measured:
    """One row per required type, citing its own clause and scope, so a report shows which type is most
    often missing and which the data simply does not hold."""
    required = profile.get("required_facilities")
    if required is None:
        return Measured()
    names = catalog.load_facility_types()
    results = []
    for t, item in _required_items(required):
        judged = _required_judged(inputs, required, t, item)
        results.append(_result(f"required:{t}", required, profile, judged, label=f"  {names[t].name_en}",
                               zh=f"  {names[t].name_zh}", scope=required.item_scope(item), value=None, unit="",
                               source=f"{required.source_title} {item.get('clause', required.clause)}"))
    return Measured(results=results)


@_check("co_located_types", "co_location_m", "service_centre_types")
def co_location(inputs: Inputs, profile: Reads) -> Measured:
    """The services the document puts on one site with the service centre (同址), each within the
    co-location distance of a built centre."""
    types = profile.get("co_located_types")
    if types is None:
        return Measured()
    metres = float(profile.value("co_location_m", 50) or 50)
    names = catalog.load_facility_types()
    judged = Judged.empty(inputs.n)
    fac = inputs.facilities
    # the anchor is the 社区综合服务中心 itself; the other services (a station, a hall …) come to its site
    is_centre = (inputs.facility_type == "community_service_centre") & inputs.built
    if fac is None or not is_centre.any():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere("community service centre", "社区综合服务中心",
                                                                    "facilities.type")
    else:
        xy = np.asarray(fac.to_crs(metric_crs(fac)).geometry.values)
        centre_rows = np.flatnonzero(is_centre)
        wanted = [t for t in types.value if t != "community_service_centre"]
        for k in range(inputs.n):
            mine = centre_rows[inputs.inside[centre_rows] == k]
            if not len(mine):
                judged.status[k] = NOT_MET
                judged.measure[k] = "no built centre"
                judged.remedy[k] = "build the service centre and put these services on its site"
                judged.remedy_zh[k] = "建设社区综合服务中心，并将上述服务同址设置"
                continue
            apart = []
            for t in wanted:
                rows = np.flatnonzero((inputs.facility_type == t) & inputs.built & (inputs.inside == k))
                rows = rows[~np.isin(rows, mine)]
                near = (shapely.distance(xy[rows][:, None], xy[mine][None, :]).min(axis=1) <= metres
                        if len(rows) else np.array([], dtype=bool))
                if not near.any():
                    apart.append(t)
            judged.measure[k] = f"{len(wanted) - len(apart)} / {len(wanted)} on the centre's site"
            if apart:
                judged.status[k] = NOT_MET
                judged.remedy[k] = "bring to the centre's site: " + ", ".join(names[t].name_en for t in apart)
                judged.remedy_zh[k] = "同址设置：" + "、".join(names[t].name_zh for t in apart)
                judged.cost[k] = len(apart)
        judged.cost_unit = "facilities"
    _scoped(inputs, types.scope, judged)
    return Measured(results=[_result("co_located_types", types, profile, judged,
                                     label=f"{len(types.value)} services on the service centre's site (within "
                                           f"{metres:g} m)", zh=f"{len(types.value)} 类服务与社区综合服务设施同址"
                                                                f"（{metres:g} 米内）")])


def _staff(households: np.ndarray, profile: Reads) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Community workers needed (low, high) by the profile's formula, and the formula in words.

    A formula's extra workers come per *full* step of households above the threshold (诸暨 二(三)12:
    "每增300—400户可增配1人": 2 001 households add nobody; 2 300 add one at the 300 end only).
    """
    per = profile.get("staff_per_households")
    formula = profile.get("staff_formula")
    if formula is not None:
        f = formula.value
        base_lo, base_hi = f["base"]
        above = np.maximum(households - f["above_households"], 0)
        per_lo, per_hi = f["extra_per_households"]
        lo = base_lo + np.floor(above / per_hi)
        hi = base_hi + np.floor(above / per_lo)
        return lo, hi, (f"{base_lo}–{base_hi} full-time, +1 per full {per_lo}–{per_hi} households above "
                        f"{f['above_households']:,} ({formula.citation})")
    if per is not None:
        need = np.ceil(households / per.value)
        return need, need, f"1 per {per.value:,.0f} households ({per.citation})"
    return None, None, ""


@_check("staff_formula", "staff_per_households")
def staff(inputs: Inputs, profile: Reads) -> Measured:
    """Community workers needed: shown, not measured, as the data hold no staff counts."""
    lo, hi, words = _staff(inputs.households, profile)
    if lo is None or hi is None:
        return Measured()
    rule = profile.get("staff_formula") or profile.get("staff_per_households")
    measure = np.array([f"{a:.0f}" if a == b else f"{a:.0f}–{b:.0f}" for a, b in zip(lo, hi, strict=True)],
                       dtype=object)
    return Measured({"staff_needed_min": lo.astype(int), "staff_needed_max": hi.astype(int)},
                    [_shown("staff", rule, profile, measure, label=f"community workers needed: {words}",
                            zh="应配社区工作者")])


@_check("social_workers_min", "party_workers_min")
def workers_minimum(inputs: Inputs, profile: Reads) -> Measured:
    """Fixed minimums of social and party workers per community: a column each, no row of their own."""
    columns = {}
    for key, column in (("social_workers_min", "social_workers_needed"), ("party_workers_min", "party_workers_needed")):
        rule = profile.get(key)
        if rule is not None:
            columns[column] = int(rule.value)
    return Measured(columns)


@_check("funding")
def funding(inputs: Inputs, profile: Reads) -> Measured:
    """Amounts in yuan per community (shown, not measured), each line for the communities in its scope.

    A per-households amount is proportional (诸暨 六: "每千户不低于10万元": 2 001 households → ¥200 100),
    not rounded up to the next thousand households.
    """
    rule = profile.get("funding")
    if rule is None:
        return Measured()
    n, hh = inputs.n, inputs.households
    measured = Measured()
    for k, item in enumerate(rule.value):
        if not isinstance(item.get("value"), (int, float)) or "CNY" not in str(item.get("unit", "")):
            continue
        per = item.get("per_households")
        amount = np.full(n, float(item["value"])) if not per else item["value"] * hh / per
        scope = rule.item_scope(item)
        if scope.everyone:  # no scope stated: read it from the words, as before scopes were data
            kind = _applies_to(str(item.get("applies_to", "")))
            if kind is not None:
                scope = Scope(kinds=(kind,) if kind == "urban" else ("town", "rural"))
        judged = _scoped(inputs, scope, Judged.empty(n, SHOWN))
        amount = np.where(judged.status == SHOWN, amount, np.nan)
        measured.columns[f"funding_{k}_cny"] = pd.array(np.round(amount), dtype="Int64")
        label = f"{item.get('item_zh', '')} {item.get('item', '')}".strip()
        scope_zh, scope_en = scope.describe()
        measured.results.append(_shown(
            f"funding_{k}", rule, profile,
            np.array(["" if np.isnan(a) else f"¥{a:,.0f}" for a in amount], dtype=object),
            label=label + ("" if scope.everyone else f", {scope_en}"),
            zh=item.get("item_zh", "") + ("" if scope.everyone else f"（{scope_zh}）"), scope=scope, judged=judged,
            value=item["value"], unit=item["unit"] + (f" per {per:,} households" if per else ""),
            source=f"{rule.source_title} {item.get('clause', rule.clause)}"))
    return measured


@_check("grid_households", "grid_manager_required", "grid_party_branch_required", "grids_nest_in_communities")
def grids(inputs: Inputs, profile: Reads) -> Measured:
    """Grids per community: in the household range, staffed as required, tiling it without gaps or overlaps.
    A requirement the data holds nothing about (no grid records a party branch anywhere) is said so, not
    failed."""
    layer = inputs.grids
    if layer is None or not len(layer):
        return Measured()
    recorded = {c: c in layer and layer[c].notna().any() and layer[c].astype(str).str.strip().ne("").any()
                for c in ("manager", "party_branch")}
    g_rules = GridRules(households=tuple(profile.value("grid_households")) if profile.get("grid_households")
                        else None,
                        manager_required=bool(profile.value("grid_manager_required", False)) and recorded["manager"],
                        party_branch_required=bool(profile.value("grid_party_branch_required", False))
                        and recorded["party_branch"])
    findings = check_grids(layer, inputs.communities, g_rules, gaps=True)
    code = inputs.communities["code"]
    out: dict[str, pd.Series] = {"grids": code.map(layer.groupby("community_code").size()).fillna(0).astype(int)}
    if g_rules.households:
        lo, hi = g_rules.households
        ok = layer["households"].astype(float).between(lo, hi)
        out["grids_in_range"] = code.map(ok.groupby(layer["community_code"]).sum()).fillna(0).astype(int)
    per_comm = findings.assign(community=findings["grid"].map(dict(zip(layer["code"], layer["community_code"],
                                                                       strict=True))))
    per_comm.loc[per_comm["check"] == "gap", "community"] = per_comm["other"]
    for check, column, required in (("no_manager", "grids_without_manager", g_rules.manager_required),
                                    ("no_party_branch", "grids_without_branch", g_rules.party_branch_required)):
        if required:
            out[column] = code.map(per_comm[per_comm["check"] == check].groupby("community").size()) \
                .fillna(0).astype(int)
    topo = per_comm[per_comm["check"].isin(["outside_community", "overlap", "gap", "invalid_geometry"])]
    out["grid_topology_findings"] = code.map(topo.groupby("community").size()).fillna(0).astype(int)
    ok = out["grids"].gt(0) & out["grid_topology_findings"].eq(0)
    for column in ("grids_without_manager", "grids_without_branch"):
        if column in out:
            ok &= out[column].eq(0)
    if "grids_in_range" in out:
        ok &= out["grids_in_range"].eq(out["grids"])
    check = np.where(out["grids"].eq(0), "no grids", np.where(ok, "meets", "findings"))
    judged = Judged.empty(inputs.n)
    judged.status[check != "meets"] = NOT_MET
    judged.measure[:] = [f"{g} grids" for g in out["grids"]]
    for k in np.flatnonzero(check != "meets"):
        todo, todo_zh = [], []
        if out["grids"].iloc[k] == 0:
            todo, todo_zh = ["draw its grids (shequ draft grids)"], ["划分网格（shequ draft grids）"]
        if out["grid_topology_findings"].iloc[k]:
            todo.append(f"fix {out['grid_topology_findings'].iloc[k]} gap(s) or overlap(s)")
            todo_zh.append(f"修正 {out['grid_topology_findings'].iloc[k]} 处空白或重叠")
        if "grids_in_range" in out and out["grids_in_range"].iloc[k] < out["grids"].iloc[k]:
            todo.append(f"re-draw {out['grids'].iloc[k] - out['grids_in_range'].iloc[k]} grid(s) outside the range")
            todo_zh.append(f"调整 {out['grids'].iloc[k] - out['grids_in_range'].iloc[k]} 个户数不达标的网格")
        for column, en, zh in (("grids_without_manager", "name a grid manager for", "配备网格员："),
                               ("grids_without_branch", "set up a party branch in", "建立党支部：")):
            if column in out and out[column].iloc[k]:
                todo.append(f"{en} {out[column].iloc[k]} grid(s)")
                todo_zh.append(f"{zh}{out[column].iloc[k]} 个网格")
        judged.remedy[k], judged.remedy_zh[k] = "; ".join(todo), "；".join(todo_zh)
    en, zh = ["grids tile the community"], ["网格无缝覆盖社区"]
    if g_rules.households:
        lo, hi = g_rules.households
        en.append(f"{lo:,.0f}–{hi:,.0f} households each")
        zh.append(f"每格 {lo:,.0f}–{hi:,.0f} 户")
    notes = []
    for key, column, words, words_zh in (("grid_manager_required", "manager", "a grid manager", "网格员"),
                                         ("grid_party_branch_required", "party_branch", "a party branch", "党支部")):
        if profile.value(key, False):
            if recorded[column]:
                en.append(f"each with {words}")
                zh.append(f"每格有{words_zh}")
            else:
                notes.append((f"{words} per grid is asked, but no grid in the data records one (grids.{column}): "
                              "not judged",
                              f"要求每格有{words_zh}，但数据中没有任何网格记录（grids.{column}）：未判断"))
    rule = profile.get("grid_households") or profile.get("grids_nest_in_communities")
    result = _result("grids", rule, profile, judged, label=", ".join(en), zh="，".join(zh))
    result.row["note"] = "; ".join(n for n, _ in notes)
    result.row["note_zh"] = "；".join(z for _, z in notes)
    results = [result]
    for note_en, note_zh in notes:  # the requirement the data cannot show, as its own row
        missing = Judged.empty(inputs.n, NO_DATA)
        missing.reason[:], missing.reason_zh[:] = note_en, note_zh
        key = "grid_manager_required" if "manager" in note_en else "grid_party_branch_required"
        results.append(_result(key, profile.get(key), profile, missing, label=note_en.split(" is asked")[0],
                               zh=note_zh.split("，")[0]))
    return Measured({**out, "grid_check": check}, results)


@_check("facilities_in_use")
def facilities_in_use(inputs: Inputs, profile: Reads) -> Measured:
    """Facilities used, not only in reach (吉林): every built facility in the community has visits or
    opening hours recorded above zero."""
    rule = profile.get("facilities_in_use")
    if rule is None or not rule.value:
        return Measured()
    fac = inputs.facilities
    judged = Judged.empty(inputs.n)
    cols = [c for c in ("visits_per_year", "opening_hours_per_week") if fac is not None and c in fac]
    use = (fac[cols].apply(pd.to_numeric, errors="coerce").fillna(0).gt(0).any(axis=1).to_numpy() if cols
           else np.zeros(len(inputs.facility_type), dtype=bool))
    known = (fac[cols].notna().any(axis=1).to_numpy() if cols else np.zeros(len(inputs.facility_type), dtype=bool))
    if not known.any():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere(
            "facility usage", "设施使用情况", "facilities.visits_per_year / opening_hours_per_week")
    else:
        built = inputs.built
        total, used = inputs.count(built & known), inputs.count(built & known & use)
        judged.measure[:] = [f"{u} of {t} recorded facilities in use" for u, t in zip(used, total, strict=True)]
        judged.status[used < total] = NOT_MET
        judged.remedy[used < total] = "open the unused facilities (hours, services) or re-purpose them"
        judged.remedy_zh[used < total] = "提高闲置设施使用率（开放时间、服务内容）或调整用途"
        judged.status[total == 0] = NO_DATA
        judged.reason[total == 0] = "no facility of this community has usage recorded"
        judged.reason_zh[total == 0] = "本社区没有设施使用记录"
    _scoped(inputs, rule.scope, judged)
    return Measured(results=[_result("facilities_in_use", rule, profile, judged,
                                     label="facilities used (visits or opening hours recorded)",
                                     zh="设施有效使用（服务人次或开放时间）")])


@_check("migrants_covered")
def migrants_covered(inputs: Inputs, profile: Reads) -> Measured:
    """Rural migrant workers (农民工) counted where they live, so services reach them (吉林)."""
    rule = profile.get("migrants_covered")
    if rule is None or not rule.value:
        return Measured()
    res = inputs.residences
    judged = Judged.empty(inputs.n)
    migrants = pd.to_numeric(res.get("migrants"), errors="coerce") if res is not None and len(res) else None
    if migrants is None or migrants.isna().all():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere("count of rural migrant workers", "农民工人数",
                                                                    "residences.migrants")
    else:
        owner = _owner(inputs, res)
        counted = np.bincount(owner[owner >= 0], weights=migrants.fillna(0).to_numpy()[owner >= 0],
                              minlength=inputs.n)
        recorded = np.bincount(owner[(owner >= 0) & migrants.notna().to_numpy()], minlength=inputs.n)
        judged.measure[:] = [f"{m:,.0f} migrant workers recorded" for m in counted]
        judged.status[recorded == 0] = NOT_MET
        judged.remedy[recorded == 0] = "count the migrant workers living here (residences.migrants)"
        judged.remedy_zh[recorded == 0] = "登记居住在本社区的农民工（residences.migrants）"
    _scoped(inputs, rule.scope, judged)
    return Measured(results=[_result("migrants_covered", rule, profile, judged,
                                     label="rural migrant workers counted where they live",
                                     zh="农民工纳入社区服务（按居住地登记）")])


@_check("self_governance_units")
def self_governance_units(inputs: Inputs, profile: Reads) -> Measured:
    """Self-governance units below the grid (院落, 楼栋) recorded on the residences (吉林)."""
    rule = profile.get("self_governance_units")
    if rule is None or not rule.value:
        return Measured()
    res = inputs.residences
    judged = Judged.empty(inputs.n)
    units = res.get("self_governance_unit") if res is not None and len(res) else None
    has = units.notna() & units.astype(str).str.strip().ne("") if units is not None else None
    if has is None or not has.any():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere("self-governance unit (院落/楼栋)", "自治单元",
                                                                    "residences.self_governance_unit")
    else:
        owner = _owner(inputs, res)
        count = np.bincount(owner[(owner >= 0) & has.to_numpy()], minlength=inputs.n)
        judged.measure[:] = [f"{c} residences in a unit" for c in count]
        judged.status[count == 0] = NOT_MET
        judged.remedy[count == 0] = "set up 院落/楼栋 self-governance units"
        judged.remedy_zh[count == 0] = "建立院落、楼栋自治单元"
    _scoped(inputs, rule.scope, judged)
    return Measured(results=[_result("self_governance_units", rule, profile, judged,
                                     label="self-governance units below the grid (院落, 楼栋)",
                                     zh="网格以下自治单元（院落、楼栋）")])


@_check("unit_facilities_open")
def unit_facilities_open(inputs: Inputs, profile: Reads) -> Measured:
    """Facilities owned by work units (单位) opened to residents (吉林): counted per community."""
    rule = profile.get("unit_facilities_open")
    if rule is None or not rule.value:
        return Measured()
    fac = inputs.facilities
    judged = Judged.empty(inputs.n)
    flag = fac.get("unit_owned") if fac is not None and len(fac) else None
    if flag is None or flag.isna().all():
        judged.status[:] = NO_DATA
        judged.reason[:], judged.reason_zh[:] = _missing_everywhere("unit-owned facility opened to residents",
                                                                    "向居民开放的单位设施", "facilities.unit_owned")
    else:
        count = inputs.count(flag.fillna(False).astype(bool).to_numpy() & inputs.built)
        judged.measure[:] = [f"{c} unit-owned facilities open" for c in count]
        judged.status[count == 0] = NOT_MET
        judged.remedy[count == 0] = "agree with the work units nearby to open their facilities"
        judged.remedy_zh[count == 0] = "推动驻区单位设施向居民开放"
        judged.cost[count == 0] = 1
        judged.cost_unit = "facilities"
    _scoped(inputs, rule.scope, judged)
    return Measured(results=[_result("unit_facilities_open", rule, profile, judged,
                                     label="unit-owned facilities opened to residents", zh="单位设施向居民开放")])


@_check("satisfaction_min")
def satisfaction(inputs: Inputs, profile: Reads) -> Measured:
    """Residents' satisfaction (吉林: the yardstick): against the minimum where one is stated, else shown."""
    rule = profile.get("satisfaction_min")
    if rule is None:
        return Measured()
    score = pd.to_numeric(inputs.column("satisfaction"), errors="coerce").to_numpy(dtype=float)
    judged = Judged.empty(inputs.n, SHOWN if rule.value is None else MEETS)
    judged.measure[:] = ["" if np.isnan(s) else f"{s:.0f} / 100" for s in score]
    if rule.value is not None:
        low = ~np.isnan(score) & (score < rule.value)
        judged.status[low] = NOT_MET
        judged.remedy[low] = "ask residents what is missing, and act on it (satisfaction survey)"
        judged.remedy_zh[low] = "开展居民满意度调查并整改"
    judged.status[np.isnan(score)] = NO_DATA
    judged.reason[np.isnan(score)] = "no satisfaction score for this community (communities.satisfaction)"
    judged.reason_zh[np.isnan(score)] = "数据中没有本社区的居民满意度（communities.satisfaction）"
    _scoped(inputs, rule.scope, judged)
    label = "residents' satisfaction" + (f" ≥ {rule.value}" if rule.value is not None else " (no number stated)")
    if rule.value is None:
        return Measured(results=[_shown("satisfaction", rule, profile, judged.measure.copy(), label=label,
                                        zh="居民满意度（文件未给出数值）", judged=judged)])
    return Measured(results=[_result("satisfaction", rule, profile, judged, label=label,
                                     zh=f"居民满意度不低于 {rule.value}")])


@_check()
def walking_coverage(inputs: Inputs, profile: Reads) -> Measured:
    """Household rates from the coverage engine, a column per facility type; no profile rule yet."""
    measured = Measured()
    if inputs.coverage is not None and len(inputs.coverage):
        code = inputs.communities["code"]
        for t, part in inputs.coverage.groupby("type"):
            measured.columns[f"coverage_{t}"] = code.map(part.set_index("zone")["households_rate"])
            measured.types.append(str(t))
    return measured


# ---- the street level ---------------------------------------------------------------------------
def subdistrict_units(inputs: Inputs) -> gpd.GeoDataFrame:
    """The streets and towns: the layer's, else drafted from the communities (by their codes' first 9 digits)."""
    if inputs.subdistricts is not None and len(inputs.subdistricts):
        return inputs.subdistricts.reset_index(drop=True)
    if not len(inputs.communities) or "geometry" not in inputs.communities:
        return gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=4326)
    return draft_subdistricts(gpd.GeoDataFrame(inputs.communities, crs=inputs.communities.crs or 4326))


def street_rules(inputs: Inputs, profile: Profile) -> pd.DataFrame:
    """Rules measured on each street or town (诸暨 二(四)15: a street service centre ≥ 500 m²)."""
    rule = profile.get("street_centre_min_m2")
    units = subdistrict_units(inputs)
    if rule is None or not len(units):
        return pd.DataFrame()
    is_centre = (inputs.facility_type == "street_service_centre") & inputs.built
    rows = []
    fac = inputs.facilities
    tree = shapely.STRtree(np.asarray(units.geometry.values))
    hit = (tree.query(np.asarray(fac.geometry.values)[is_centre], predicate="within")
           if fac is not None and is_centre.any() else np.empty((2, 0), dtype=int))
    area = np.zeros(len(units))
    count = np.zeros(len(units), dtype=int)
    unknown = np.zeros(len(units), dtype=int)
    np.add.at(area, hit[1], np.nan_to_num(inputs.floor_area[is_centre][hit[0]]))
    np.add.at(count, hit[1], 1)
    np.add.at(unknown, hit[1], np.isnan(inputs.floor_area[is_centre][hit[0]]).astype(int))
    in_data = "street_service_centre" in inputs.types_in_data
    for k, (code, name) in enumerate(zip(units["code"], units["name"], strict=True)):
        short = max(float(rule.value) - area[k], 0)
        if not in_data:
            status = NO_DATA
            reason = _missing_everywhere("street service centre", "街道服务中心", "facilities.type")
        elif unknown[k]:
            status, reason = NOT_JUDGED, ("its floor area is not in the data", "面积未知")
        else:
            status, reason = (MEETS if short <= 0 and count[k] else NOT_MET), ("", "")
        rows.append({"code": str(code), "name": str(name), "rule": "street_centre_min_m2",
                     "label": f"street service centre ≥ {rule.value:,} m²",
                     "label_zh": f"街道服务中心不少于 {rule.value:,} m²", "verdict": status,
                     "measure": f"{count[k]} centre(s), {area[k]:,.0f} m²", "reason": reason[0], "reason_zh": reason[1],
                     "remedy": f"add {short:,.0f} m² of street service centre" if status == NOT_MET else "",
                     "remedy_zh": f"增加街道服务中心面积 {short:,.0f} m²" if status == NOT_MET else "",
                     "source": _source(rule), "status": rule.status})
    return pd.DataFrame(rows)


# ---- assembling ---------------------------------------------------------------------------------
def scorecard(communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, profile: Profile,
              *, grids: gpd.GeoDataFrame | None = None, coverage: pd.DataFrame | None = None,
              residences: gpd.GeoDataFrame | None = None, subdistricts: gpd.GeoDataFrame | None = None) -> Scorecard:
    """Score every community (and street) against ``profile``.

    ``coverage`` is the coverage engine's per-community summary (``CoverageResult.summary`` with
    zones = community codes): its household rates per facility type become columns.
    """
    inputs = Inputs.of(communities, facilities, grids=grids, coverage=coverage, residences=residences,
                       subdistricts=subdistricts)
    comm, n = inputs.communities, inputs.n
    out = pd.DataFrame({"code": comm["code"], "name": comm["name"],
                        "district": comm.get("district", pd.Series([None] * n)),
                        "kind": inputs.kinds(),
                        "boundary": comm.get("boundary", pd.Series(["official"] * n)).fillna("official"),
                        "households": inputs.households.astype(int),
                        "population": pd.to_numeric(comm.get("population"), errors="coerce")})
    results: list[Result] = []
    types: list[str] = []
    for check in CHECKS:
        measured = check(inputs, profile)
        for column, values in measured.columns.items():
            out[column] = values
        results += measured.results
        types += measured.types
    verdicts = _verdicts(out, results)
    rules = _targets(pd.DataFrame([r.row for r in results]), inputs, verdicts, Reads(profile, ("targets",)))
    streets = street_rules(inputs, profile)
    return Scorecard(out, rules, profile.name, types, verdicts, streets, priorities(out, verdicts, rules))


def _verdicts(out: pd.DataFrame, results: list[Result]) -> pd.DataFrame:
    """Community × rule, long: the verdict, what was measured, why, and the remedy with its cost."""
    frames = []
    for r in results:
        j = r.judged
        missed = j.status == NOT_MET  # a remedy and its cost belong to a miss only (not to what the data lacks)
        j.remedy[~missed], j.remedy_zh[~missed], j.cost[~missed] = "", "", 0
        frames.append(pd.DataFrame({
            "code": out["code"].to_numpy(), "name": out["name"].to_numpy(), "households": out["households"].to_numpy(),
            "rule": r.row["rule"], "label": r.row["label"], "label_zh": r.row["label_zh"], "verdict": j.status,
            "measure": j.measure, "reason": j.reason, "reason_zh": j.reason_zh, "remedy": j.remedy,
            "remedy_zh": j.remedy_zh, "cost": j.cost, "cost_unit": j.cost_unit, "source": r.row["source"],
            "status": r.row["status"]}))
    if not frames:
        return pd.DataFrame(columns=["code", "rule", "verdict"])
    return pd.concat(frames, ignore_index=True)


#: target rule names → the rule rows that measure them
_MEASURED = {"community_service_centre": "service_centre_present", "service_centre_min_m2": "service_centre_min_m2",
             "service_centre": "service_centre", "community_households": "community_households"}


def _targets(rules: pd.DataFrame, inputs: Inputs, verdicts: pd.DataFrame, profile: Reads) -> pd.DataFrame:
    """The profile's targets (shares of communities that must meet a rule, by year) beside the measured rows,
    each share counted over the target's own scope (a rural target over rural communities only).

    The first target of a measured rule goes on its row; further ones repeat the row with their own
    counts; targets shequ cannot measure get a row of their own.
    """
    targets = profile.get("targets")
    extra = []
    for t in targets.value if targets is not None else []:
        key = _MEASURED.get(t["rule"], f"required:{t['rule']}")
        scope = targets.item_scope(t)
        hit = list(rules.index[rules["rule"] == key]) if len(rules) and "share" in t else []
        if hit:
            applies, _, _, _ = in_scope(inputs, scope)
            mine = verdicts[verdicts["rule"] == key].reset_index(drop=True)
            counted = applies & mine["verdict"].isin([MEETS, NOT_MET]).to_numpy()
            meeting = int((counted & (mine["verdict"] == MEETS).to_numpy()).sum())
            counts = {"communities": int(counted.sum()), "meeting": meeting,
                      "share": meeting / counted.sum() if counted.sum() else None}
        scope_zh, scope_en = scope.describe()
        fields = {"target": t.get("share"), "target_year": t.get("year"),
                  "target_applies_to": t.get("applies_to", ""), "target_scope": scope_en,
                  "target_scope_zh": scope_zh, "target_clause": t.get("clause", targets.clause)}
        row_has_target = hit and "target" in rules and not pd.isna(rules.loc[hit[0], "target"])
        if hit and not row_has_target and rules.loc[hit[0], "scope"] == scope_en:
            for k, v in fields.items():  # the same scope as the rule: its own row carries the target
                rules.loc[hit[0], k] = v
            continue
        if hit:  # another target of a measured rule: the counts over its own scope
            row = {**rules.loc[hit[0]].to_dict(), **counts}
        else:
            row = {"rule": f"target:{t['rule']}", "label": f"{t['rule'].replace('_', ' ')} (not measured by shequ)",
                   "label_zh": f"目标：{t.get('quote', t['rule'])}（shequ 不衡量）", "value": t.get("value"),
                   "unit": t.get("unit", ""), "communities": inputs.n, "meeting": None, "share": None,
                   "source": f"{targets.source_title} {t.get('clause', targets.clause)}", "status": targets.status,
                   "inherited": targets.profile != profile.name}
        row.update(fields)
        extra.append(row)
    if extra:
        rules = pd.concat([rules, pd.DataFrame(extra)], ignore_index=True)
    return rules.drop(columns=["_scope"], errors="ignore")


def priorities(out: pd.DataFrame, verdicts: pd.DataFrame, rules: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Per street, the misses that move the most households over a rule for the least floor area or the
    fewest facilities: households gained per m² (or per facility), best first; rules with a target first."""
    if verdicts.empty or "cost" not in verdicts:
        return pd.DataFrame()
    misses = verdicts[(verdicts["verdict"] == NOT_MET) & (verdicts["cost"] > 0)].copy()
    if misses.empty:
        return pd.DataFrame()
    targeted = set(rules.loc[rules.get("target", pd.Series(dtype=float)).notna(), "rule"]) if "target" in rules \
        else set()
    misses["street"] = misses["code"].astype(str).str[:9]
    misses["households_per_unit"] = misses["households"] / misses["cost"]
    misses["has_target"] = misses["rule"].isin(targeted)
    misses = misses[~misses["rule"].isin(["required_facilities"])]  # its types are ranked one by one
    ranked = misses.sort_values(["street", "has_target", "cost_unit", "households_per_unit"],
                                ascending=[True, False, True, False])
    ranked["rank"] = ranked.groupby("street").cumcount() + 1
    cols = ["street", "rank", "code", "name", "rule", "label", "label_zh", "households", "remedy", "remedy_zh", "cost",
            "cost_unit", "households_per_unit", "has_target", "source"]
    return ranked[ranked["rank"] <= top][cols].reset_index(drop=True)


def _owner(inputs: Inputs, residences: gpd.GeoDataFrame) -> np.ndarray:
    """The community row each residence lies in (by a point inside it), -1 for none."""
    out = np.full(len(residences), -1)
    if not len(residences) or not inputs.n:
        return out
    hit = shapely.STRtree(np.asarray(inputs.communities.geometry.values)).query(
        shapely.point_on_surface(np.asarray(residences.geometry.values)), predicate="within")
    out[hit[0]] = hit[1]
    return out


def _inside(facilities: gpd.GeoDataFrame, communities: gpd.GeoDataFrame) -> np.ndarray:
    """Index of the community each facility belongs to: its community_code if set, else location."""
    codes = communities["code"].to_numpy()
    out = np.full(len(facilities), -1)
    if not len(facilities) or not len(communities):
        return out
    hit = shapely.STRtree(np.asarray(communities.to_crs(4326).geometry.values)).query(
        np.asarray(facilities.to_crs(4326).geometry.values), predicate="within")
    out[hit[0]] = hit[1]
    if "community_code" in facilities:
        given = pd.Series(facilities["community_code"]).map({c: k for k, c in enumerate(codes)})
        known = given.notna().to_numpy()
        out[known] = given[known].astype(int).to_numpy()
    return out


def _source(rule: Rule) -> str:
    return f"{rule.source_title} {rule.clause}".strip()


def _applies_to(text: str) -> str | None:
    """'urban' or 'rural' when a rule's applies_to names only one kind of community (profiles without scopes)."""
    text = text.lower()
    rural = any(w in text for w in ("town", "rural", "village", "城镇社区", "农村", "乡村"))
    urban = any(w in text for w in ("urban", "城市社区"))
    return None if rural == urban else ("urban" if urban else "rural")


def _show(value: object) -> object:
    """A rule's value as a report shows it (a range as 'a–b'; lists and objects are shown by their items)."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{value[0]:,}–{value[1]:,}"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value if not isinstance(value, (list, dict)) else None
