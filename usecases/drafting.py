"""Drafting community and grid boundaries, and checking grids: store → ``gis.boundaries`` /
``gis.topology`` → store and findings.

Drafts never overwrite official boundaries unless asked, and a new draft of communities replaces the
draft grids made for the old one in the same transaction. Without a household range, a draft takes
the profile's (the national profile's is the law's 100–700 households per residents' committee).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from shequ.errors import InvalidInput, NoData
from shequ.gis import boundaries
from shequ.gis.topology import CHECKS, GridRules, check_grids, rules_from_profile
from shequ.layers.profiles import Profile, load_profile
from shequ.layers.schema import LAYERS
from shequ.layers.validate import validate
from shequ.logs import timed
from shequ.usecases.workspace import Workspace

__all__ = ["CHECKS", "DraftRun", "GridCheck", "check", "draft_communities", "draft_grids", "draft_subdistricts",
           "parse_range",
           "write_findings"]

DRAFT_NOTE = "drafted by shequ from streets and residences: a starting point to edit, not an official boundary"


@dataclass
class DraftRun:
    layer: str
    units: gpd.GeoDataFrame
    households_range: tuple[float, float]
    range_source: str  # where the range comes from, for printing
    replaced: int

    @property
    def in_range(self) -> pd.Series:
        lo, hi = self.households_range
        return self.units["households"].between(lo, hi)


def parse_range(text: str) -> tuple[float, float]:
    """'300-500' (or 300–500, 300,500) → (300.0, 500.0)."""
    for sep in ("-", "–", ",", "~"):
        if sep in text:
            try:
                lo, hi = (float(v) for v in text.split(sep, 1))
            except ValueError:
                break
            if lo > hi:
                raise InvalidInput(f"households range {text!r}: the low end is above the high end")
            if lo < 0:
                raise InvalidInput(f"households range {text!r}: households are not negative")
            return lo, hi
    raise InvalidInput(f"households range {text!r}: write LOW-HIGH, e.g. 300-500")


def households_range(profile: Profile, rule: str, given: str | None) -> tuple[tuple[float, float], str]:
    """The range given, else the profile's rule; and where it comes from."""
    if given:
        return parse_range(given), "--households"
    r = profile.get(rule)
    if r is None:
        raise InvalidInput(f"profile {profile.name!r} states no {rule}: pass --households LOW-HIGH "
                           "or a profile that states one (zhuji: 1 500–3 000, chifeng: 1 000–2 000)")
    lo, hi = r.value
    return (float(lo), float(hi)), f"profile {profile.name}: {r.citation}"


def _refuse_official(ws: Workspace, layer: str, replace_official: bool) -> None:
    existing = ws.store.read(layer)
    official = existing[existing["boundary"].fillna("official") != "draft"] if len(existing) else existing
    if len(official) and not replace_official:
        raise InvalidInput(f"the {layer} layer holds {len(official)} official {layer}; a draft would replace them. "
                           f"Export them first (shequ export {layer} -o {layer}.gpkg) and pass --replace-official")


def _typed(frame: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    return validate(frame, LAYERS[layer], source=f"shequ draft {layer}")


def draft_communities(ws: Workspace, *, profile: str = "national", households: str | None = None,
                      districts: gpd.GeoDataFrame | None = None, split_blocks: bool = False,
                      replace_official: bool = False) -> DraftRun:
    rng, origin = households_range(load_profile(profile), "community_households", households)
    snap = ws.snapshot()
    if snap.streets.empty or snap.residences.empty:
        raise NoData("drafting needs streets and residences: import them first (shequ import-osm …)")
    _refuse_official(ws, "communities", replace_official)
    _refuse_official(ws, "grids", replace_official)
    with timed("draft communities", range=f"{rng[0]:g}-{rng[1]:g}", split_blocks=split_blocks) as log:
        frame = boundaries.draft_communities(snap.streets, snap.residences, households_range=rng,
                                             districts=districts, split_blocks=split_blocks)
        communities = _typed(frame, "communities")
        no_grids = _typed(gpd.GeoDataFrame({"code": [], "name": [], "community_code": []}, geometry=[], crs=4326),
                          "grids")
        written = ws.store.write_layers({"communities": communities, "grids": no_grids}, mode="replace")
        log.update(units=len(frame))
    return DraftRun("communities", frame, rng, origin, written["communities"].deleted)


def draft_grids(ws: Workspace, *, profile: str = "national", households: str | None = None,
                split_blocks: bool = False, replace_official: bool = False) -> DraftRun:
    rng, origin = households_range(load_profile(profile), "grid_households", households)
    snap = ws.snapshot()
    if snap.communities.empty:
        raise NoData("drafting grids needs communities: import them or run shequ draft communities first")
    _refuse_official(ws, "grids", replace_official)
    with timed("draft grids", range=f"{rng[0]:g}-{rng[1]:g}", split_blocks=split_blocks) as log:
        frame = boundaries.draft_grids(snap.communities, snap.streets, snap.residences, households_range=rng,
                                       split_blocks=split_blocks)
        written = ws.store.write("grids", _typed(frame, "grids"), mode="replace")
        log.update(units=len(frame))
    return DraftRun("grids", frame, rng, origin, written.deleted)


def draft_subdistricts(ws: Workspace, *, replace_official: bool = False) -> DraftRun:
    """Streets and towns (街道/乡镇) drawn from the communities, by their codes' first 9 digits."""
    snap = ws.snapshot()
    if snap.communities.empty:
        raise NoData("drafting streets needs communities: import them or run shequ draft communities first")
    _refuse_official(ws, "subdistricts", replace_official)
    with timed("draft subdistricts") as log:
        frame = boundaries.draft_subdistricts(snap.communities)
        written = ws.store.write("subdistricts", _typed(frame, "subdistricts"), mode="replace")
        log.update(units=len(frame))
    return DraftRun("subdistricts", frame, (0.0, float("inf")), "the communities' codes", written.deleted)


@dataclass
class GridCheck:
    findings: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    rules: GridRules
    profile: Profile
    communities: int


def check(ws: Workspace, *, profile: str = "national", households: str | None = None) -> GridCheck:
    """Every grid inside one community, no overlaps or gaps, the profile's rules."""
    prof = load_profile(profile)
    rules = rules_from_profile(prof)
    if households:
        rules = GridRules(parse_range(households), rules.manager_required, rules.party_branch_required)
    snap = ws.snapshot()
    grids = snap.grids.copy()
    if grids.empty:
        raise NoData("the grids layer is empty: import grids or run shequ draft grids")
    grids["reason"] = [e.get("reason", "") if isinstance(e, dict) else "" for e in grids["extra"]]
    with timed("check grids", grids=len(grids), profile=prof.name) as log:
        findings = check_grids(grids, snap.communities, rules)
        log.update(findings=len(findings))
    return GridCheck(findings, grids, rules, prof, len(snap.communities))


def write_findings(findings: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() in (".geojson", ".json"):
        findings.to_file(path, driver="GeoJSON")
    else:
        findings.to_file(path)
    return path
