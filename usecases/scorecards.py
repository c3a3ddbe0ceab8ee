"""Community scorecards: every community against a policy profile, one community in detail, the
written report (HTML, CSV, XLSX).

The walking-coverage columns come from the one coverage pipeline (``usecases.coverage``), so a
scorecard's rates equal the coverage map's for the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.errors import NoData, NotFound, UnknownName
from shequ.gis.scorecard import Scorecard
from shequ.gis.scorecard import scorecard as score
from shequ.gis.topology import GridRules, check_grids
from shequ.layers.osm import OSM_ESTIMATE
from shequ.layers.profiles import Profile, load_profile, shipped
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.coverage import CoverageQuery, coverage_of, default_types
from shequ.usecases.scenarios import snapshot_for
from shequ.usecases.workspace import Snapshot, Workspace


@dataclass
class ScorecardOutcome:
    card: Scorecard
    profile: Profile
    communities: gpd.GeoDataFrame  # WGS84, as stored
    notes: list[str] = field(default_factory=list)  # caveats the page must show (Chinese and English)
    profiles: list[str] = field(default_factory=list)  # the shipped profiles, to choose from


@dataclass
class CommunityCard:
    """One community against the profile, with its grids and what is inside it."""

    overview: ScorecardOutcome
    code: str
    row: dict  # its row of ``card.communities``
    community: gpd.GeoDataFrame  # one row
    grids: gpd.GeoDataFrame  # its grids, with ``in_range`` and ``findings`` (messages)
    gap_messages: list[str]  # land of the community in no grid
    grid_range: tuple[float, float] | None
    facilities: pd.Series  # facility type → count inside the community
    verdicts: pd.DataFrame  # this community's verdict on every rule: measure, reason, remedy
    gap_messages_zh: list[str] = field(default_factory=list)  # the same in Chinese, for the pages

    @property
    def profile(self) -> Profile:
        return self.overview.profile

    @property
    def card(self) -> Scorecard:
        return self.overview.card


def profile_named(name: str) -> Profile:
    """A shipped profile by name (or a profile file's path, from the command line)."""
    return load_profile(name)


def shipped_profile(name: str) -> Profile:
    """A shipped profile only: what a web client may ask for (never a path on the server)."""
    if name not in shipped():
        raise UnknownName(f"unknown profile {name!r}: use one of {', '.join(shipped())}",
                          zh=f"未知的政策配置 {name!r}：可选 {'、'.join(shipped())}")
    return load_profile(name)


def scorecard(ws: Workspace, profile: str, *, user: User | None, local: bool = False,
              scenario: str | None = None) -> ScorecardOutcome:
    """Every community against ``profile`` (cached per data version), on the real layers or a scenario's.
    ``local``: the command line may name a profile file; web clients only shipped profiles."""
    require(user, Action.SCORECARD, ws.settings)
    prof = profile_named(profile) if local else shipped_profile(profile)
    snap = snapshot_for(ws, scenario)
    if snap.communities.empty:
        raise NoData("no communities: import them or draft them (shequ draft communities)",
                     zh="没有社区数据：请导入或生成社区（shequ draft communities）")
    return ws.cached(snap, ("scorecard", prof.name, profile), lambda: _score(ws, snap, prof))


def _score(ws: Workspace, snap: Snapshot, prof: Profile) -> ScorecardOutcome:
    with timed("scorecard", profile=prof.name, communities=len(snap.communities)):
        per_community = None
        if len(snap.facilities) and len(snap.residences) and snap.walkable:
            outcome = coverage_of(ws, CoverageQuery(types=default_types(snap), scenario=snap.scenario or ""))
            zones = outcome.zones
            per_community = zones[zones["zone_kind"] == "communities"].drop(columns=["zone_kind", "name_zh"])
        card = score(snap.communities, snap.facilities, prof, grids=snap.grids, coverage=per_community,
                     residences=snap.residences, subdistricts=snap.subdistricts)
    return ScorecardOutcome(card, prof, snap.communities, notes(card, snap), shipped())


def notes(card: Scorecard, snap: Snapshot) -> list[str]:
    """The caveats a scorecard must show: households that are estimates, service centres missing
    from the data (so every community shows its whole requirement as shortfall)."""
    out = []
    if snap.estimated:
        out.append(f"户数与人口为 {OSM_ESTIMATE[0]}，不是普查数。 Households and population are "
                   f"{OSM_ESTIMATE[1]}, not census counts.")
    v = card.verdicts
    if len(v):
        absent = v[(v["verdict"] == "not in the data") & v["rule"].str.startswith("required:")]["label_zh"].str.strip()
        if absent.nunique():
            out.append(f"数据中没有以下设施类型，相关条目显示为“数据中没有”，而非“缺”：{'、'.join(absent.unique())}。 "
                       f"The data holds no facility of {absent.nunique()} required type(s): they read 'not in the "
                       "data', not 'missing'. Import them to judge.")
    if "centre_check" in card.communities and card.communities["centre_check"].eq("no centre in the data").all():
        out.append("数据中没有社区综合服务设施（或其面积）：相关规则显示为“数据中没有”，不计为未达标。 "
                   "The data holds no community service centre (or no floor area for one): the rules on it read "
                   "'not in the data' and are not counted as missed. Import the centres with floor_area_m2 to "
                   "measure them.")
    return out


def community_card(ws: Workspace, profile: str, code: str, *, user: User | None) -> CommunityCard:
    """One community's scorecard: its measures, its grids checked against the profile, its facilities."""
    overview = scorecard(ws, profile, user=user)
    snap = ws.snapshot()
    comm = snap.communities
    mine = comm[comm["code"].astype(str) == code]
    if mine.empty:
        raise NotFound(f"there is no community with code {code!r}",
                       zh=f"没有代码为 {code} 的社区")
    c = overview.card.communities
    row = c[c["code"].astype(str) == code].iloc[0].to_dict()
    grids = snap.grids[snap.grids["community_code"].astype(str) == code].copy() if len(snap.grids) else snap.grids
    prof = overview.profile
    grid_range = tuple(prof.value("grid_households")) if prof.get("grid_households") else None
    findings = pd.DataFrame(columns=["check", "grid", "message", "message_zh"])
    if len(grids):
        rules = GridRules(households=grid_range, manager_required=bool(prof.value("grid_manager_required", False)),
                          party_branch_required=bool(prof.value("grid_party_branch_required", False)))
        findings = check_grids(grids, mine, rules, gaps=True)
        hh = pd.to_numeric(grids["households"], errors="coerce")
        grids["in_range"] = [None if grid_range is None or pd.isna(h) else bool(grid_range[0] <= h <= grid_range[1])
                             for h in hh]
        grids["findings"] = [findings[findings["grid"] == g]["message"].tolist() for g in grids["code"]]
        grids["findings_zh"] = [findings[findings["grid"] == g]["message_zh"].tolist() for g in grids["code"]]
    gaps = findings[findings["check"] == "gap"] if len(findings) else findings
    gap_messages, gap_messages_zh = gaps["message"].tolist(), gaps["message_zh"].tolist()
    fac = snap.facilities
    inside = pd.Series(dtype=int)
    if len(fac):
        hit = shapely.within(np.asarray(fac.geometry.values), mine.geometry.iloc[0])
        inside = fac[hit]["type"].value_counts()
    verdicts = overview.card.verdicts
    verdicts = verdicts[verdicts["code"].astype(str) == code].reset_index(drop=True)
    return CommunityCard(overview, code, row, mine, grids, gap_messages, grid_range, inside, verdicts,
                         gap_messages_zh)


@dataclass
class ReportFiles:
    outcome: ScorecardOutcome
    files: list[Path]


def write_report(ws: Workspace, profile: str, out: str | Path, *, user: User | None,
                 local: bool = False, scenario: str | None = None) -> ReportFiles:
    """The scorecard as a self-contained HTML page, two CSV tables and an XLSX workbook."""
    from shequ.web.offline import ATTRIBUTION
    from shequ.web.report import scorecard_html

    outcome = scorecard(ws, profile, user=user, local=local, scenario=scenario)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    card, prof = outcome.card, outcome.profile
    files = [out / "scorecard.html", out / "scorecard_communities.csv", out / "scorecard_rules.csv",
             out / "scorecard.xlsx", out / "scorecard_verdicts.csv", out / "scorecard_priorities.csv"]
    files[0].write_text(scorecard_html(card, prof, outcome.communities, notes=outcome.notes,
                                       attribution=ATTRIBUTION), encoding="utf-8")
    card.communities.to_csv(files[1], index=False, encoding="utf-8-sig")
    card.rules.to_csv(files[2], index=False, encoding="utf-8-sig")
    card.verdicts.to_csv(files[4], index=False, encoding="utf-8-sig")
    card.priorities.to_csv(files[5], index=False, encoding="utf-8-sig")
    write_workbook(outcome, files[3])
    return ReportFiles(outcome, files)


def write_workbook(outcome: ScorecardOutcome, target: str | Path | IO[bytes]) -> None:
    """The scorecard as an XLSX workbook (a path or a binary file): communities, rules, verdicts,
    priorities, streets, the profile."""
    card, prof = outcome.card, outcome.profile
    profile_rules = pd.DataFrame([{"rule": r.key, "value": str(r.value), "unit": r.unit, "applies_to": r.applies_to,
                                   "source": r.source_title, "clause": r.clause, "status": r.status,
                                   "from_profile": r.profile, "quote": r.quote, "note": r.note}
                                  for r in prof.rules.values()])
    with pd.ExcelWriter(target, engine="xlsxwriter") as xlsx:
        card.communities.to_excel(xlsx, sheet_name="communities 社区", index=False)
        card.rules.to_excel(xlsx, sheet_name="rules 规则", index=False)
        card.verdicts.to_excel(xlsx, sheet_name="verdicts 逐条结论", index=False)
        card.priorities.to_excel(xlsx, sheet_name="priorities 优先事项", index=False)
        if len(card.subdistricts):
            card.subdistricts.to_excel(xlsx, sheet_name="streets 街道", index=False)
        profile_rules.to_excel(xlsx, sheet_name="profile 配置", index=False)


def community_workbook(cc: CommunityCard, target: str | Path | IO[bytes]) -> None:
    """One community's scorecard as an XLSX workbook: its verdict on every rule, its grids."""
    grids = pd.DataFrame(cc.grids.drop(columns="geometry", errors="ignore"))
    if "findings" in grids:
        grids["findings"] = grids["findings"].map(lambda f: "; ".join(f) if isinstance(f, list) else f)
    with pd.ExcelWriter(target, engine="xlsxwriter") as xlsx:
        cc.verdicts.to_excel(xlsx, sheet_name="verdicts 逐条结论", index=False)
        grids.drop(columns=["extra"], errors="ignore").to_excel(xlsx, sheet_name="grids 网格", index=False)
