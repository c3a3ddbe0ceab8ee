"""The capacity-access view (``/maps/access``): places per 1 000 of the demand within a walk, per
community and residence, for one facility type. Renders only: the numbers are
``shequ.usecases.catchment``'s (2SFCA / E2SFCA on the walking network)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.layers import catalog
from shequ.web.coverage_map import _geojson, two
from shequ.web.offline import ATTRIBUTION, OfflineMap, Verbatim, to_html
from shequ.web.pages import framed_map
from shequ.web.render import fragment, macro

#: places per 1 000 (classes' lower bounds) and their colours: a sequential, colour-blind-safe ramp
#: (viridis), darker = more places; no place at all in the Okabe–Ito orange
CLASSES = [(40.0, "#440154"), (20.0, "#3b528b"), (10.0, "#21918c"), (5.0, "#5ec962"), (0.0001, "#fde725")]
NONE_COLOUR, NO_DATA = "#E69F00", "#cccccc"
METHODS = [("2sfca", ("两步移动搜索法 2SFCA", "Two-step floating catchment 2SFCA")),
           ("e2sfca", ("增强两步移动搜索法 E2SFCA (1.00/0.68/0.22)", "Enhanced two-step E2SFCA (1.00/0.68/0.22)"))]
#: the residences' and facilities' tooltip labels: (Chinese, English) per property
LABELS = {"id": ("编号", "id"), "name": ("名称", "name"), "demand": ("需求人口", "demand"),
          "access_per_1000": ("每千人容量", "places per 1 000"),
          "facilities_in_reach": ("可达设施数", "facilities in reach"),
          "zero_access": ("无可达容量", "no place in reach"), "capacity": ("容量", "capacity"),
          "capacity_basis": ("容量依据", "capacity basis"), "places_per_person": ("每人学位/床位", "places per person")}


def _colour(value: object) -> str:
    if value is None or not np.isfinite(float(value)):
        return NO_DATA
    v = float(value)
    if v <= 0:
        return NONE_COLOUR
    return next(colour for low, colour in CLASSES if v >= low)


def access_map(outcome: Any, communities: gpd.GeoDataFrame) -> folium.Map:
    res = outcome.residences.to_crs(4326)
    minx, miny, maxx, maxy = res.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14)
    per = outcome.communities.set_index(outcome.communities["code"].astype(str))
    comm = communities[communities["code"].astype(str).isin(per.index)].copy()
    if len(comm):
        comm["places_per_1000"] = comm["code"].astype(str).map(per["access_per_1000"]).astype(float).round(2)
        comm["zero_access_share"] = comm["code"].astype(str).map(per["zero_access_share"]).astype(float).round(3)
        comm["demand"] = comm["code"].astype(str).map(per["demand"]).astype(float)
        shown = comm[["code", "name", "demand", "places_per_1000", "zero_access_share", "geometry"]]
        folium.GeoJson(_geojson(shown), name=two("社区：每千人可达容量", "Communities: places per 1 000"),
                       style_function=lambda f: {"color": "#444", "weight": 1.2, "fillOpacity": 0.45,
                                                 "fillColor": _colour(f["properties"]["places_per_1000"])},
                       tooltip=folium.GeoJsonTooltip(
                           ["name", "demand", "places_per_1000", "zero_access_share"],
                           aliases=[two("社区", "community"), two("需求人口", "demand"), two("每千人容量", "per 1 000"),
                                    two("无可达容量占比", "share with none")])).add_to(m)
    cols = ["id", "name", "demand", "access_per_1000", "facilities_in_reach", "zero_access"]
    part = res[[c for c in cols if c in res] + ["geometry"]].copy()
    part["access_per_1000"] = part["access_per_1000"].astype(float).round(2)
    folium.GeoJson(_geojson(part), name=two("居住单元", "Residences"), show=False,
                   marker=folium.CircleMarker(radius=4, fill=True),
                   style_function=lambda f: {"color": "#333", "weight": 0.5, "fillOpacity": 0.8,
                                             "fillColor": _colour(f["properties"]["access_per_1000"])},
                   tooltip=folium.GeoJsonTooltip([c for c in cols if c in part],
                                                 aliases=[two(*LABELS[c]) for c in cols if c in part])).add_to(m)
    fac = outcome.facilities.to_crs(4326)
    if len(fac):
        keep = [c for c in ("id", "name", "capacity", "capacity_basis", "places_per_person") if c in fac]
        folium.GeoJson(_geojson(fac[[*keep, "geometry"]]), name=two(f"设施 ({len(fac)})", f"Facilities ({len(fac)})"),
                       marker=folium.CircleMarker(radius=6, fill=True),
                       style_function=lambda _f: {"color": "#fff", "weight": 2, "fillColor": "#000", "fillOpacity": 1},
                       tooltip=folium.GeoJsonTooltip(keep, aliases=[two(*LABELS[c]) for c in keep])).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    legend: list[tuple[str, object, str]] = [(colour, (f"每千人 ≥ {low:g} 个", f"≥ {low:g} places per 1 000"), "box")
                                             for low, colour in CLASSES[:-1]]
    legend += [(CLASSES[-1][1], ("每千人 > 0 个", "some places"), "box"),
               (NONE_COLOUR, ("步行范围内没有容量", "no place within reach"), "box"),
               (NO_DATA, ("无需求人口", "no demand"), "box"), ("#000", ("设施", "facility"), "dot")]
    how = f"{outcome.query.method.upper()} · {outcome.distance_m:g} m · "
    note = (how + ATTRIBUTION.replace("contributors", "贡献者"), how + ATTRIBUTION)
    m.get_root().html.add_child(Verbatim(macro("map.html", "legend", legend, ("容量可达性", "Capacity access"), note)))
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def access_page(outcome: Any, communities: gpd.GeoDataFrame, type_counts: pd.Series, scenarios: list[str]) -> str:
    q = outcome.query
    types = catalog.load_facility_types()
    keys = [k for k in dict.fromkeys([q.type, *type_counts.index]) if k in types]
    type_opts = [(k, (types[k].name_zh, types[k].name_en), k == q.type) for k in keys]
    method_opts = [(k, label, k == q.method) for k, label in METHODS]
    scenario_opts: list[tuple[str, object, bool]] = [("", ("现状", "Current layers"), not q.scenario)]
    scenario_opts += [(n, (f"方案 {n}", f"Scenario {n}"), q.scenario == n) for n in scenarios]
    summary = outcome.summary
    top = outcome.communities.sort_values("access_per_1000").head(15).to_dict("records")
    coverage_link = "/maps/coverage?" + urlencode({"types": q.type, **({"scenario": q.scenario} if q.scenario else {})})
    panel = fragment("access_panel.html", q=q, type_opts=type_opts, method_opts=method_opts,
                     scenario_opts=scenario_opts, summary=summary.to_dict("records"), top=top, notes=outcome.notes,
                     name=types[q.type], distance=outcome.distance_m, coverage_link=coverage_link,
                     area_label=outcome.area_label)
    m = access_map(outcome, communities)
    m.get_root().header.add_child(Verbatim(fragment("coverage_style.html")))
    framed_map(m, "容量可达性 Capacity access — shequ", panel, active="/maps/coverage",
               scripts='<script src="/static/mapsearch.js"></script>')
    return to_html(m, "served")
