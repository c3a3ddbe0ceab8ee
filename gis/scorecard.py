"""Community scorecards: does each community meet its city's standard, and by how much does it miss it?

Pure computation on GeoDataFrames and a policy profile (``shequ.layers.profiles.Profile``): the
profile says which rules apply and their values; this module measures each community against them.
Every rule row carries the profile's citation and status, so a report never shows a number without
its source. The documents set targets as shares of communities, so ``Scorecard.rules`` counts how
many communities meet each rule and sets that beside the profile's targets.

Each rule is one check: a function registered with ``@_check(<profile keys it reads>)`` that returns
its columns for the community table and its rows for the rules table. ``CHECKS`` runs in the order
the checks are defined here, which is the order of the columns and rows in a report, so a new rule
is one new function in the right place.
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

from shequ.gis.topology import GridRules, check_grids
from shequ.layers import catalog
from shequ.layers.profiles import RULES, Profile, Rule

#: the rules a community row is scored on, in report order: key → (English, Chinese)
RULE_LABELS = {
    "community_households": ("Community size", "社区规模"),
    "service_centre": ("Service-centre floor area", "综合服务设施面积"),
    "one_stop": ("One-stop service hall", "一站式服务大厅面积"),
    "required_facilities": ("Required facilities", "应配设施"),
    "grids": ("Grids", "网格"),
}


@dataclass
class Scorecard:
    communities: pd.DataFrame  # one row per community
    rules: pd.DataFrame  # one row per rule: communities meeting it, share, target
    profile_name: str
    types: list[str] = field(default_factory=list)  # facility types with a coverage column


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

    @classmethod
    def of(cls, communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
           grids: gpd.GeoDataFrame | None = None, coverage: pd.DataFrame | None = None) -> Inputs:
        comm = communities.reset_index(drop=True)
        households = pd.to_numeric(comm["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
        if len(facilities):
            types = facilities["type"].to_numpy()
            area = pd.to_numeric(facilities.get("floor_area_m2"), errors="coerce").to_numpy(dtype=float)
        else:
            types, area = np.array([]), np.array([])
        return cls(comm, households, _inside(facilities, comm), types, area, grids, coverage)

    @property
    def n(self) -> int:
        return len(self.communities)

    def count(self, facilities: np.ndarray) -> np.ndarray:
        """How many of the selected facilities (a boolean mask) lie in each community."""
        return np.bincount(self.inside[facilities & (self.inside >= 0)], minlength=self.n)

    def floor_area_sum(self, facilities: np.ndarray) -> np.ndarray:
        """Floor area of the selected facilities per community, unknown areas counted as 0."""
        hit = facilities & (self.inside >= 0)
        return np.bincount(self.inside[hit], weights=np.nan_to_num(self.floor_area[hit]), minlength=self.n)


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
        return self.profile.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        rule = self.get(key)
        return default if rule is None else rule.value


@dataclass
class Measured:
    """What one check adds to the scorecard."""

    columns: dict[str, Any] = field(default_factory=dict)  # community-table columns, in order
    rows: list[dict] = field(default_factory=list)  # rules-table rows, in order
    types: list[str] = field(default_factory=list)  # facility types given a coverage column


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
    """Register a check that reads the profile keys ``reads``."""
    unknown = [key for key in reads if key not in RULES]
    if unknown:
        raise KeyError(f"unknown profile rules {unknown}")

    def register(measure: Callable[[Inputs, Reads], Measured]) -> Check:
        check = Check(measure.__name__, reads, measure)
        CHECKS.append(check)
        return check
    return register


def scorecard(communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, profile: Profile,
              *, grids: gpd.GeoDataFrame | None = None, coverage: pd.DataFrame | None = None) -> Scorecard:
    """Score every community against ``profile``.

    ``coverage`` is the coverage engine's per-community summary (``CoverageResult.summary`` with
    zones = community codes): its household rates per facility type become columns.
    """
    inputs = Inputs.of(communities, facilities, grids=grids, coverage=coverage)
    comm, n = inputs.communities, inputs.n
    out = pd.DataFrame({"code": comm["code"], "name": comm["name"],
                        "district": comm.get("district", pd.Series([None] * n)),
                        "boundary": comm.get("boundary", pd.Series(["official"] * n)).fillna("official"),
                        "households": inputs.households.astype(int),
                        "population": pd.to_numeric(comm.get("population"), errors="coerce")})
    rows: list[dict] = []
    types: list[str] = []
    for check in CHECKS:
        measured = check(inputs, profile)
        for column, values in measured.columns.items():
            out[column] = values
        rows += measured.rows
        types += measured.types
    return Scorecard(out, _targets(pd.DataFrame(rows), n, Reads(profile, ("targets",))), profile.name, types)


def _row(key: str, rule: Rule | None, profile: Reads, n: int, *, label: str, zh: str,
         meeting: int | None = None, share: float | None = None, **shown: Any) -> dict:
    """A rules-table row citing ``rule``; ``shown`` replaces its value, unit or source where a row shows a part."""
    if set(shown) - {"value", "unit", "source"}:
        raise TypeError(f"a rule row has no fields {sorted(set(shown) - {'value', 'unit', 'source'})}")
    row = {"rule": key, "label": label, "label_zh": zh, "value": _show(rule.value) if rule else None,
           "unit": rule.unit if rule else "", "source": _source(rule) if rule else "",
           "status": rule.status if rule else "", "inherited": bool(rule and rule.profile != profile.name),
           "communities": n, "meeting": meeting, "share": share}
    row.update(shown)
    return row


def _counted(key: str, rule: Rule | None, profile: Reads, meets: np.ndarray, *, label: str, zh: str) -> dict:
    """A measured rule's row: how many communities meet it, and which share."""
    n = len(meets)
    m = int(meets.sum())
    return _row(key, rule, profile, n, label=label, zh=zh, meeting=m, share=m / n if n else None)


