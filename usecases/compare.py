"""Compare: what a scenario changes against the real layers (or another scenario).

Coverage is measured on both with the same types and distances; residences are matched by id (a
scenario's new developments have no "before"), so every residence is covered before and after,
newly covered, still not covered, or has lost coverage (a closed facility). The same is summed per
community, grid and type, and, with a profile, the scorecard's verdicts before → after are listed
where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.errors import InvalidInput
from shequ.gis.scorecard import VERDICT_ZH
from shequ.layers import catalog
from shequ.layers.exporting import write_analysis_geojson
from shequ.layers.users import User
from shequ.usecases import scenarios
from shequ.usecases.coverage import CoverageOutcome, CoverageQuery, coverage
from shequ.usecases.scorecards import scorecard
from shequ.usecases.workspace import Workspace

#: how a command line or URL names the real layers
REAL = ("", "real", "current", "现状")
PEOPLE = ("households", "population", "children", "elderly")


def side(name: str | None) -> str:
    """A comparison side: "" for the real layers, else a scenario name."""
    return "" if (name or "").strip().lower() in REAL else (name or "").strip()


@dataclass
class Comparison:
    base: str  # "" = the real layers
    scenario: str
    types: list[str]
    before: CoverageOutcome
    after: CoverageOutcome
    residences: gpd.GeoDataFrame  # per residence × type: covered_before, covered_after, change
    totals: pd.DataFrame  # per type: people covered before, after, difference
    zones: pd.DataFrame  # per community / grid / life circle × type: before, after, difference
    verdicts: pd.DataFrame  # scorecard verdicts that differ (code, rule, before, after); empty without a profile
    profile: str = ""
    notes: list[tuple[str, str]] = field(default_factory=list)

    def label(self, which: str) -> tuple[str, str]:
        name = self.base if which == "base" else self.scenario
        return ("现状", "current") if not name else (f"方案 {name}", f"scenario {name}")


def compare(ws: Workspace, base: str | None, scenario: str | None, *, types: list[str] | None = None,
            level: str | None = None, area: str | None = None, profile: str | None = None,
            user: User | None) -> Comparison:
    """Coverage (and, with ``profile``, the scorecard) of ``base`` and ``scenario``, side by side."""
    b, s = side(base), side(scenario)
    if b == s:
        raise InvalidInput("compare two different things: the real layers and a scenario, or two scenarios",
                           zh="请比较两个不同的对象：现状与方案，或两个方案")
    query = CoverageQuery.parse(types, level, area=area, scenario=s, max_types=ws.settings.max_facility_types)
    after = coverage(ws, query, user=user)
    before = coverage(ws, replace(after.query, scenario=b), user=user)
    kinds = list(after.types)
    res = _per_residence(before, after, kinds)
    totals = _totals(res, kinds)
    zones = _zones(before, after)
    verdicts = pd.DataFrame(columns=["code", "name", "rule", "label_zh", "label_en", "before", "after", "before_zh",
                                     "after_zh"])
    if profile:
        verdicts = _verdicts(ws, profile, b, s, user)
    out = Comparison(b, s, kinds, before, after, res, totals, zones, verdicts, profile or "")
    out.notes = _notes(out)
    return out


def _per_residence(before: CoverageOutcome, after: CoverageOutcome, kinds: list[str]) -> gpd.GeoDataFrame:
    a = after.residences()
    bfr = before.residences()
    keep = [c for c in ("id", "name", *PEOPLE) if c in a]
    frames = []
    old = bfr.set_index(bfr["id"].astype(str))
    for t in kinds:
        part = a[[*keep, "geometry"]].copy()
        part["type"] = t
        part["covered_after"] = a[f"{t}_covered"].astype(bool).to_numpy()
        part["distance_after_m"] = a[f"{t}_m"].astype(float).round(1).to_numpy()
        ids = a["id"].astype(str)
        known = ids.isin(old.index)
        cov = old[f"{t}_covered"] if f"{t}_covered" in old else pd.Series(False, index=old.index)
        dist = old[f"{t}_m"] if f"{t}_m" in old else pd.Series(np.inf, index=old.index)
        part["covered_before"] = np.where(known, ids.map(cov).fillna(False).astype(bool), False)
        part["distance_before_m"] = np.where(known, ids.map(dist).astype(float).round(1), np.nan)
        part["new_residence"] = ~known.to_numpy()
        part["change"] = np.select(
            [part["covered_before"] & part["covered_after"], ~part["covered_before"] & part["covered_after"],
             part["covered_before"] & ~part["covered_after"]],
            ["covered", "newly covered", "lost"], "not covered")
        frames.append(part)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)


def _totals(res: gpd.GeoDataFrame, kinds: list[str]) -> pd.DataFrame:
    names = catalog.load_facility_types()
    rows = []
    for t in kinds:
        part = res[res["type"] == t]
        row = {"type": t, "name_zh": names[t].name_zh, "name_en": names[t].name_en}
        for c in (c for c in PEOPLE if c in part):
            v = pd.to_numeric(part[c], errors="coerce").fillna(0)
            before = float(v[part["covered_before"] & ~part["new_residence"]].sum())
            total_before = float(v[~part["new_residence"]].sum())
            after, total_after = float(v[part["covered_after"]].sum()), float(v.sum())
            row.update({f"{c}_before": before, f"{c}_after": after, f"{c}_change": after - before,
                        f"{c}_rate_before": before / total_before if total_before else np.nan,
                        f"{c}_rate_after": after / total_after if total_after else np.nan,
                        f"{c}_newly_covered": float(v[part["change"] == "newly covered"].sum()),
                        f"{c}_lost": float(v[part["change"] == "lost"].sum())})
        rows.append(row)
    return pd.DataFrame(rows)


def _zones(before: CoverageOutcome, after: CoverageOutcome) -> pd.DataFrame:
    key = ["zone_kind", "zone", "type"]
    cols = [c for c in after.zones.columns if c.endswith(("_covered", "_rate")) and not c.endswith("straight")
            and c.split("_")[0] in PEOPLE] + [c for c in PEOPLE if c in after.zones]
    b = before.zones[key + [c for c in cols if c in before.zones]]
    a = after.zones[key + cols]
    merged = a.merge(b, on=key, how="outer", suffixes=("_after", "_before"))
    for c in cols:
        if c.endswith("_covered"):
            merged[f"{c}_change"] = merged[f"{c}_after"].fillna(0) - merged[f"{c}_before"].fillna(0)
    merged.insert(3, "name_zh", merged["type"].map(lambda t: catalog.load_facility_types()[t].name_zh))
    return merged.sort_values(key).reset_index(drop=True)


def _verdicts(ws: Workspace, profile: str, base: str, scenario: str, user: User | None) -> pd.DataFrame:
    before = scorecard(ws, profile, user=user, scenario=base or None).card.verdicts
    after = scorecard(ws, profile, user=user, scenario=scenario or None).card.verdicts
    key = ["code", "rule"]
    labels = [c for c in ("name", "label_zh", "label_en") if c in after]
    m = after[key + labels + ["verdict"]].merge(before[[*key, "verdict"]], on=key, how="outer",
                                                suffixes=("_after", "_before"))
    m = m[m["verdict_after"].fillna("") != m["verdict_before"].fillna("")]
    m = m.rename(columns={"verdict_before": "before", "verdict_after": "after"}).reset_index(drop=True)
    for side in ("before", "after"):  # the verdicts in Chinese too, for the pages
        m[f"{side}_zh"] = m[side].map(lambda v: VERDICT_ZH.get(v, v) if isinstance(v, str) else "—")
    return m


def _notes(c: Comparison) -> list[tuple[str, str]]:
    b_zh, b_en = c.label("base")
    s_zh, s_en = c.label("scenario")
    out = [(f"比较：{b_zh} → {s_zh}；步行距离与类型相同。",
            f"Compared: {b_en} → {s_en}, same types and walking distances.")]
    new = c.residences["new_residence"].any()
    if new:
        out.append(("方案新增的居住单元没有“之前”，只计入“之后”。",
                    "Residences the scenario adds have no 'before': they count only after."))
    if (c.residences["change"] == "lost").any():
        out.append(("有居住单元失去覆盖（方案关闭了设施）。",
                    "Some residences lose coverage (the scenario closes facilities)."))
    return out


# ---- files ----------------------------------------------------------------------------------------
def compare_xlsx(c: Comparison) -> bytes:
    """The comparison as a workbook: summary, zones, verdicts that change, notes."""
    import io

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="xlsxwriter") as xlsx:
        c.totals.to_excel(xlsx, sheet_name="summary 总览", index=False)
        c.zones.to_excel(xlsx, sheet_name="zones 分区", index=False)
        c.verdicts.to_excel(xlsx, sheet_name="verdicts 结论变化", index=False)
        pd.DataFrame(c.notes, columns=["zh", "en"]).to_excel(xlsx, sheet_name="notes 说明", index=False)
    return buffer.getvalue()



def write_files(ws: Workspace, c: Comparison, out: str | Path) -> list[Path]:
    """CSV and XLSX of the totals, zones and verdicts, the per-residence GeoJSON and a difference map per type."""
    from shequ.web.offline import to_html
    from shequ.web.siting_map import difference_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [write_analysis_geojson(c.residences, out / "compare_residences.geojson")]
    for name, frame in (("compare_summary.csv", c.totals), ("compare_zones.csv", c.zones),
                        ("compare_verdicts.csv", c.verdicts)):
        frame.to_csv(out / name, index=False, encoding="utf-8-sig")
        files.append(out / name)
    (out / "compare.xlsx").write_bytes(compare_xlsx(c))
    files.append(out / "compare.xlsx")
    snap = scenarios.snapshot_for(ws, c.scenario)
    names = catalog.load_facility_types()
    for t in c.types:
        part = c.residences[c.residences["type"] == t]
        sites = _scenario_sites(snap.serving, t)
        base, scen = c.label("base"), c.label("scenario")
        m = difference_map(part, title=(f"{names[t].name_zh}：{base[0]} → {scen[0]}",
                                        f"{names[t].name_en}: {base[1]} → {scen[1]}"), sites=sites,
                           existing=c.before.facilities[c.before.facilities["type"] == t],
                           streets=None, communities=snap.communities)
        path = out / f"compare_map_{t}.html"
        path.write_text(to_html(m, "inline"), encoding="utf-8")
        files.append(path)
    return files


def _scenario_sites(facilities: gpd.GeoDataFrame, t: str) -> gpd.GeoDataFrame:
    """The scenario's own new facilities of a type (for the map)."""
    if "scenario_change" not in facilities:
        return facilities.iloc[0:0]
    part = facilities[(facilities["type"] == t) & facilities["scenario_change"].notna()]
    return part[[c for c in ("id", "type", "name", "capacity", "geometry") if c in part]]
