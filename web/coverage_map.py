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
from shequ.web.render import STATUS_ZH, macro
from shequ.web.render import t as both_langs

if TYPE_CHECKING:  # the result's type only: web draws, it does not compute
    from shequ.gis.coverage import CoverageResult

#: a residence's status for one type, in Okabe–Ito colours (each also has its own shape, see ``STATUSES``):
#: covered by walking, covered only in a straight line (a circle would say covered, the walk does not),
#: not covered either way. Chosen so that every pair stays apart under deuteranopia and protanopia
#: (ΔE ≥ 40 after the Machado et al. 2009 simulation; tests/test_page_coverage_map.py checks it)
COVERED, STRAIGHT_ONLY, UNCOVERED = "#0072B2", "#CC79A7", "#D55E00"
#: gap areas are black hatching inside a dashed black outline: no status colour, no fill like theirs
GAP = "#000000"
#: (status code, colour, shape, Chinese, English); the status code is the ``st`` property of a residence
STATUSES = [(1, COVERED, "circle", "步行可达（已覆盖）", "covered (walk)"),
            (2, STRAIGHT_ONLY, "diamond", "仅直线距离内", "straight line only"),
            (0, UNCOVERED, "cross", "未覆盖", "not covered")]
#: facility type colours, drawn as squares: the rest of Okabe–Ito, then Tol's muted colours; none is a
#: status colour nor a colour of the community shading
PALETTE = ["#56B4E9", "#F0E442", "#009E73", "#000000", "#882255", "#44AA99", "#DDCC77", "#AA4499", "#999933"]
STREETS = "#9e9e9e"
CIRCLES = "#332288"


def two(zh: object, en: object) -> str:
    """Both languages as HTML, for what folium puts into the page as HTML (layer names, tooltip and popup
    labels): the stylesheet shows the page's language."""
    return str(both_langs(zh, en))


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


def _status_style(status: int) -> dict:
    """A residence polygon in its status colour (the page adds a marker of the status's shape)."""
    colour = {1: COVERED, 2: STRAIGHT_ONLY}.get(status, UNCOVERED)
    return {"color": colour, "fillColor": colour, "weight": 1.5, "fillOpacity": 0.45}


def _residence_part(wide: gpd.GeoDataFrame, t: str, nearest: pd.DataFrame | None) -> gpd.GeoDataFrame:
    """One type's residences as the map draws them: name, kind, households, status (``st``), and the
    nearest facility by walking (``wf``: name, ``walk_m``, ``wl``: the straight line to it) and in a straight
    line (``lf``, ``line_m``); metres rounded, infinite as null."""
    cols = [c for c in ("id", "name", "kind", "households", "population") if c in wide]
    part = wide[[*cols, f"{t}_covered", f"{t}_line_covered", "geometry"]].rename(
        columns={f"{t}_covered": "covered", f"{t}_line_covered": "covered_straight"}).copy()
    covered, straight = part["covered"].to_numpy(dtype=bool), part["covered_straight"].to_numpy(dtype=bool)
    part["st"] = np.where(covered, 1, np.where(straight, 2, 0))

    def metres(values: object) -> pd.Series:
        v = pd.Series(np.asarray(values, dtype=float), index=part.index)
        return v.where(np.isfinite(v)).round(0)

    if nearest is not None and len(nearest):
        near = nearest[nearest["type"] == t].set_index("residence").sort_index()
        part["wf"] = near["walk_name"].to_numpy()
        part["walk_m"] = metres(near["walk_m"])
        part["wl"] = metres(near["walk_line_m"])
        part["lf"] = near["line_name"].to_numpy()
        part["line_m"] = metres(near["line_m"])
    else:
        part["walk_m"] = metres(wide[f"{t}_m"])
        part["line_m"] = metres(wide[f"{t}_line_m"])
    return part


