"""The comparison page (``/maps/compare``): a scenario against the real layers (or another scenario),
per type and community before → after, and the difference map of one type. Renders only: the numbers
are ``shequ.usecases.compare``'s."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pandas as pd
from markupsafe import Markup

from shequ.layers import catalog
from shequ.web.offline import Verbatim, to_html
from shequ.web.pages import framed_map
from shequ.web.render import fragment, render
from shequ.web.siting_map import CHANGE_COLOURS, CHANGE_LABELS, difference_map

#: communities listed in the panel (the workbook has them all)
TOP = 25


def compare_page(c: Any, type_: str | None = None) -> str:
    """The page: the difference map of one type beside the panel of numbers."""
    m, panel = _parts(c, type_)
    m.get_root().header.add_child(Verbatim(fragment("coverage_style.html")))  # the map beside the panel
    framed_map(m, "方案比较 Compare — shequ", panel, active="/maps/coverage",
               scripts='<script src="/static/mapsearch.js"></script>')
    return to_html(m, "served")


def compare_report(c: Any, type_: str | None = None) -> str:
    """The page's report part (the panel's numbers, without the map) as a page to print or make a PDF of."""
    _, panel = _parts(c, type_, report=True)
    return render("compare_report.html", title="方案比较 Compare — shequ", panel=panel)


def _parts(c: Any, type_: str | None, report: bool = False) -> tuple[Any, Markup]:
    names = catalog.load_facility_types()
    shown = type_ if type_ in c.types else c.types[0]
    res = c.residences[c.residences["type"] == shown]
    fac = c.after.facilities
    sites = fac[(fac["type"] == shown) & fac["scenario_change"].notna()] if "scenario_change" in fac else fac.iloc[0:0]
    existing = c.before.facilities[c.before.facilities["type"] == shown]
    base, scen = c.label("base"), c.label("scenario")
    title = (f"{names[shown].name_zh}：{base[0]} → {scen[0]}", f"{names[shown].name_en}: {base[1]} → {scen[1]}")
    m = difference_map(res, title=title, sites=sites[[k for k in ("id", "name", "capacity", "geometry") if k in sites]],
                       existing=existing, communities=c.after.communities, page_title=False)
    zones = c.zones[(c.zones["zone_kind"] == "communities") & (c.zones["type"] == shown)].copy()
    zones["households_covered_change"] = zones.get("households_covered_change", pd.Series(0.0, index=zones.index))
    names_of = dict(zip(c.after.communities["code"].astype(str), c.after.communities["name"].astype(str), strict=True))
    zones["name"] = zones["zone"].astype(str).map(names_of).fillna("")
    changed = zones[zones["households_covered_change"].fillna(0) != 0].sort_values(
        "households_covered_change", ascending=False).head(TOP)
    counts = res["change"].value_counts()
    legend = [(CHANGE_COLOURS[k], CHANGE_LABELS[k], int(counts.get(k, 0))) for k in CHANGE_COLOURS]
    q = {"scenario": c.scenario or "real", "base": c.base or "real", "types": ",".join(c.types)}
    if c.after.query.area:
        q["area"] = c.after.query.area
    if c.after.query.level:
        q["level"] = c.after.query.level
    tabs = [(k, (names[k].name_zh, names[k].name_en), k == shown,
             "/maps/compare?" + urlencode({**q, "type": k, **({"profile": c.profile} if c.profile else {})}))
            for k in c.types]
    back = urlencode({"types": ",".join(c.types), "scenario": c.scenario, "area": c.after.query.area})
    panel = fragment("compare_panel.html", c=c, shown=shown, tabs=tabs, totals=c.totals.to_dict("records"),
                     changed=changed.to_dict("records"), legend=legend, verdicts=c.verdicts.head(50).to_dict("records"),
                     xlsx="/maps/compare/compare.xlsx?" + urlencode(q), back="/maps/coverage?" + back,
                     base_label=c.label("base"), scenario_label=c.label("scenario"),
                     pdf="/maps/compare?" + urlencode({**q, "type": shown, "format": "pdf",
                                                       **({"profile": c.profile} if c.profile else {})}),
                     report=report)
    return m, panel
