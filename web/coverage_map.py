"""The planner's coverage map: residences covered or not, gaps with people counts, facilities,
service areas and life circles, with a layer control and a bilingual legend. Offline by design."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement

from shequ.layers import catalog
from shequ.web.offline import ATTRIBUTION, OfflineMap, Verbatim
from shequ.web.render import macro

if TYPE_CHECKING:  # the result's type only: web draws, it does not compute
    from shequ.gis.coverage import CoverageResult

COVERED, UNCOVERED, GAP = "#1a9850", "#d73027", "#d73027"
PALETTE = ["#1f78b4", "#6a3d9a", "#ff7f00", "#b15928", "#e31a1c", "#33a02c", "#a6cee3", "#fb9a99", "#cab2d6"]


def _inert(value: object) -> object:
    """Text made safe for the page: folium puts properties into tooltips and popups as HTML, and
    renders each layer's script through Jinja a second time, so ``<`` and ``{{`` in the data must
    not reach either as markup (a zero-width space after ``{`` breaks every Jinja opener)."""
    return html.escape(value).replace("{", "{\u200b") if isinstance(value, str) else value


def _utm(gdf: gpd.GeoDataFrame) -> str:
    """The UTM zone of the frame's centre (WGS84), without pyproj's slow database search."""
    minx, miny, maxx, maxy = gdf.total_bounds
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    zone = int((lon + 180) // 6) % 60 + 1 if np.isfinite(lon) else 31
    return f"EPSG:{(32600 if not lat < 0 else 32700) + zone}"


def _geojson(gdf: gpd.GeoDataFrame, simplify_m: float | None = None, decimals: int = 6) -> dict:
    """Compact GeoJSON for the page: optional simplification (metres), rounded coordinates."""
    gdf = gdf.to_crs(4326)
    if simplify_m and len(gdf):
        metric = gdf.to_crs(_utm(gdf))
        gdf = metric.set_geometry(metric.geometry.simplify(simplify_m)).to_crs(4326)
    import shapely

    gdf = gdf.set_geometry(shapely.set_precision(gdf.geometry.values, 10**-decimals))
    props = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for c in props.columns:
        if props[c].dtype == object:
            props[c] = props[c].astype(object).where(props[c].notna(), None).map(_inert)
        elif props[c].dtype.kind == "f":
            props[c] = props[c].where(np.isfinite(props[c]))
    # Serialised in bulk (pandas and GEOS write the JSON, not a Python loop over features), and without
    # per-feature bounding boxes: Leaflet does not read them and they are a third of a small feature.
    records = json.loads(props.to_json(orient="records", force_ascii=False, date_format="iso")) if len(props.columns) \
        else [{}] * len(props)
    geoms = shapely.to_geojson(np.asarray(gdf.geometry.values))
    return {"type": "FeatureCollection", "features": [
        {"id": str(i), "type": "Feature", "properties": p, "geometry": None if g is None else json.loads(g)}
        for i, p, g in zip(gdf.index, records, geoms, strict=True)]}


def _area_style(color: str):
    return lambda _feature: {"color": color, "weight": 1, "fillOpacity": 0.12}


def coverage_map(result: CoverageResult, *, gaps: gpd.GeoDataFrame | None = None,
                 areas: gpd.GeoDataFrame | None = None, streets: gpd.GeoDataFrame | None = None,
                 communities: gpd.GeoDataFrame | None = None, circles: gpd.GeoDataFrame | None = None,
                 title: str = "社区生活圈覆盖 Coverage", mode: str = "network",
                 tile_layers: Sequence[folium.TileLayer] = (), overlays: Sequence[MacroElement] = (),
                 legend_extra: Sequence[tuple[str, str, str]] = (), page_title: bool = True) -> folium.Map:
    """A self-contained map of one coverage result.

    ``mode="straight"`` colours residences by straight-line instead of walking coverage (to show how
    much a circle overstates); ``tile_layers`` are basemaps (none by default: offline); ``overlays``
    (e.g. a choropleth) are drawn above the streets and below the residences; ``legend_extra`` adds
    legend rows; ``page_title=False`` leaves the ``<title>`` to a page frame.
    """
    if mode not in ("network", "straight"):
        raise ValueError(f"mode must be 'network' or 'straight', not {mode!r}")
    key = "covered" if mode == "network" else "covered_straight"
    types = catalog.load_facility_types()
    res = result.residences.to_crs(4326)
    minx, miny, maxx, maxy = res.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14)
    if page_title:
        m.get_root().header.add_child(Verbatim(macro("map.html", "title", title)))
    for tiles in tile_layers:
        tiles.add_to(m)

    if streets is not None and len(streets):
        folium.GeoJson(_geojson(streets[["geometry"]], simplify_m=2), name="道路 Streets",
                       style_function=lambda _f: {"color": "#9e9e9e", "weight": 1, "opacity": 0.7}).add_to(m)
    if communities is not None and len(communities):
        folium.GeoJson(_geojson(communities[["code", "name", "geometry"]], simplify_m=2), name="社区 Communities",
                       style_function=lambda _f: {"color": "#444", "weight": 2, "fill": False, "dashArray": "4"},
                       tooltip=folium.GeoJsonTooltip(["name", "code"])).add_to(m)
    for layer in overlays:
        layer.add_to(m)

    wide = result.wide()
    for k, t in enumerate(result.types):
        th = result.thresholds[t]
        label = f"{types[t].name_zh} {types[t].name_en} ≤ {th.distance_m:g} m"
        part = wide[["id", "name", "households", "population", f"{t}_m", f"{t}_covered", f"{t}_line_covered",
                     "geometry"]].rename(columns={f"{t}_m": "distance_m", f"{t}_covered": "covered",
                                                  f"{t}_line_covered": "covered_straight"})
        part["distance_m"] = part["distance_m"].where(np.isfinite(part["distance_m"].astype(float))).round(0)
        fg = folium.FeatureGroup(name=f"居住单元 Residences: {label}", show=k == 0)
        folium.GeoJson(
            _geojson(part),
            style_function=lambda f: {"color": COVERED if f["properties"][key] else UNCOVERED,
                                      "fillColor": COVERED if f["properties"][key] else UNCOVERED,
                                      "weight": 1, "fillOpacity": 0.45},
            marker=folium.CircleMarker(radius=4, fill=True),
            tooltip=folium.GeoJsonTooltip(["name", "households", "population", "distance_m", "covered",
                                           "covered_straight"],
                                          aliases=["名称 name", "户数 households", "人口 population",
                                                   "步行距离 walk (m)", "已覆盖 covered", "直线覆盖 straight-line"]),
        ).add_to(fg)
        fg.add_to(m)
        if gaps is not None and len(gaps[gaps["type"] == t]):
            g = gaps[gaps["type"] == t][["type", "residences", "households", "population", "elderly", "children",
                                          "geometry"]].copy()
            gfg = folium.FeatureGroup(name=f"缺口 Gaps: {label}", show=k == 0)
            folium.GeoJson(
                _geojson(g),
                style_function=lambda _f: {"color": GAP, "weight": 2, "fillOpacity": 0.15, "dashArray": "3"},
                popup=folium.GeoJsonPopup(["residences", "households", "population", "elderly", "children"],
                                          aliases=["居住单元 residences", "户数 households", "人口 people",
                                                   "老人 elderly", "儿童 children"]),
            ).add_to(gfg)
            gfg.add_to(m)
        if areas is not None and len(areas[areas["type"] == t]):
            afg = folium.FeatureGroup(name=f"服务范围 Service areas: {label}", show=False)
            folium.GeoJson(_geojson(areas[areas["type"] == t][["facility_id", "distance_m", "geometry"]]),
                           style_function=_area_style(PALETTE[k % len(PALETTE)])).add_to(afg)
            afg.add_to(m)

    fac = result.facilities.to_crs(4326)
    for k, t in enumerate(result.types):
        sub = fac[fac["type"] == t]
        if not len(sub):
            continue
        ffg = folium.FeatureGroup(name=f"设施 Facilities: {types[t].name_zh} {types[t].name_en} ({len(sub)})")
        color = PALETTE[k % len(PALETTE)]
        # one GeoJSON layer of circle markers, not a Python loop of markers: the same map, a fraction of the page
        points = gpd.GeoDataFrame({"kind": types[t].name_zh,
                                   "name": sub["name"].astype(object).where(sub["name"].notna(), "")
                                   if "name" in sub else ""}, geometry=sub.geometry.values, crs=4326)
        folium.GeoJson(_geojson(points), marker=folium.CircleMarker(radius=6, fill=True),
                       style_function=lambda _f, c=color: {"color": "#000", "weight": 1, "fillColor": c,
                                                           "fillOpacity": 0.9},
                       tooltip=folium.GeoJsonTooltip(["kind", "name"], labels=False)).add_to(ffg)
        ffg.add_to(m)

    if circles is not None and len(circles):
        cols = [c for c in ("code", "level", "population", "population_check", "missing_required", "missing")
                if c in circles]
        folium.GeoJson(_geojson(circles[[*cols, "geometry"]]), name="生活圈 Life circles",
                       style_function=lambda _f: {"color": "#225ea8", "weight": 2, "fillOpacity": 0.05},
                       popup=folium.GeoJsonPopup(cols)).add_to(m)

    folium.LayerControl(collapsed=False).add_to(m)
    first = result.types[0] if result.types else ""
    how = ("Walking distances on the street network; straight-line results in each tooltip. " if mode == "network"
           else "Coloured by straight-line distance (a circle), which overstates coverage; walking distances in "
                "each tooltip. ")
    note = (f"{how}{ATTRIBUTION}" + (f" · distance status: {result.thresholds[first].status}" if first else ""))
    legend = [(COVERED, "已覆盖 covered", "dot"), (UNCOVERED, "未覆盖 not covered", "dot"),
              (GAP, "缺口 gap area (people in popup)", "box"), ("#9e9e9e", "道路 streets", "box"), *legend_extra]
    m.get_root().html.add_child(Verbatim(macro("map.html", "legend", legend, title, note)))
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m
