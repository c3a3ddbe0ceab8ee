"""Difference maps: what a plan changes, residence by residence (offline, bilingual legend).

Colours are the Okabe–Ito palette, safe for the common kinds of colour blindness: newly covered in
blue, still not covered in orange, lost (a closed facility) in vermillion, covered before in grey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import folium
import geopandas as gpd

from shequ.web.coverage_map import _geojson, two
from shequ.web.offline import ATTRIBUTION, OfflineMap, Verbatim, to_html
from shequ.web.render import macro

if TYPE_CHECKING:
    from shequ.usecases.siting import SitingOutcome

NEW, STILL, LOST, BEFORE = "#0072B2", "#E69F00", "#D55E00", "#999999"
SITE, EXISTING, CANDIDATE = "#CC79A7", "#000000", "#56B4E9"
CHANGE_COLOURS = {"newly covered": NEW, "not covered": STILL, "lost": LOST, "covered": BEFORE}
#: (Chinese, English) of each change: the page shows one language at a time
CHANGE_LABELS = {"newly covered": ("新增覆盖", "newly covered"), "not covered": ("仍未覆盖", "still not covered"),
                 "lost": ("失去覆盖", "coverage lost"), "covered": ("原已覆盖", "covered before")}
#: the residences' tooltip labels
FIELDS = {"id": ("编号", "id"), "households": ("户数", "households"), "population": ("人口", "population"),
          "children": ("儿童", "children"), "elderly": ("老人", "elderly"), "change": ("变化", "change"),
          "by_site": ("覆盖它的新址", "by site")}


def difference_map(residences: gpd.GeoDataFrame, *, title: str | tuple[str, str], sites: gpd.GeoDataFrame | None = None,
                   existing: gpd.GeoDataFrame | None = None, candidates: gpd.GeoDataFrame | None = None,
                   streets: gpd.GeoDataFrame | None = None, communities: gpd.GeoDataFrame | None = None,
                   note: str | tuple[str, str] = "", page_title: bool = True) -> folium.Map:
    """Residences coloured by ``change`` (newly covered, not covered, lost, covered), with the new sites,
    the facilities that stay and, optionally, the candidates considered."""
    res = residences.to_crs(4326)
    minx, miny, maxx, maxy = res.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14)
    if page_title:
        m.get_root().header.add_child(Verbatim(macro("map.html", "title", " ".join(title) if isinstance(title, tuple)
                                                     else title)))
    if streets is not None and len(streets):
        folium.GeoJson(_geojson(streets[["geometry"]], simplify_m=2), name=two("道路", "Streets"),
                       style_function=lambda _f: {"color": "#bdbdbd", "weight": 1, "opacity": 0.7}).add_to(m)
    if communities is not None and len(communities):
        folium.GeoJson(_geojson(communities[["code", "name", "geometry"]], simplify_m=2),
                       name=two("社区", "Communities"),
                       style_function=lambda _f: {"color": "#444", "weight": 2, "fill": False, "dashArray": "4"},
                       tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=[two("社区", "community"),
                                                                                two("代码", "code")])).add_to(m)
    cols = [c for c in ("id", "households", "population", "children", "elderly", "change", "by_site") if c in res]
    # the change is the layer's (its name and colour say it), so the tooltip leaves the English value out
    shown = [c for c in cols if c != "change"]
    for change, colour in CHANGE_COLOURS.items():
        part = res[res["change"] == change]
        if not len(part):
            continue
        folium.GeoJson(
            _geojson(part[[*cols, "geometry"]]),
            name=two(f"居住单元：{CHANGE_LABELS[change][0]} ({len(part)})",
                     f"Residences: {CHANGE_LABELS[change][1]} ({len(part)})"),
            style_function=lambda _f, c=colour: {"color": c, "fillColor": c, "weight": 1, "fillOpacity": 0.55},
            marker=folium.CircleMarker(radius=4, fill=True),
            tooltip=folium.GeoJsonTooltip(
                shown, aliases=[two(f"{CHANGE_LABELS[change][0]} · {FIELDS[c][0]}",
                                    f"{CHANGE_LABELS[change][1]} · {FIELDS[c][1]}")
                                if i == 0 else two(*FIELDS[c]) for i, c in enumerate(shown)])).add_to(m)
    if candidates is not None and len(candidates):
        folium.GeoJson(_geojson(candidates[[c for c in candidates.columns if c != "chosen"]]),
                       name=two(f"候选点 ({len(candidates)})", f"Candidate sites ({len(candidates)})"), show=False,
                       marker=folium.CircleMarker(radius=2, fill=True),
                       style_function=lambda _f: {"color": CANDIDATE, "fillColor": CANDIDATE, "weight": 1,
                                                  "fillOpacity": 0.8}).add_to(m)
    if existing is not None and len(existing):
        keep = existing[[c for c in ("id", "type", "name", "geometry") if c in existing]].copy()
        folium.GeoJson(_geojson(keep), name=two(f"现有设施 ({len(keep)})", f"Existing facilities ({len(keep)})"),
                       marker=folium.CircleMarker(radius=6, fill=True),
                       style_function=lambda _f: {"color": "#fff", "weight": 2, "fillColor": EXISTING,
                                                  "fillOpacity": 1}).add_to(m)
    if sites is not None and len(sites):
        folium.GeoJson(_geojson(sites), name=two(f"建议/规划设施 ({len(sites)})", f"Proposed sites ({len(sites)})"),
                       marker=folium.CircleMarker(radius=9, fill=True),
                       style_function=lambda _f: {"color": "#000", "weight": 2, "fillColor": SITE,
                                                  "fillOpacity": 1},
                       tooltip=folium.GeoJsonTooltip([c for c in sites.columns if c != "geometry"][:8])).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend: list[tuple[str, object, str]] = [(colour, CHANGE_LABELS[change], "dot")
                                             for change, colour in CHANGE_COLOURS.items()]
    legend += [(SITE, ("建议/规划设施", "proposed or planned site"), "dot"),
               (EXISTING, ("现有设施", "existing facility"), "dot")]
    if candidates is not None and len(candidates):
        legend.append((CANDIDATE, ("候选点（图层默认关闭）", "candidate site (layer off by default)"), "dot"))
    if streets is not None and len(streets):
        legend.append(("#bdbdbd", ("道路", "streets"), "box"))
    if communities is not None and len(communities):
        legend.append(("#444", ("社区边界", "community boundary"), "box"))
    notes = note if isinstance(note, tuple) else (note, note)
    note_pair = (f"{notes[0]} {ATTRIBUTION.replace('contributors', '贡献者')}".strip(),
                 f"{notes[1]} {ATTRIBUTION}".strip())
    m.get_root().html.add_child(Verbatim(macro("map.html", "legend", legend, title, note_pair)))
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def siting_map(outcome: SitingOutcome, *, streets: gpd.GeoDataFrame | None = None,
               communities: gpd.GeoDataFrame | None = None) -> str:
    """The proposal as a self-contained HTML map."""
    res = outcome.residences.copy()
    res["change"] = ["newly covered" if n else ("covered" if b else "not covered")
                     for b, n in zip(res["covered_before"], res["newly_covered"], strict=True)]
    name = outcome.sites["name_zh"].iloc[0] if len(outcome.sites) else outcome.query.type
    model, n = outcome.query.model.upper(), len(outcome.sites)
    title = (f"{name}选址：{model}，{n} 处", f"Siting: {model}, {n} sites")
    gap = f" (gap ≤ {outcome.result.gap:.1%})" if outcome.result.status == "time limit" else ""
    note = (f"步行距离 {outcome.distance_m:g} m · {outcome.result.status}{gap}",
            f"Walking distance {outcome.distance_m:g} m · {outcome.result.status}{gap}")
    m = difference_map(res, title=title, sites=outcome.sites, existing=outcome.existing,
                       candidates=outcome.candidates, streets=streets, communities=communities, note=note)
    return to_html(m, "inline")
