"""Community scorecards: every community against a policy profile, one community in detail, the
written report (HTML, CSV, XLSX).

The walking-coverage columns come from the one coverage pipeline (``usecases.coverage``), so a
scorecard's rates equal the coverage map's for the same types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.errors import NoData, NotFound, UnknownName
from shequ.gis.scorecard import Scorecard
from shequ.gis.scorecard import scorecard as score
from shequ.gis.topology import GridRules, check_grids
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
        raise UnknownName(f"unknown profile {name!r}: use one of {', '.join(shipped())}")
    return load_profile(name)


def scorecard(ws: Workspace, profile: str, *, user: User | None, local: bool = False,
              scenario: str | None = None) -> ScorecardOutcome:
    """Every community against ``profile`` (cached per data version), on the real layers or a scenario's.
    ``local``: the command line may name a profile file; web clients only shipped profiles."""
    require(user, Action.SCORECARD, ws.settings)
    prof = profile_named(profile) if local else shipped_profile(profile)
    snap = snapshot_for(ws, scenario)
    if snap.communities.empty:
        raise NoData("no communities: import them or draft them (shequ draft communities)")
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
        out.append("户数与人口为按 data/osm_import.json 规则的估算值，不是普查数。 Households and population are "
                   "estimates by the rule in data/osm_import.json, not census counts.")
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
        raise NotFound(f"there is no community with code {code!r}")
    c = overview.card.communities
    row = c[c["code"].astype(str) == code].iloc[0].to_dict()
    grids = snap.grids[snap.grids["community_code"].astype(str) == code].copy() if len(snap.grids) else snap.grids
    prof = overview.profile
    grid_range = tuple(prof.value("grid_households")) if prof.get("grid_households") else None
    findings = pd.DataFrame(columns=["check", "grid", "message"])
    if len(grids):
        rules = GridRules(households=grid_range, manager_required=bool(prof.value("grid_manager_required", False)),
                          party_branch_required=bool(prof.value("grid_party_branch_required", False)))
        findings = check_grids(grids, mine, rules, gaps=True)
        hh = pd.to_numeric(grids["households"], errors="coerce")
        grids["in_range"] = [None if grid_range is None or pd.isna(h) else bool(grid_range[0] <= h <= grid_range[1])
                             for h in hh]
        grids["findings"] = [findings[findings["grid"] == g]["message"].tolist() for g in grids["code"]]
    gap_messages = findings[findings["check"] == "gap"]["message"].tolist() if len(findings) else []
    fac = snap.facilities
    inside = pd.Series(dtype=int)
    if len(fac):
        hit = shapely.within(np.asarray(fac.geometry.values), mine.geometry.iloc[0])
        inside = fac[hit]["type"].value_counts()
    verdicts = overview.card.verdicts
    verdicts = verdicts[verdicts["code"].astype(str) == code].reset_index(drop=True)
    return CommunityCard(overview, code, row, mine, grids, gap_messages, grid_range, inside, verdicts)


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
    profile_rules = pd.DataFrame([{"rule": r.key, "value": str(r.value), "unit": r.unit, "applies_to": r.applies_to,
                                   "source": r.source_title, "clause": r.clause, "status": r.status,
                                   "from_profile": r.profile, "quote": r.quote, "note": r.note}
                                  for r in prof.rules.values()])
    with pd.ExcelWriter(files[3], engine="xlsxwriter") as xlsx:
        card.communities.to_excel(xlsx, sheet_name="communities 社区", index=False)
        card.rules.to_excel(xlsx, sheet_name="rules 规则", index=False)
        card.verdicts.to_excel(xlsx, sheet_name="verdicts 逐条结论", index=False)
        card.priorities.to_excel(xlsx, sheet_name="priorities 优先事项", index=False)
        if len(card.subdistricts):
            card.subdistricts.to_excel(xlsx, sheet_name="streets 街道", index=False)
        profile_rules.to_excel(xlsx, sheet_name="profile 配置", index=False)
    return ReportFiles(outcome, files)
