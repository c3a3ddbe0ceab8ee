"""`shequ draft` and `shequ check`: store → gis drafting / topology → store and findings.

Glue only: the drafting is ``shequ.gis.boundaries``, the checks ``shequ.gis.topology``. Drafts never
overwrite official boundaries unless asked, and a new draft of communities replaces the draft grids
made for the old one in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from shequ.gis import boundaries
from shequ.gis.topology import GridRules, check_grids
from shequ.layers.schema import LAYERS
from shequ.layers.store import Store
from shequ.layers.validate import validate

DRAFT_NOTE = "drafted by shequ from streets and residences: a starting point to edit, not an official boundary"


@dataclass
class DraftRun:
    layer: str
    units: gpd.GeoDataFrame
    households_range: tuple[float, float]
    replaced: int

    @property
    def in_range(self) -> pd.Series:
        lo, hi = self.households_range
        return self.units["households"].between(lo, hi)


def _refuse_official(store: Store, layer: str, replace_official: bool) -> None:
    existing = store.read(layer)
    official = existing[existing["boundary"].fillna("official") != "draft"] if len(existing) else existing
    if len(official) and not replace_official:
        raise ValueError(f"the {layer} layer holds {len(official)} official {layer}; a draft would replace them. "
                         f"Export them first (shequ export {layer} -o {layer}.gpkg) and pass --replace-official")


def _typed(frame: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    return validate(frame, LAYERS[layer], source=f"shequ draft {layer}")


def draft_communities_into(store: Store, households_range: tuple[float, float], *,
                           districts: gpd.GeoDataFrame | None = None, split_blocks: bool = False,
                           replace_official: bool = False) -> DraftRun:
    streets, residences = store.read("streets"), store.read("residences")
    if streets.empty or residences.empty:
        raise ValueError("drafting needs streets and residences: import them first (shequ import-osm …)")
    _refuse_official(store, "communities", replace_official)
    _refuse_official(store, "grids", replace_official)
    frame = boundaries.draft_communities(streets, residences, households_range=households_range,
                                         districts=districts, split_blocks=split_blocks)
    communities = _typed(frame, "communities")
    no_grids = _typed(gpd.GeoDataFrame({"code": [], "name": [], "community_code": []}, geometry=[], crs=4326),
                      "grids")
    written = store.write_layers({"communities": communities, "grids": no_grids}, mode="replace")
    return DraftRun("communities", frame, households_range, written["communities"].deleted)


def draft_grids_into(store: Store, households_range: tuple[float, float], *, split_blocks: bool = False,
                     replace_official: bool = False) -> DraftRun:
    communities = store.read("communities")
    if communities.empty:
        raise ValueError("drafting grids needs communities: import them or run shequ draft communities first")
    _refuse_official(store, "grids", replace_official)
    frame = boundaries.draft_grids(communities, store.read("streets"), store.read("residences"),
                                   households_range=households_range, split_blocks=split_blocks)
    written = store.write("grids", _typed(frame, "grids"), mode="replace")
    return DraftRun("grids", frame, households_range, written.deleted)


def check_grids_in(store: Store, rules: GridRules) -> gpd.GeoDataFrame:
    grids, communities = store.read("grids"), store.read("communities")
    if grids.empty:
        raise ValueError("the grids layer is empty: import grids or run shequ draft grids")
    grids["reason"] = [e.get("reason", "") if isinstance(e, dict) else "" for e in grids["extra"]]
    return check_grids(grids, communities, rules)


def write_findings(findings: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    findings.to_file(path, driver="GeoJSON") if path.suffix.lower() in (".geojson", ".json") else \
        findings.to_file(path)
    return path


def parse_range(text: str) -> tuple[float, float]:
    """'300-500' (or 300–500, 300,500) → (300.0, 500.0)."""
    for sep in ("-", "–", ",", "~"):
        if sep in text:
            lo, hi = (float(v) for v in text.split(sep, 1))
            if lo > hi:
                raise ValueError(f"households range {text!r}: the low end is above the high end")
            return lo, hi
    raise ValueError(f"households range {text!r}: write LOW-HIGH, e.g. 300-500")
