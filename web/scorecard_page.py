"""The scorecard pages: the district overview (``/reports/scorecard``) and one community
(``/reports/scorecard/{code}``), in the app's frame. Renders a ``ScorecardOutcome`` / ``CommunityCard``
of ``shequ.usecases.scorecards``; computes nothing. The markup is ``web/templates/scorecard_overview.html``
(which includes the written report's ``report_body.html``) and ``scorecard_community.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.layers import catalog
from shequ.web.offline import ATTRIBUTION
from shequ.web.render import render, t
from shequ.web.report import GOOD, MID, body_context, district_map


def _bar(profile: str, profiles: Sequence[str], communities: gpd.GeoDataFrame, code: str = "") -> dict[str, Any]:
    """The choices of the profile-and-community bar (``scorecard_bar.html``)."""
    comm_opts = [("", "全部社区（总览）All communities (overview)", not code)]
    comm_opts += [(str(c), f"{n} ({c})", str(c) == code)
                  for c, n in zip(communities["code"], communities["name"].astype(str), strict=True)]
    return {"profile_options": [(p, p, p == profile) for p in profiles], "community_options": comm_opts}


def community_link(profile: str) -> str:
    """Where a community's scorecard is: a format string of ``code`` (already quoted)."""
    return "/reports/scorecard/{code}?profile=" + quote(profile)


def scorecard_overview_page(outcome: Any) -> str:
    """The district overview (the written report's content, with its charts and maps) in the app's frame."""
    card, profile, communities = outcome.card, outcome.profile, outcome.communities
    links = [(str(c), str(n)) for c, n in zip(communities["code"], communities["name"], strict=True)]
    return render("scorecard_overview.html", title=f"社区体检 Community scorecard — {profile.name}",
                  active="/reports/scorecard", links=links, **_bar(profile.name, outcome.profiles, communities),
                  **body_context(card, profile, communities, notes=outcome.notes, attribution=ATTRIBUTION,
                                 link=community_link(profile.name)))


def _shortfalls(card: Any, verdicts: pd.DataFrame, row: dict, names: dict) -> list:
    """What this community lacks and what would put it right, in both languages (the rules it does not
    meet, each with its remedy; then walking coverage)."""
    shortfalls = []
    missed = verdicts[(verdicts["verdict"] == "not met") & ~verdicts["rule"].astype(str).str.startswith("required:")]
    for v in missed.to_dict("records"):
        label_zh, label = str(v["label_zh"]).strip(), str(v["label"]).strip()
        shortfalls.append(t(f"{label_zh}：{v.get('remedy_zh') or v.get('measure')}",
                            f"{label}: {v.get('remedy') or v.get('measure')}"))
    for k in card.types:
        rate = row.get(f"coverage_{k}")
        if rate is not None and np.isfinite(rate) and rate < 1:
            shortfalls.append(t(f"{names[k].name_zh}：步行可达的户数仅占 {rate:.0%}",
                                f"{names[k].name_en}: only {rate:.0%} of households within walking distance"))
    return shortfalls


def community_scorecard_page(cc: Any) -> str:
    """One community against every rule of the profile: its measure, the rule's source and status,
    shortfalls, the required facilities present or missing, and its grids (a ``CommunityCard``)."""
    card, profile, code, row = cc.card, cc.profile, cc.code, cc.row
    names = catalog.load_facility_types()
    mine = {v["rule"]: v for v in cc.verdicts.to_dict("records")}
    rules = [(r, mine.get(r["rule"], {})) for r in card.rules.drop_duplicates("rule").to_dict("records")
             if not str(r["rule"]).startswith("target:")]
    geo, grids, grid_range = cc.community, cc.grids, cc.grid_range
    svg = ""
    if len(geo):
        shapes = pd.concat([geo[["geometry"]], grids[["geometry"]]], ignore_index=True)
        shapes = gpd.GeoDataFrame(shapes, geometry="geometry", crs=4326)
        colours = ["#e2e8f0"] + [GOOD if (grid_range and gh is not None and not pd.isna(gh)
                                          and grid_range[0] <= gh <= grid_range[1]) else MID
                                 for gh in grids["households"]] if len(grids) else ["#e2e8f0"]
        titles = [f"{code} {row['name']}"] + [f"{g} {gh}" for g, gh in zip(grids["code"], grids["households"],
                                                                               strict=True)]
        labels = [""] + [str(g)[-3:] for g in grids["code"]]  # a grid by its number within the community
        svg = district_map(shapes, colours, titles, size=320, labels=labels)
    facilities = [(names[k].name_zh if k in names else k, names[k].name_en if k in names else k, n)
                  for k, n in cc.facilities.items()]
    coverage = [(names[k].name_zh, names[k].name_en, row.get("coverage_" + k)) for k in card.types]
    return render("scorecard_community.html", title=f"{row['name']} — 社区体检 Community scorecard",
                  active="/reports/scorecard", profile=profile, code=code, row=row, notes=cc.overview.notes,
                  **_bar(profile.name, cc.overview.profiles, cc.overview.communities, code), svg=svg,
                  shortfalls=_shortfalls(card, cc.verdicts, row, names), coverage=coverage,
                  coverage_query=urlencode({"area": code, "types": ",".join(card.types)}), rules=rules,
                  facilities=facilities, grids=grids.to_dict("records"), grid_range=grid_range,
                  gap_messages=cc.gap_messages, gap_messages_zh=cc.gap_messages_zh, attribution=ATTRIBUTION)
