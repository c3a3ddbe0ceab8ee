"""`shequ report communities`: store → coverage + scorecard (gis) → HTML, CSV and XLSX.

Glue only: walking coverage is ``shequ.gis.coverage``, the scoring ``shequ.gis.scorecard``, the page
``shequ.web.report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from shequ.api.analyze import DEFAULT_TYPES
from shequ.gis.coverage import Coverage, assign_zones
from shequ.gis.scorecard import Scorecard, scorecard
from shequ.layers.profiles import Profile, load_profile
from shequ.layers.store import Store
from shequ.web.offline import ATTRIBUTION
from shequ.web.report import scorecard_html, scorecard_notes


@dataclass
class ReportRun:
    card: Scorecard
    profile: Profile
    files: list[Path]


def community_report(store: Store, out: str | Path, profile: str = "national", *,
                     coverage_types: list[str] | None = None) -> ReportRun:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prof = load_profile(profile)
    communities = store.read("communities")
    if communities.empty:
        raise ValueError("the communities layer is empty: import communities or run shequ draft communities")
    facilities, residences, streets = store.read("facilities"), store.read("residences"), store.read("streets")
    coverage = None
    present = set(facilities["type"]) if len(facilities) else set()
    types = [t for t in (coverage_types or DEFAULT_TYPES) if t in present]
    if types and len(streets) and len(residences):
        result = Coverage.from_geodataframes(streets, residences, facilities, types=types).solve()
        coverage = result.summary(assign_zones(residences, communities, "code"), name="zone")
    card = scorecard(communities, facilities, prof, grids=store.read("grids"), coverage=coverage)
    notes = scorecard_notes(card, residences)
    files = [out / "scorecard.html", out / "scorecard_communities.csv", out / "scorecard_rules.csv",
             out / "scorecard.xlsx"]
    files[0].write_text(scorecard_html(card, prof, communities, notes=notes, attribution=ATTRIBUTION),
                        encoding="utf-8")
    card.communities.to_csv(files[1], index=False, encoding="utf-8-sig")
    card.rules.to_csv(files[2], index=False, encoding="utf-8-sig")
    profile_rules = pd.DataFrame([{"rule": r.key, "value": str(r.value), "unit": r.unit, "applies_to": r.applies_to,
                                   "source": r.source_title, "clause": r.clause, "status": r.status,
                                   "from_profile": r.profile, "quote": r.quote, "note": r.note}
                                  for r in prof.rules.values()])
    with pd.ExcelWriter(files[3], engine="openpyxl") as xlsx:
        card.communities.to_excel(xlsx, sheet_name="communities 社区", index=False)
        card.rules.to_excel(xlsx, sheet_name="rules 规则", index=False)
        profile_rules.to_excel(xlsx, sheet_name="profile 配置", index=False)
    return ReportRun(card, prof, files)