def _status_markers(part: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """Each residence's status as its shape (circle, diamond, cross) at a point inside it: one GeoJSON
    layer per status, the icon given once."""
    group = folium.FeatureGroup(control=False)
    points = gpd.GeoDataFrame({"name": part.get("name", ""), "st": part["st"]},
                              geometry=part.geometry.representative_point().values, crs=part.crs)
    for code, colour, shape, _zh, _en in STATUSES:
        sub = points[points["st"] == code]
        if len(sub):
            icon = folium.DivIcon(html=str(macro("coverage_legend.html", "symbol", shape, colour, 14)),
                                  icon_size=(14, 14), icon_anchor=(7, 7), class_name="sq-mark")
            folium.GeoJson(_geojson(sub), marker=folium.Marker(icon=icon),
                           tooltip=folium.GeoJsonTooltip(["name"], labels=False)).add_to(group)
    return group


def _area_style(color: str):
    return lambda _feature: {"color": color, "weight": 2, "dashArray": "4 2", "fillOpacity": 0.08}


def coverage_map(result: CoverageResult, *, gaps: gpd.GeoDataFrame | None = None,
                 areas: gpd.GeoDataFrame | None = None, streets: gpd.GeoDataFrame | None = None,
                 communities: gpd.GeoDataFrame | None = None, circles: gpd.GeoDataFrame | None = None,
                 title: str | tuple[str, str] = ("社区生活圈覆盖", "Coverage"), mode: str = "network",
                 tile_layers: Sequence[folium.TileLayer] = (), overlays: Sequence[MacroElement] = (),
                 legend_extra: Sequence[tuple[str, object, str]] = (), page_title: bool = True,
                 nearest: pd.DataFrame | None = None, registry: dict | None = None,
                 shown: str | None = None, shading: object = "") -> folium.Map:
    """A self-contained map of one coverage result.

    ``mode="straight"`` colours residences by straight-line instead of walking coverage (to show how
    much a circle overstates); ``tile_layers`` are basemaps (none by default: offline); ``overlays``
    (e.g. a choropleth) are drawn above the streets and below the residences; ``legend_extra`` adds
    legend rows; ``page_title=False`` leaves the ``<title>`` to a page frame. ``nearest`` (the outcome's
    ``nearest()``) puts the nearest facility and both distances into each residence's properties;
    ``registry``, when given, is filled with the folium layers by kind and type (for the page's script);
    ``shown`` is the type whose residences and gaps are on at first (the first type by default).
    Labels are (Chinese, English) pairs: the page shows one language at a time (``t``; a layer control's
    names are HTML, so the two spans work there too).
    """
    if mode not in ("network", "straight"):
        raise ValueError(f"mode must be 'network' or 'straight', not {mode!r}")
    types = catalog.load_facility_types()
    res = result.residences.to_crs(4326)
    minx, miny, maxx, maxy = res.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=14)
    if page_title:
        m.get_root().header.add_child(Verbatim(macro("map.html", "title", " ".join(title) if isinstance(title, tuple)
                                                     else title)))
    for tiles in tile_layers:
        tiles.add_to(m)

    if streets is not None and len(streets):
        layer = folium.GeoJson(_geojson(streets[["geometry"]], simplify_m=2), name=two("道路", "Streets"),
                               interactive=False,
                               style_function=lambda _f: {"color": STREETS, "weight": 1, "opacity": 0.7})
        layer.add_to(m)
        if registry is not None:
            registry["streets"] = layer
    if communities is not None and len(communities):
        folium.GeoJson(_geojson(communities[["code", "name", "geometry"]], simplify_m=2),
                       name=two("社区", "Communities"),
                       style_function=lambda _f: {"color": "#444", "weight": 2, "fill": False, "dashArray": "4"},
                       tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=[two("社区", "community"),
                                                                                two("代码", "code")])).add_to(m)
    for layer in overlays:
        layer.add_to(m)

    wide = result.wide()
    shown = shown if shown in result.types else (result.types[0] if result.types else None)
    reg: dict = registry if registry is not None else {}
    for kind_ in ("residences", "gaps", "areas", "facilities"):
        reg.setdefault(kind_, {})
    for k, t in enumerate(result.types):
        th = result.thresholds[t]
        zh, en = types[t].name_zh, types[t].name_en
        within = f" ≤ {th.distance_m:g} m"
        part = _residence_part(wide, t, nearest)
        # gaps are drawn above the residences but never take the pointer (interactive: false): an
        # uncovered compound under a gap area stays hoverable and clickable
        fg = folium.FeatureGroup(name=two(f"居住单元：{zh}{within}", f"Residences: {en}{within}"),
                                show=t == shown)
        folium.GeoJson(
            _geojson(part),
            style_function=lambda f: _status_style(f["properties"]["st"]),
            marker=folium.CircleMarker(radius=4, fill=True),
            tooltip=folium.GeoJsonTooltip(["name", "households", "walk_m", "line_m"],
                                          aliases=[two("名称", "name"), two("户数", "households"),
                                                   two("步行距离（米）", "walk (m)"),
                                                   two("直线距离（米）", "straight line (m)")]),
        ).add_to(fg)
        if registry is None:  # a map on its own (a file): the status shapes drawn here, not by the page's script
            _status_markers(part).add_to(fg)
        fg.add_to(m)
        reg["residences"][t] = fg
        if gaps is not None and len(gaps[gaps["type"] == t]):
            g = gaps[gaps["type"] == t][["type", "residences", "households", "population", "elderly", "children",
                                          "geometry"]].copy()
            gfg = folium.FeatureGroup(name=two(f"缺口：{zh}{within}", f"Gaps: {en}{within}"), show=t == shown)
            folium.GeoJson(
                _geojson(g), interactive=False,
                style_function=lambda _f: {"color": GAP, "weight": 2, "fillColor": GAP, "fillOpacity": 0.0,
                                           "dashArray": "6 4"},
                popup=folium.GeoJsonPopup(["residences", "households", "population", "elderly", "children"],
                                          aliases=[two(*a) for a in (("居住单元", "residences"),
                                                   ("户数", "households"), ("人口", "people"), ("老人", "elderly"),
                                                   ("儿童", "children"))]),
            ).add_to(gfg)
            gfg.add_to(m)
            reg["gaps"][t] = gfg
        if areas is not None and len(areas[areas["type"] == t]):
            afg = folium.FeatureGroup(name=two(f"服务范围：{zh}{within}", f"Service areas: {en}{within}"),
                                      show=False)
            folium.GeoJson(_geojson(areas[areas["type"] == t][["facility_id", "distance_m", "geometry"]]),
                           style_function=_area_style(PALETTE[k % len(PALETTE)])).add_to(afg)
            afg.add_to(m)
            reg["areas"][t] = afg

    fac = result.facilities.to_crs(4326)
    for k, t in enumerate(result.types):
        sub = fac[fac["type"] == t]
        if not len(sub):
            continue
        ffg = folium.FeatureGroup(name=two(f"设施：{types[t].name_zh} ({len(sub)})",
                                           f"Facilities: {types[t].name_en} ({len(sub)})"))
        color = PALETTE[k % len(PALETTE)]
        # one GeoJSON layer of circle markers, not a Python loop of markers: the same map, a fraction of the page
        points = gpd.GeoDataFrame({"kind": types[t].name_zh,
                                   "name": sub["name"].astype(object).where(sub["name"].notna(), "")
                                   if "name" in sub else ""}, geometry=sub.geometry.values, crs=4326)
        # squares (a residence is a circle, a diamond or a cross), above every residence
        icon = folium.DivIcon(html=str(macro("coverage_legend.html", "symbol", "square", color, 14)),
                              icon_size=(14, 14), icon_anchor=(7, 7), class_name="sq-fac")
        folium.GeoJson(_geojson(points), marker=folium.Marker(icon=icon, z_index_offset=1000),
                       tooltip=folium.GeoJsonTooltip(["name"], aliases=[two(types[t].name_zh, types[t].name_en)])
                       ).add_to(ffg)
        ffg.add_to(m)
        reg["facilities"][t] = ffg

    if circles is not None and len(circles):
        cols = [c for c in ("code", "level", "population", "population_check", "missing_required", "missing")
                if c in circles]
        circle_words = {"code": ("代码", "code"), "level": ("层级", "level"), "population": ("人口", "population"),
                        "population_check": ("人口规模", "size"), "missing_required": ("缺少必配", "required missing"),
                        "missing": ("缺少的设施", "missing")}
        layer = folium.GeoJson(_geojson(circles[[*cols, "geometry"]]), name=two("生活圈", "Life circles"),
                       style_function=lambda _f: {"color": CIRCLES, "weight": 2, "fillOpacity": 0.0,
                                                  "dashArray": "10 3 2 3"},
                       popup=folium.GeoJsonPopup(cols, aliases=[two(*circle_words[c]) for c in cols]))
        layer.add_to(m)
        reg["circles"] = layer

    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    reg["control"] = control
    first = shown or ""
    how = (("按道路网络的步行距离；各弹窗另列直线距离。", "Walking distances on the street network; straight-line "
            "results in each popup.") if mode == "network"
           else ("社区着色按直线距离（画圆），会高估覆盖。", "Community shading by straight-line distance (a circle), "
                 "which overstates coverage."))
    status = result.thresholds[first].status if first else ""
    note = both_langs(how[0] + " " + ATTRIBUTION.replace("contributors", "贡献者")
             + (f" · 距离依据：{STATUS_ZH.get(status, status)}" if first else ""),
             f"{how[1]} {ATTRIBUTION}" + (f" · distance status: {status}" if first else ""))
    facilities = [(PALETTE[k % len(PALETTE)], types[t].name_zh, types[t].name_en) for k, t in enumerate(result.types)
                  if (fac["type"] == t).any()]
    legend = macro("coverage_legend.html", "legend", title=title, statuses=STATUSES, gap=GAP,
                   extra=list(legend_extra), facilities=facilities, streets=STREETS if streets is not None
                   and len(streets) else None, circles=CIRCLES if circles is not None and len(circles) else None,
                   areas=bool(areas is not None and len(areas)) or bool(reg.get("lazy_areas")), note=note,
                   shading=shading,
                   types=[(k, types[k].name_zh, types[k].name_en, k == shown) for k in result.types]
                   if registry is not None and len(result.types) > 1 else [])
    m.get_root().html.add_child(Verbatim(legend))
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m
