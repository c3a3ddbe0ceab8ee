"""Community scorecards: does each community meet its city's standard, and by how much does it miss it?

Pure computation on GeoDataFrames and a policy profile (``shequ.layers.profiles.Profile``): the
profile says which rules apply and their values; this module measures each community against them.
Every rule row carries the profile's citation and status, so a report never shows a number without
its source. The documents set targets as shares of communities, so ``Scorecard.rules`` counts how
many communities meet each rule and sets that beside the profile's targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.gis.topology import GridRules, check_grids
from shequ.layers import catalog

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


def _staff(households: np.ndarray, profile) -> tuple[np.ndarray | None, np.ndarray | None, str]:
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


def scorecard(communities: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, profile,
              *, grids: gpd.GeoDataFrame | None = None, coverage: pd.DataFrame | None = None) -> Scorecard:
    """Score every community against ``profile``.

    ``coverage`` is the coverage engine's per-community summary (``CoverageResult.summary`` with
    zones = community codes): its household rates per facility type become columns.
    """
    comm = communities.reset_index(drop=True)
    n = len(comm)
    hh = pd.to_numeric(comm["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
    out = pd.DataFrame({"code": comm["code"], "name": comm["name"],
                        "district": comm.get("district", pd.Series([None] * n)),
                        "boundary": comm.get("boundary", pd.Series(["official"] * n)).fillna("official"),
                        "households": hh.astype(int),
                        "population": pd.to_numeric(comm.get("population"), errors="coerce")})
    rules: list[dict] = []

    def rule_row(key: str, rule, meets: np.ndarray | None, applies: np.ndarray | None = None,
                 label: str | None = None, zh: str = "") -> None:
        applies = np.ones(n, dtype=bool) if applies is None else applies
        m = int((meets & applies).sum()) if meets is not None else None
        rules.append({"rule": key, "label": label or key, "label_zh": zh, "value": _show(rule.value) if rule else None,
                      "unit": rule.unit if rule else "", "source": _source(rule) if rule else "",
                      "status": rule.status if rule else "", "inherited": bool(rule and rule.profile != profile.name),
                      "communities": int(applies.sum()), "meeting": m,
                      "share": m / applies.sum() if m is not None and applies.sum() else None})

    # community size
    size = profile.get("community_households") or profile.get("new_community_households")
    if size is not None:
        lo, hi = size.value
        out["size_check"] = np.where(hh < lo, "below", np.where(hh > hi, "above", "within"))
        out["size_off_by"] = np.where(hh < lo, hh - lo, np.where(hh > hi, hh - hi, 0)).astype(int)
        new = size.key == "new_community_households"
        rule_row("community_households", size, out["size_check"].to_numpy() == "within",
                 label=f"households per community {lo:,.0f}–{hi:,.0f}" + (" (new communities)" if new else ""),
                 zh=f"{'新建' if new else ''}社区规模 {lo:,.0f}–{hi:,.0f} 户")

    # service centre floor area
    where = _inside(facilities, comm)
    ftype = facilities["type"].to_numpy() if len(facilities) else np.array([])
    area = pd.to_numeric(facilities.get("floor_area_m2"), errors="coerce").to_numpy(dtype=float) \
        if len(facilities) else np.array([])
    centre_types = profile.value("service_centre_types", [])
    is_centre = np.isin(ftype, centre_types)
    out["centre_count"] = np.bincount(where[is_centre & (where >= 0)], minlength=n)
    out["centre_m2"] = np.bincount(where[is_centre & (where >= 0)],
                                   weights=np.nan_to_num(area[is_centre & (where >= 0)]), minlength=n)
    unknown = is_centre & (where >= 0) & np.isnan(area)
    out["centre_area_unknown"] = np.bincount(where[unknown], minlength=n)
    per100 = profile.get("service_centre_m2_per_100_households")
    minimum = profile.get("service_centre_min_m2")
    if per100 is not None or minimum is not None:
        rule_row("service_centre_present", profile.get("service_centre_types"), out["centre_count"].to_numpy() > 0,
                 label="has a community service centre (any of the service-centre types)", zh="有社区综合服务设施")
        need = np.zeros(n)
        if per100 is not None:
            need = np.maximum(need, hh / 100 * per100.value)
        if minimum is not None:
            need = np.maximum(need, minimum.value)
        out["centre_required_m2"] = np.round(need, 1)
        out["centre_shortfall_m2"] = np.round(np.maximum(need - out["centre_m2"], 0), 1)
        out["centre_check"] = np.select(
            [out["centre_count"] == 0, out["centre_area_unknown"] > 0, out["centre_shortfall_m2"] > 0],
            ["no centre in the data", "floor area unknown", "short"], "meets")
        parts = [f"{per100.value} m²/100 households" if per100 else "", f"≥ {minimum.value:,} m²" if minimum else ""]
        rule_row("service_centre", per100 or minimum, out["centre_check"].to_numpy() == "meets",
                 label="service-centre floor area " + ", ".join(p for p in parts if p)
                       + " (the larger, per community)",
                 zh="综合服务设施面积 " + "，".join(p.replace("households", "户") for p in parts if p) + "（取大者）")
        if per100 is not None and minimum is not None:  # the minimum on its own, with its own source
            rule_row("service_centre_min_m2", minimum, (out["centre_m2"].to_numpy() >= minimum.value)
                     & (out["centre_area_unknown"].to_numpy() == 0), label=f"service centre ≥ {minimum.value:,} m²",
                     zh=f"综合服务设施不少于 {minimum.value:,} m²")
    one_stop = profile.get("one_stop_min_m2")
    if one_stop is not None:
        hall = (ftype == "one_stop_service_hall") & (where >= 0)
        m2 = np.bincount(where[hall], weights=np.nan_to_num(area[hall]), minlength=n)
        out["one_stop_m2"] = m2
        out["one_stop_check"] = np.where(np.bincount(where[hall], minlength=n) == 0, "none in the data",
                                         np.where(m2 >= one_stop.value, "meets", "short"))
        rule_row("one_stop", one_stop, out["one_stop_check"].to_numpy() == "meets",
                 label=f"one-stop service hall ≥ {one_stop.value:,} m²",
                 zh=f"一站式服务大厅不少于 {one_stop.value:,} m²")

    # required facilities inside the community
    required = profile.get("required_facilities")
    if required is not None:
        names = catalog.load_facility_types()
        types = list(dict.fromkeys(item["type"] for item in required.value))
        present = np.zeros((n, len(types)), dtype=int)
        for j, t in enumerate(types):
            present[:, j] = np.bincount(where[(ftype == t) & (where >= 0)], minlength=n)
        out["required_present"] = (present > 0).sum(axis=1)
        out["required_total"] = len(types)
        out["required_missing"] = [", ".join(names[t].name_zh for t, p in zip(types, row, strict=True) if not p)
                                   for row in present]
        rule_row("required_facilities", required, out["required_present"].to_numpy() == len(types),
                 label=f"all {len(types)} required facility types inside the community",
                 zh=f"社区内 {len(types)} 类应配设施齐全")
        clause = {item["type"]: item.get("clause", required.clause) for item in required.value}
        for j, t in enumerate(types):
            rules.append({"rule": f"required:{t}", "label": f"  {names[t].name_en}",
                          "label_zh": f"  {names[t].name_zh}",
                          "value": None, "unit": "", "source": f"{required.source_title} {clause[t]}",
                          "status": required.status,
                          "inherited": required.profile != profile.name, "communities": n,
                          "meeting": int((present[:, j] > 0).sum()),
                          "share": float((present[:, j] > 0).mean()) if n else None})

    # staff
    lo_staff, hi_staff, words = _staff(hh, profile)
    if lo_staff is not None:
        out["staff_needed_min"] = lo_staff.astype(int)
        out["staff_needed_max"] = hi_staff.astype(int)
        rule = profile.get("staff_formula") or profile.get("staff_per_households")
        rules.append({"rule": "staff", "label": f"community workers needed: {words}", "label_zh": "应配社区工作者",
                      "value": _show(rule.value), "unit": rule.unit, "source": _source(rule), "status": rule.status,
                      "inherited": rule.profile != profile.name, "communities": n,
                      "meeting": None, "share": None})
    for key, column in (("social_workers_min", "social_workers_needed"), ("party_workers_min", "party_workers_needed")):
        rule = profile.get(key)
        if rule is not None:
            out[column] = int(rule.value)

    # funding (shown, not measured)
    funding = profile.get("funding")
    if funding is not None:
        for k, item in enumerate(funding.value):
            if not isinstance(item.get("value"), (int, float)) or "CNY" not in str(item.get("unit", "")):
                continue
            per = item.get("per_households")
            amount = np.full(n, float(item["value"])) if not per else item["value"] * np.ceil(hh / per)
            kind = _applies_to(str(item.get("applies_to", "")))
            if kind is not None:  # an urban-only or town/rural-only amount: blank for the others
                urban = comm.get("urban_rural", pd.Series(["urban"] * n)).fillna("urban").to_numpy() == "urban"
                amount = np.where(urban == (kind == "urban"), amount, np.nan)
            out[f"funding_{k}_cny"] = pd.array(np.round(amount), dtype="Int64")
            label = f"{item.get('item_zh', '')} {item.get('item', '')}".strip()
            rules.append({"rule": f"funding_{k}", "label": label + (f", {kind} communities" if kind else ""),
                          "label_zh": item.get("item_zh", "") + {"urban": "（城市社区）", "rural": "（城镇/农村社区）",
                                                                   None: ""}[kind],
                          "value": item["value"], "unit": item["unit"] + (f" per {per:,} households" if per else ""),
                          "source": f"{funding.source_title} {item.get('clause', funding.clause)}",
                          "status": funding.status, "inherited": funding.profile != profile.name,
                          "communities": n, "meeting": None, "share": None})

    # grids
    if grids is not None and len(grids):
        g_rules = GridRules(households=tuple(profile.value("grid_households")) if profile.get("grid_households")
                            else None, manager_required=bool(profile.value("grid_manager_required", False)),
                            party_branch_required=bool(profile.value("grid_party_branch_required", False)))
        findings = check_grids(grids, comm, g_rules, gaps=True)
        counts = grids.groupby("community_code").size()
        out["grids"] = out["code"].map(counts).fillna(0).astype(int)
        if g_rules.households:
            lo, hi = g_rules.households
            ok = grids["households"].astype(float).between(lo, hi)
            out["grids_in_range"] = out["code"].map(ok.groupby(grids["community_code"]).sum()).fillna(0).astype(int)
        per_comm = findings.assign(community=findings["grid"].map(dict(zip(grids["code"], grids["community_code"],
                                                                           strict=True))))
        per_comm.loc[per_comm["check"] == "gap", "community"] = per_comm["other"]
        for check, column in (("no_manager", "grids_without_manager"), ("no_party_branch", "grids_without_branch")):
            if (check == "no_manager" and g_rules.manager_required) or (check == "no_party_branch"
                                                                         and g_rules.party_branch_required):
                out[column] = out["code"].map(per_comm[per_comm["check"] == check].groupby("community").size()) \
                    .fillna(0).astype(int)
        topo = per_comm[per_comm["check"].isin(["outside_community", "overlap", "gap", "invalid_geometry"])]
        out["grid_topology_findings"] = out["code"].map(topo.groupby("community").size()).fillna(0).astype(int)
        ok = out["grids"].gt(0) & out["grid_topology_findings"].eq(0)
        for column in ("grids_without_manager", "grids_without_branch"):
            if column in out:
                ok &= out[column].eq(0)
        if "grids_in_range" in out:
            ok &= out["grids_in_range"].eq(out["grids"])
        out["grid_check"] = np.where(out["grids"].eq(0), "no grids", np.where(ok, "meets", "findings"))
        grid_rule = profile.get("grid_households") or profile.get("grids_nest_in_communities")
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
        rule_row("grids", grid_rule, out["grid_check"].to_numpy() == "meets", label=", ".join(en), zh="，".join(zh))

    # walking coverage from the coverage engine
    types: list[str] = []
    if coverage is not None and len(coverage):
        for t, part in coverage.groupby("type"):
            rate = part.set_index("zone")["households_rate"]
            out[f"coverage_{t}"] = out["code"].map(rate)
            types.append(str(t))

    # targets of the profile: the share of communities that must meet a rule, by year
    rule_frame = pd.DataFrame(rules)
    measured = {"community_service_centre": "service_centre_present", "service_centre_min_m2": "service_centre_min_m2"}
    targets = profile.get("targets")
    extra = []
    for t in targets.value if targets is not None else []:
        key = measured.get(t["rule"], f"required:{t['rule']}")
        hit = list(rule_frame.index[rule_frame["rule"] == key]) if len(rule_frame) and "share" in t else []
        if hit and pd.isna(rule_frame.loc[hit[0]].get("target", np.nan)):  # the first year on the measured row
            rule_frame.loc[hit[0], ["target", "target_year"]] = [t["share"], t.get("year")]
            rule_frame.loc[hit[0], "target_applies_to"] = t.get("applies_to", "")
            continue
        if hit:  # a further year of a measured rule: the same counts, another target
            row = rule_frame.loc[hit[0]].to_dict()
        else:
            row = {"rule": f"target:{t['rule']}", "label": f"{t['rule'].replace('_', ' ')} (not measured by shequ)",
                   "label_zh": f"目标：{t.get('quote', t['rule'])}（shequ 不衡量）", "value": t.get("value"),
                   "unit": t.get("unit", ""), "communities": n, "meeting": None, "share": None,
                   "source": f"{targets.source_title} {t.get('clause', targets.clause)}", "status": targets.status,
                   "inherited": targets.profile != profile.name}
        row.update(target=t.get("share"), target_year=t.get("year"), target_applies_to=t.get("applies_to", ""))
        extra.append(row)
    if extra:
        rule_frame = pd.concat([rule_frame, pd.DataFrame(extra)], ignore_index=True)
    return Scorecard(out, rule_frame, profile.name, types)


def _source(rule) -> str:
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