# ---- the checks, in report order ----------------------------------------------------------------

@_check("community_households", "new_community_households")
def community_size(inputs: Inputs, profile: Reads) -> Measured:
    """Households per community against the profile's range (for new communities if that is all it gives)."""
    size = profile.profile.size_rule()  # the two keys declared above; its own before an inherited one
    if size is None:
        return Measured()
    hh = inputs.households
    lo, hi = size.value
    check = np.where(hh < lo, "below", np.where(hh > hi, "above", "within"))
    new = size.key == "new_community_households"
    return Measured({"size_check": check,
                     "size_off_by": np.where(hh < lo, hh - lo, np.where(hh > hi, hh - hi, 0)).astype(int)},
                    [_counted("community_households", size, profile, check == "within",
                              label=f"households per community {lo:,.0f}–{hi:,.0f}"
                                    + (" (new communities)" if new else ""),
                              zh=f"{'新建' if new else ''}社区规模 {lo:,.0f}–{hi:,.0f} 户")])


def _centres(inputs: Inputs, profile: Reads) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Service centres per community: how many, their floor area, how many of unknown area."""
    is_centre = np.isin(inputs.facility_type, profile.value("service_centre_types", []))
    return (inputs.count(is_centre), inputs.floor_area_sum(is_centre),
            inputs.count(is_centre & np.isnan(inputs.floor_area)))


@_check("service_centre_types")
def service_centres(inputs: Inputs, profile: Reads) -> Measured:
    """The service centres found, whatever the profile asks of them (shown even without a rule)."""
    count, m2, unknown = _centres(inputs, profile)
    return Measured({"centre_count": count, "centre_m2": m2, "centre_area_unknown": unknown})


_CENTRE_RULES = ("service_centre_types", "service_centre_m2_per_100_households", "service_centre_min_m2")


@_check(*_CENTRE_RULES)
def centre_present(inputs: Inputs, profile: Reads) -> Measured:
    """Any service centre at all: counted where the profile asks for a floor area, which presumes one."""
    if profile.get("service_centre_m2_per_100_households") is None and profile.get("service_centre_min_m2") is None:
        return Measured()
    count, _, _ = _centres(inputs, profile)
    return Measured(rows=[_counted("service_centre_present", profile.get("service_centre_types"), profile, count > 0,
                                   label="has a community service centre (any of the service-centre types)",
                                   zh="有社区综合服务设施")])


@_check(*_CENTRE_RULES)
def centre_floor_area(inputs: Inputs, profile: Reads) -> Measured:
    """Service-centre floor area against the larger of m² per 100 households and the minimum."""
    per100 = profile.get("service_centre_m2_per_100_households")
    minimum = profile.get("service_centre_min_m2")
    if per100 is None and minimum is None:
        return Measured()
    count, m2, unknown = _centres(inputs, profile)
    need = np.zeros(inputs.n)
    if per100 is not None:
        need = np.maximum(need, inputs.households / 100 * per100.value)
    if minimum is not None:
        need = np.maximum(need, minimum.value)
    shortfall = np.round(np.maximum(need - m2, 0), 1)
    check = np.select([count == 0, unknown > 0, shortfall > 0],
                      ["no centre in the data", "floor area unknown", "short"], "meets")
    parts = [f"{per100.value} m²/100 households" if per100 else "", f"≥ {minimum.value:,} m²" if minimum else ""]
    return Measured({"centre_required_m2": np.round(need, 1), "centre_shortfall_m2": shortfall, "centre_check": check},
                    [_counted("service_centre", per100 or minimum, profile, check == "meets",
                              label="service-centre floor area " + ", ".join(p for p in parts if p)
                                    + " (the larger, per community)",
                              zh="综合服务设施面积 " + "，".join(p.replace("households", "户") for p in parts if p)
                                 + "（取大者）")])


@_check(*_CENTRE_RULES)
def centre_minimum(inputs: Inputs, profile: Reads) -> Measured:
    """The minimum on its own, with its own source, when the profile also has a per-household area."""
    minimum = profile.get("service_centre_min_m2")
    if profile.get("service_centre_m2_per_100_households") is None or minimum is None:
        return Measured()
    _, m2, unknown = _centres(inputs, profile)
    return Measured(rows=[_counted("service_centre_min_m2", minimum, profile, (m2 >= minimum.value) & (unknown == 0),
                                   label=f"service centre ≥ {minimum.value:,} m²",
                                   zh=f"综合服务设施不少于 {minimum.value:,} m²")])


@_check("one_stop_min_m2")
def one_stop_hall(inputs: Inputs, profile: Reads) -> Measured:
    """Floor area of the one-stop service hall(s) inside each community against the minimum."""
    one_stop = profile.get("one_stop_min_m2")
    if one_stop is None:
        return Measured()
    hall = inputs.facility_type == "one_stop_service_hall"
    m2 = inputs.floor_area_sum(hall)
    check = np.where(inputs.count(hall) == 0, "none in the data", np.where(m2 >= one_stop.value, "meets", "short"))
    return Measured({"one_stop_m2": m2, "one_stop_check": check},
                    [_counted("one_stop", one_stop, profile, check == "meets",
                              label=f"one-stop service hall ≥ {one_stop.value:,} m²",
                              zh=f"一站式服务大厅不少于 {one_stop.value:,} m²")])


def _required(inputs: Inputs, required: Rule) -> tuple[list[str], np.ndarray]:
    """The required types (each once, in profile order) and how many of each lie in each community."""
    types = list(dict.fromkeys(item["type"] for item in required.value))
    present = np.zeros((inputs.n, len(types)), dtype=int)
    for j, t in enumerate(types):
        present[:, j] = inputs.count(inputs.facility_type == t)
    return types, present


@_check("required_facilities")
def required_facilities(inputs: Inputs, profile: Reads) -> Measured:
    """Whether every required facility type lies inside the community, and which are missing."""
    required = profile.get("required_facilities")
    if required is None:
        return Measured()
    names = catalog.load_facility_types()
    types, present = _required(inputs, required)
    found = (present > 0).sum(axis=1)
    return Measured({"required_present": found, "required_total": len(types),
                     "required_missing": [", ".join(names[t].name_zh for t, p in zip(types, row, strict=True) if not p)
                                          for row in present]},
                    [_counted("required_facilities", required, profile, found == len(types),
                              label=f"all {len(types)} required facility types inside the community",
                              zh=f"社区内 {len(types)} 类应配设施齐全")])


@_check("required_facilities")
def required_each(inputs: Inputs, profile: Reads) -> Measured:
    """One row per required type, citing its own clause, so a report shows which type is most often missing."""
    required = profile.get("required_facilities")
    if required is None:
        return Measured()
    names = catalog.load_facility_types()
    types, present = _required(inputs, required)
    clause = {item["type"]: item.get("clause", required.clause) for item in required.value}
    n = inputs.n
    return Measured(rows=[_row(f"required:{t}", required, profile, n, label=f"  {names[t].name_en}",
                               zh=f"  {names[t].name_zh}", meeting=int((present[:, j] > 0).sum()),
                               share=float((present[:, j] > 0).mean()) if n else None,
                               value=None, unit="", source=f"{required.source_title} {clause[t]}")
                          for j, t in enumerate(types)])


def _staff(households: np.ndarray, profile: Reads) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Community workers needed (low, high) by the profile's formula, and the formula in words."""
    per = profile.get("staff_per_households")
    formula = profile.get("staff_formula")
    if formula is not None:
        f = formula.value
        base_lo, base_hi = f["base"]
        above = np.maximum(households - f["above_households"], 0)
        per_lo, per_hi = f["extra_per_households"]
        lo = base_lo + np.ceil(above / per_hi)
        hi = base_hi + np.ceil(above / per_lo)
        return lo, hi, (f"{base_lo}–{base_hi} full-time, +1 per {per_lo}–{per_hi} households above "
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
    return Measured({"staff_needed_min": lo.astype(int), "staff_needed_max": hi.astype(int)},
                    [_row("staff", rule, profile, inputs.n, label=f"community workers needed: {words}",
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
    """Amounts in yuan per community (shown, not measured), blank where an item is for the other kind."""
    rule = profile.get("funding")
    if rule is None:
        return Measured()
    comm, n, hh = inputs.communities, inputs.n, inputs.households
    measured = Measured()
    for k, item in enumerate(rule.value):
        if not isinstance(item.get("value"), (int, float)) or "CNY" not in str(item.get("unit", "")):
            continue
        per = item.get("per_households")
        amount = np.full(n, float(item["value"])) if not per else item["value"] * np.ceil(hh / per)
        kind = _applies_to(str(item.get("applies_to", "")))
        if kind is not None:  # an urban-only or town/rural-only amount: blank for the others
            urban = comm.get("urban_rural", pd.Series(["urban"] * n)).fillna("urban").to_numpy() == "urban"
            amount = np.where(urban == (kind == "urban"), amount, np.nan)
        measured.columns[f"funding_{k}_cny"] = pd.array(np.round(amount), dtype="Int64")
        label = f"{item.get('item_zh', '')} {item.get('item', '')}".strip()
        measured.rows.append(_row(
            f"funding_{k}", rule, profile, n, label=label + (f", {kind} communities" if kind else ""),
            zh=item.get("item_zh", "") + {"urban": "（城市社区）", "rural": "（城镇/农村社区）", None: ""}[kind],
            value=item["value"], unit=item["unit"] + (f" per {per:,} households" if per else ""),
            source=f"{rule.source_title} {item.get('clause', rule.clause)}"))
    return measured


@_check("grid_households", "grid_manager_required", "grid_party_branch_required", "grids_nest_in_communities")
def grids(inputs: Inputs, profile: Reads) -> Measured:
    """Grids per community: in the household range, staffed as required, tiling it without gaps or overlaps."""
    layer = inputs.grids
    if layer is None or not len(layer):
        return Measured()
    g_rules = GridRules(households=tuple(profile.value("grid_households")) if profile.get("grid_households")
                        else None, manager_required=bool(profile.value("grid_manager_required", False)),
                        party_branch_required=bool(profile.value("grid_party_branch_required", False)))
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
    en, zh = ["grids tile the community"], ["网格无缝覆盖社区"]
    if g_rules.households:
        lo, hi = g_rules.households
        en.append(f"{lo:,.0f}–{hi:,.0f} households each")
        zh.append(f"每格 {lo:,.0f}–{hi:,.0f} 户")
    if g_rules.manager_required:
        en.append("each with a grid manager")
        zh.append("每格有网格员")
    if g_rules.party_branch_required:
        en.append("each with a party branch")
        zh.append("每格有党支部")
    rule = profile.get("grid_households") or profile.get("grids_nest_in_communities")
    return Measured({**out, "grid_check": check},
                    [_counted("grids", rule, profile, check == "meets", label=", ".join(en), zh="，".join(zh))])


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


def _targets(rules: pd.DataFrame, n: int, profile: Reads) -> pd.DataFrame:
    """The profile's targets (shares of communities that must meet a rule, by year) beside the measured rows.

    The first year of a measured rule goes on its row; further years repeat the row's counts with
    another target; targets shequ cannot measure get a row of their own.
    """
    measured = {"community_service_centre": "service_centre_present", "service_centre_min_m2": "service_centre_min_m2"}
    targets = profile.get("targets")
    extra = []
    for t in targets.value if targets is not None else []:
        key = measured.get(t["rule"], f"required:{t['rule']}")
        hit = list(rules.index[rules["rule"] == key]) if len(rules) and "share" in t else []
        if hit and pd.isna(rules.loc[hit[0]].get("target", np.nan)):  # the first year on the measured row
            rules.loc[hit[0], ["target", "target_year"]] = [t["share"], t.get("year")]
            rules.loc[hit[0], "target_applies_to"] = t.get("applies_to", "")
            continue
        if hit:  # a further year of a measured rule: the same counts, another target
            row = rules.loc[hit[0]].to_dict()
        else:
            row = {"rule": f"target:{t['rule']}", "label": f"{t['rule'].replace('_', ' ')} (not measured by shequ)",
                   "label_zh": f"目标：{t.get('quote', t['rule'])}（shequ 不衡量）", "value": t.get("value"),
                   "unit": t.get("unit", ""), "communities": n, "meeting": None, "share": None,
                   "source": f"{targets.source_title} {t.get('clause', targets.clause)}", "status": targets.status,
                   "inherited": targets.profile != profile.name}
        row.update(target=t.get("share"), target_year=t.get("year"), target_applies_to=t.get("applies_to", ""))
        extra.append(row)
    if extra:
        rules = pd.concat([rules, pd.DataFrame(extra)], ignore_index=True)
    return rules


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
    """'urban' or 'rural' when a rule's applies_to names only one kind of community."""
    text = text.lower()
    rural = any(w in text for w in ("town", "rural", "village", "城镇社区", "农村", "乡村"))
    urban = any(w in text for w in ("urban", "城市社区"))
    return None if rural == urban else ("urban" if urban else "rural")


def _show(value: object) -> object:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return f"{value[0]:,}–{value[1]:,}"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value if not isinstance(value, (list, dict)) else None
