"""The scorecard pages: the district overview (``/reports/scorecard``) and one community
(``/reports/scorecard/{code}``), in the app's frame. Renders a ``ScorecardOutcome`` / ``CommunityCard``
of ``shequ.usecases.scorecards``; computes nothing. The markup is ``web/templates/scorecard_overview.html``
(which includes the written report's ``report_body.html``) and ``scorecard_community.html``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.layers import catalog
from shequ.layers.profiles import Profile
from shequ.web.offline import ATTRIBUTION
from shequ.web.render import render, t
from shequ.web.report import GOOD, MID, body_context, district_map


def _bar(profile: str, profiles: Sequence[str], communities: gpd.GeoDataFrame, code: str = "") -> dict[str, Any]:
    """The choices of the profile-and-community bar (``scorecard_bar.html``)."""
    comm_opts = [("", "全部社区（总览）All communities (overview)", not code)]
    comm_opts += [(str(c), f"{n} ({c})", str(c) == code)
                  for c, n in zip(communities["code"], communities["name"].astype(str), strict=True)]
    return {"profile_options": [(p, p, p == profile) for p in profiles], "community_options": comm_opts}


def scorecard_overview_page(outcome: Any) -> str:
    """The district overview (the written report's content, with its charts and maps) in the app's frame."""
    card, profile, communities = outcome.card, outcome.profile, outcome.communities
    links = [(str(c), str(n)) for c, n in zip(communities["code"], communities["name"], strict=True)]
    return render("scorecard_overview.html", title=f"社区体检 Community scorecard — {profile.name}",
                  active="/reports/scorecard", links=links, **_bar(profile.name, outcome.profiles, communities),
                  **body_context(card, profile, communities, notes=outcome.notes, attribution=ATTRIBUTION))


def _community_measure(rule: str, row: dict, names: dict, profile: Profile) -> tuple[str, bool | None]:
    """This community's value for one scorecard rule, and whether it meets it (None: not judged)."""
    missing = {s.strip() for s in str(row.get("required_missing") or "").split(",") if s.strip()}
    if rule == "community_households":
        off = row.get("size_off_by", 0)
        text = f"{row['households']:,} 户 households" + (f" ({off:+,})" if off else "")
        return text, row.get("size_check") == "within"
    if rule == "service_centre_present":
        return f"{row.get('centre_count', 0)} 处 centres", row.get("centre_count", 0) > 0
    if rule == "service_centre":
        return (f"{row.get('centre_m2', 0):,.0f} / {row.get('centre_required_m2', 0):,.0f} m² "
                f"({row.get('centre_check', '')})"), row.get("centre_check") == "meets"
    if rule == "service_centre_min_m2":
        least = float(profile.value("service_centre_min_m2", 0) or 0)
        return (f"{row.get('centre_m2', 0):,.0f} m²",
                bool(row.get("centre_m2", 0) >= least and row.get("centre_area_unknown", 0) == 0))
    if rule == "one_stop":
        return f"{row.get('one_stop_m2', 0):,.0f} m² ({row.get('one_stop_check', '')})", row.get("one_stop_check") == \
            "meets"
    if rule == "required_facilities":
        return f"{row.get('required_present', 0)} / {row.get('required_total', 0)}", \
            row.get("required_present") == row.get("required_total")
    if rule.startswith("required:"):
        k = rule.split(":", 1)[1]
        here = names[k].name_zh not in missing
        return (t("有", "present") if here else t("缺", "missing")), here
    if rule == "staff":
        lo, hi = row.get("staff_needed_min"), row.get("staff_needed_max")
        return (f"{lo}–{hi}" if hi != lo else f"{lo}") + " 人 people", None
    if rule.startswith("funding_"):
        v = row.get(f"{rule}_cny")
        return ("—" if v is None or pd.isna(v) else f"{int(v):,} CNY"), None
    if rule == "grids":
        return f"{row.get('grids', 0)} ({row.get('grid_check', '')})", row.get("grid_check") == "meets"
    return "—", None


def _shortfalls(card: Any, row: dict, names: dict) -> list:
    """What this community lacks, in both languages."""
    shortfalls = []
    if row.get("size_check") in ("below", "above"):
        shortfalls.append(t(f"户数{'偏少' if row['size_check'] == 'below' else '偏多'} {abs(row['size_off_by']):,} 户",
                            f"{abs(row['size_off_by']):,} households {row['size_check']} the range"))
    if row.get("centre_shortfall_m2", 0) and row["centre_shortfall_m2"] > 0:
        shortfalls.append(t(f"综合服务设施面积缺 {row['centre_shortfall_m2']:,.0f} m²",
                            f"service-centre floor area short by {row['centre_shortfall_m2']:,.0f} m²"))
    if row.get("required_missing"):
        shortfalls.append(t(f"缺少应配设施：{row['required_missing']}",
                            "missing required facilities: " + ", ".join(
                                next((v.name_en for v in names.values() if v.name_zh == s.strip()), s.strip())
                                for s in str(row["required_missing"]).split(","))))
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
    rules = [(r, *_community_measure(str(r["rule"]), row, names, profile))
             for r in card.rules.drop_duplicates("rule").to_dict("records")
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
        svg = district_map(shapes, colours, titles, size=320)
    facilities = [(names[k].name_zh if k in names else k, names[k].name_en if k in names else k, n)
                  for k, n in cc.facilities.items()]
    coverage = [(names[k].name_zh, names[k].name_en, row.get("coverage_" + k)) for k in card.types]
    return render("scorecard_community.html", title=f"{row['name']} — 社区体检 Community scorecard",
                  active="/reports/scorecard", profile=profile, code=code, row=row, notes=cc.overview.notes,
                  **_bar(profile.name, cc.overview.profiles, cc.overview.communities, code), svg=svg,
                  shortfalls=_shortfalls(card, row, names), coverage=coverage,
                  coverage_query=urlencode({"area": code, "types": ",".join(card.types)}), rules=rules,
                  facilities=facilities, grids=grids.to_dict("records"), grid_range=grid_range,
                  gap_messages=cc.gap_messages, attribution=ATTRIBUTION)
