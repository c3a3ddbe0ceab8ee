"""The coverage map page (``/maps/coverage``): the map of a coverage outcome in the shared frame, the
form and the numbers beside it, and the service areas it loads when switched on.

Renders only: the analysis is ``shequ.usecases.coverage`` (the routes in ``shequ.api.pages`` run it).
Everything a page loads is served by the app (offline by default); a basemap is opt-in (Tianditu with
the user's key, or any XYZ template), and a GCJ-02 basemap gets the data shifted to it
(``shequ.layers.chinacrs``) so nothing is offset.

The map is folium; the panel beside it is ``web/templates/coverage_panel.html`` (the form, the numbers,
the downloads, the life-circle audit, the notes), put in the frame by ``shequ.web.pages.framed_map``.
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from shequ.errors import InvalidInput
from shequ.layers import catalog
from shequ.layers.chinacrs import transform_geometries
from shequ.web.coverage_map import PALETTE, STATUSES, _geojson, coverage_map, two
from shequ.web.offline import Verbatim, to_html
from shequ.web.pages import framed_map
from shequ.web.render import fragment, pct
from shequ.web.report import NONE

LEVELS = ("5min", "10min", "15min")
MODES = ("network", "straight")
BASEMAPS = ("none", "tianditu", "xyz")
#: the coverage modes as the form offers them: (value, Chinese, English)
MODE_LABELS = [("network", "步行网络距离", "Walking network"), ("straight", "直线距离", "Straight line")]
#: Tianditu web-Mercator tiles (CGCS2000, which matches WGS84 to well under a metre: no shift)
TIANDITU = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}_w&x={x}&y={y}&l={z}&tk={tk}"
TIANDITU_ATTRIBUTION = "天地图 Tianditu © 国家地理信息公共服务平台"
#: choropleth classes of the community coverage rate: (lower bound, colour), ColorBrewer YlGn (sequential,
#: colour-blind safe): darker is more covered; no colour of a residence status, a gap or a facility type
RATE_CLASSES = [(0.8, "#006837"), (0.6, "#31a354"), (0.4, "#78c679"), (0.2, "#c2e699"), (0.0, "#ffffcc")]


@dataclass(frozen=True)
class CoverageParams:
    """What the coverage page shows; hashable, so it keys the caches."""

    types: tuple[str, ...]
    level: str | None = None
    area: str = ""
    mode: str = "network"
    basemap: str = "none"
    tk: str = ""
    url: str = ""
    gcj02: bool = False
    scenario: str = ""  # a stored scenario's layers ("" the real ones)

    @property
    def analysis_key(self) -> tuple:
        """The part that changes the numbers (the rest only changes the drawing)."""
        return (self.types, self.level, self.area, self.scenario)

    def query(self, **change: Any) -> str:
        """This page's query string, with ``change`` applied (for links)."""
        p = dataclasses.replace(self, **change)
        items = [("types", ",".join(p.types)), ("level", p.level or ""), ("area", p.area), ("scenario", p.scenario),
                 ("mode", p.mode), ("basemap", p.basemap)]
        if p.basemap == "tianditu":
            items.append(("tk", p.tk))
        if p.basemap == "xyz":
            items += [("url", p.url), ("gcj02", "true" if p.gcj02 else "")]
        return urlencode([(k, v) for k, v in items if v])


def _flag(value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidInput(f"gcj02 must be true or false, not {value!r}",
                       zh=f"gcj02 应为 true 或 false，而不是 {value!r}")


def parse_view(mode: str | None, basemap: str | None, tk: str | None, url: str | None,
               gcj02: str | None, *, default_basemap: str = "none", default_url: str = "",
               default_tk: str = "", default_gcj02: bool = False) -> dict[str, Any]:
    """How the map is drawn (walking or straight line, basemap, GCJ-02 shift); every mistake is an
    ``InvalidInput`` that says what is accepted. The settings give the defaults."""
    mode = (mode or "network").strip()
    if mode not in MODES:
        raise InvalidInput(f"mode must be network or straight, not {mode!r}",
                           zh=f"mode 应为 network 或 straight，而不是 {mode!r}")
    basemap = (basemap or default_basemap).strip()
    if basemap not in BASEMAPS:
        raise InvalidInput(f"unknown basemap {basemap!r}: use none, tianditu or xyz",
                           zh=f"未知的底图 {basemap!r}：可选 none、tianditu、xyz")
    tk, url = (tk or default_tk).strip(), (url or default_url).strip()
    shift = _flag(gcj02) if gcj02 is not None else default_gcj02
    if basemap == "tianditu" and not re.fullmatch(r"[A-Za-z0-9]{8,64}", tk):
        raise InvalidInput("the Tianditu basemap needs your key: tk=… (from the Tianditu site)",
                           zh="天地图底图需要您的密钥 tk（天地图官网申请）")
    # braces only as Leaflet placeholders ({z}, {s}, {-y}): folium compiles each layer's script as a Jinja
    # template, so "{{", "{%" or "{#" in a tile URL would be run on the server
    if basemap == "xyz" and not (re.fullmatch(r"https?://(?:[^\s\"'<>\\{}]|\{-?\w+\})+", url)
                                 and all(k in url for k in ("{z}", "{x}")) and ("{y}" in url or "{-y}" in url)):
        raise InvalidInput("the XYZ basemap needs a tile URL template such as https://…/{z}/{x}/{y}.png",
                           zh="XYZ 底图需要瓦片地址，如 https://…/{z}/{x}/{y}.png")
    return {"mode": mode, "basemap": basemap, "tk": tk if basemap == "tianditu" else "",
            "url": url if basemap == "xyz" else "", "gcj02": shift and basemap == "xyz"}


def service_areas_geojson(areas: gpd.GeoDataFrame, params: CoverageParams, crs: object) -> dict:
    """Service areas as the page loads them: simplified, rounded, shifted when the basemap is GCJ-02."""
    areas = _lighten(areas, SIMPLIFY_M["areas"], crs)
    return _geojson(_shift(areas) if params.gcj02 else areas)


def _rate_colour(rate: object) -> str:
    if rate is None or not np.isfinite(float(rate)):
        return NONE
    return next(colour for low, colour in RATE_CLASSES if float(rate) >= low)


def _shift(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The frame moved from WGS84 to GCJ-02, to sit on a GCJ-02 basemap (vectorised, per coordinate)."""
    if gdf is None:
        return None
    gdf = gdf.to_crs(4326)
    return gdf.set_geometry(transform_geometries(gdf.geometry, "wgs84", "gcj02"))


#: display simplification, metres: enough for a street-level map, a fraction of the page's weight
SIMPLIFY_M = {"residences": 1.0, "gaps": 2.0, "areas": 5.0, "streets": 3.0, "communities": 3.0, "circles": 5.0}
#: coordinates on the page: 5 decimals of a degree is about a metre
DECIMALS = 5


def _lighten(gdf: gpd.GeoDataFrame | None, tolerance_m: float, crs: object) -> gpd.GeoDataFrame | None:
    """Simplified in metres (``crs``) and rounded, for drawing only (the numbers are computed before)."""
    if gdf is None or gdf.empty:
        return gdf
    metric = np.asarray(gdf.to_crs(crs).geometry.values)
    simple = shapely.simplify(metric, tolerance_m, preserve_topology=True)
    back = gpd.GeoSeries(simple, crs=crs).to_crs(4326).values
    rounded = shapely.transform(np.asarray(back), lambda xy: np.round(xy, DECIMALS))
    return gdf.set_geometry(gpd.GeoSeries(rounded, index=gdf.index, crs=4326))


def _streets_basemap(streets: gpd.GeoDataFrame, crs: object) -> gpd.GeoDataFrame:
    """All streets as one MultiLineString: one feature instead of thousands (a light basemap needs no rows)."""
    metric = shapely.get_parts(np.asarray(streets.to_crs(crs).geometry.values))
    lines = shapely.simplify(metric[shapely.get_type_id(metric) == 1], SIMPLIFY_M["streets"], preserve_topology=False)
    lines = gpd.GeoSeries(lines, crs=crs).to_crs(4326).values
    lines = shapely.transform(np.asarray(lines), lambda xy: np.round(xy, DECIMALS))
    return gpd.GeoDataFrame(geometry=[shapely.multilinestrings(lines)] if len(lines) else [], crs=4326)


def _tiles(params: CoverageParams) -> list[folium.TileLayer]:
    if params.basemap == "tianditu":
        common = {"attr": TIANDITU_ATTRIBUTION, "subdomains": "01234567", "max_zoom": 18}
        return [folium.TileLayer(TIANDITU.format(layer="vec", tk=params.tk, s="{s}", x="{x}", y="{y}", z="{z}"),
                                 name=two("天地图", "Tianditu"), **common),
                folium.TileLayer(TIANDITU.format(layer="cva", tk=params.tk, s="{s}", x="{x}", y="{y}", z="{z}"),
                                 name=two("天地图注记", "Tianditu labels"), overlay=True, **common)]
    if params.basemap == "xyz":
        return [folium.TileLayer(params.url, attr="basemap: " + html.escape(params.url.split("/")[2]),
                                 name=two("底图", "Basemap") + (" (GCJ-02)" if params.gcj02 else ""), max_zoom=19)]
    return []


def _choropleth(comm: gpd.GeoDataFrame, params: CoverageParams, shown: str) -> folium.GeoJson | None:
    """Communities filled by their households coverage rate for the shown type (``r_<type>`` holds every
    chosen type's rate, walking or straight line as the mode says, so the page can switch types)."""
    if comm.empty:
        return None
    types = catalog.load_facility_types()
    prefix = "rate_" if params.mode == "network" else "rate_straight_"
    shown_df = gpd.GeoDataFrame({"code": comm["code"].astype(str), "name": comm["name"].astype(str),
                                 "households": comm["households"].astype(float).fillna(0).astype(int),
                                 "rate": np.round(comm[f"{prefix}{shown}"].astype(float).to_numpy(), 4)},
                                geometry=comm.geometry.values, crs=comm.crs)
    fields = ["name", "code", "households"]
    aliases = [two("社区", "community"), two("代码", "code"), two("户数", "households")]
    for k in params.types:
        shown_df[f"r_{k}"] = np.round(comm[f"{prefix}{k}"].astype(float).to_numpy(), 4)
        col = f"c_{k}"  # walking / straight line: numbers only, the label says which is which
        shown_df[col] = [f"{pct(a)} / {pct(b)}"
                         for a, b in zip(comm[f"rate_{k}"], comm[f"rate_straight_{k}"], strict=True)]
        fields.append(col)
        aliases.append(two(f"{types[k].name_zh}（步行 / 直线）", f"{types[k].name_en} (walking / straight)"))
    how = ("步行", "walking") if params.mode == "network" else ("直线", "straight-line")
    return folium.GeoJson(
        _geojson(shown_df), name=two(f"社区覆盖率：所示类型的户数覆盖（{how[0]}）",
                                     f"Communities: household coverage of the shown type ({how[1]})"),
        style_function=lambda f: {"color": "#444", "weight": 1.5, "fillColor": _rate_colour(f["properties"]["rate"]),
                                  "fillOpacity": 0.45},
        popup=folium.GeoJsonPopup(fields, aliases=aliases), tooltip=folium.GeoJsonTooltip(["name"], labels=False))


class _Registry(MacroElement):
    """Hands the map's layers, by kind and type, to the page's script (``web/static/coverage.js``) as
    ``window.shequCoverage`` and the event ``shequ:coverage``: the type switch, the status markers, the
    popups, the view kept in the address and the recompute in place all work on these."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
          var layers = {};
          {% for key, layer in this.layers %}layers[{{ key|tojson }}] = {{ layer.get_name() }};
          {% endfor %}
          window.shequCoverage = {map: {{ this._parent.get_name() }}, layers: layers,
            control: {{ this.control.get_name() }}, config: {{ this.config|tojson }}};
          document.dispatchEvent(new CustomEvent("shequ:coverage", {detail: window.shequCoverage}));
        })();
        {% endmacro %}
    """)

    def __init__(self, layers: list[tuple[str, Any]], control: Any, config: dict) -> None:
        super().__init__()
        self._name = "Registry"
        self.layers, self.control, self.config = layers, control, config


class MapHandle(MacroElement):
    """Makes the folium map reachable by the page's own scripts as ``window.shequMap``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        window.shequMap = {{ this._parent.get_name() }};
        document.dispatchEvent(new CustomEvent("shequ:map", {detail: window.shequMap}));
        {% endmacro %}
    """)

    def __init__(self) -> None:
        super().__init__()
        self._name = "MapHandle"


def _plan_types(params: CoverageParams, counts: pd.Series) -> list[tuple[str, str, bool]]:
    """The types the planning tools offer (options): the chosen ones first, then every catalog type."""
    types = catalog.load_facility_types()
    keys = [k for k in dict.fromkeys([*params.types, *counts.index, *types]) if k in types]
    return [(k, (types[k].name_zh, types[k].name_en), i == 0) for i, k in enumerate(keys)]


class _LazyLayers(MacroElement):
    """Fills empty feature groups from a GeoJSON URL the first time they are switched on."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }};
          var lazy = [{% for group, url, colour in this.items %}
            [{{ group.get_name() }}, {{ url|tojson }}, {{ colour|tojson }}],{% endfor %}];
          lazy.forEach(function (item) {
            var group = item[0], busy = false;
            function load() {
              if (busy) { return; }
              busy = true;
              fetch(item[1]).then(function (r) {
                if (!r.ok) { throw new Error(r.status + " " + r.statusText); }
                return r.json();
              }).then(function (data) {
                L.geoJson(data, {style: function () {
                    return {color: item[2], weight: 2, dashArray: "4 2", fillOpacity: 0.08}; },
                  onEachFeature: function (f, layer) {
                    layer.bindTooltip((f.properties.name || "") + " ≤ " + f.properties.distance_m + " m");
                  }}).addTo(group);
                group.fire("sq:loaded");
              }).catch(function (e) { busy = false; console.warn("service areas: " + e); });
            }
            map.on("overlayadd", function (e) { if (e.layer === group) { load(); } });
            if (map.hasLayer(group)) { load(); }
          });
        })();
        {% endmacro %}
    """)

    def __init__(self, items: list[tuple[folium.FeatureGroup, str, str]]) -> None:
        super().__init__()
        self._name = "LazyLayers"
        self.items = items


def coverage_map_for(outcome: Any, params: CoverageParams) -> folium.Map:
    """The folium map of a coverage outcome as ``params`` draw it (mode, basemap, GCJ-02 shift)."""
    a = outcome
    crs = a.result.network.crs
    result = dataclasses.replace(a.result, residences=_lighten(a.result.residences, SIMPLIFY_M["residences"], crs))
    gaps = _lighten(a.gaps, SIMPLIFY_M["gaps"], crs)
    comm, circles = _lighten(a.communities, SIMPLIFY_M["communities"], crs), _lighten(a.circles, SIMPLIFY_M["circles"],
                                                                                       crs)
    streets = _streets_basemap(a.streets, crs)
    if params.gcj02:
        result = dataclasses.replace(result, residences=_shift(result.residences), facilities=_shift(result.facilities))
        gaps, streets, comm, circles = _shift(gaps), _shift(streets), _shift(comm), _shift(circles)
    shown = params.types[0]
    choropleth = _choropleth(comm, params, shown)
    overlays: list = [layer for layer in [choropleth] if layer is not None]
    # service areas: an empty group per type, filled from /maps/coverage/service-areas when switched on
    names, lazy = catalog.load_facility_types(), []
    registry: dict = {"lazy_areas": True, "areas": {}}
    for k, kind in enumerate(params.types):
        th = a.result.thresholds[kind]
        within = f" ≤ {th.distance_m:g} m"
        group = folium.FeatureGroup(name=two(f"服务范围：{names[kind].name_zh}{within}",
                                             f"Service areas: {names[kind].name_en}{within}"), show=False)
        overlays.append(group)
        registry["areas"][kind] = group
        # the basemap matters only for the GCJ-02 shift; a Tianditu key stays out of this URL
        query = params.query(mode="network") if params.gcj02 else params.query(mode="network", basemap="none")
        lazy.append((group, f"/maps/coverage/service-areas?{query}&type={kind}", PALETTE[k % len(PALETTE)]))
    overlays.append(_LazyLayers(lazy))
    what = ("步行", "walking") if params.mode == "network" else ("直线", "straight line")
    extra: list[tuple[str, object, str]] = [(colour, f"≥ {low:.0%}" if low else f"< {RATE_CLASSES[-2][0]:.0%}", "box")
                                            for low, colour in RATE_CLASSES]
    extra.append((NONE, ("社区内无居住单元", "none living there"), "box"))
    m = coverage_map(result, gaps=gaps, areas=None, streets=streets, communities=None, circles=circles,
                     title=("覆盖地图", "Coverage map"), mode=params.mode, tile_layers=_tiles(params),
                     overlays=overlays, legend_extra=extra, page_title=False, nearest=a.nearest(),
                     registry=registry, shown=shown,
                     shading=(f"社区户数覆盖率（{what[0]}）", f"Community: households covered ({what[1]})"))
    keyed: list[tuple[str, Any]] = []
    if registry.get("streets") is not None:
        keyed.append(("streets", registry["streets"]))
    if choropleth is not None:
        keyed.append(("communities", choropleth))
    for kind in ("residences", "gaps", "areas", "facilities"):
        keyed += [(f"{kind}:{t}", layer) for t, layer in registry[kind].items()]
    if registry.get("circles") is not None:
        keyed.append(("circles", registry["circles"]))
    config = {"types": list(params.types), "shown": shown, "mode": params.mode,
              "names": {k: [names[k].name_zh, names[k].name_en] for k in params.types},
              "colours": {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(params.types)},
              "classes": RATE_CLASSES, "none": NONE,
              "statuses": [[code, colour, shape] for code, colour, shape, _zh, _en in STATUSES],
              "distances": {k: a.result.thresholds[k].distance_m for k in params.types}}
    m.add_child(_Registry(keyed, registry["control"], config))
    return m


def _area_streets(communities: gpd.GeoDataFrame, area: str) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """The area choices after "all": each street (9-digit prefix), then its communities by name."""
    if communities.empty:
        return []
    comm = communities.assign(_code=communities["code"].astype(str)).sort_values("_code")
    streets = []
    for prefix, group in comm.groupby(comm["_code"].str[:9], sort=True):
        street = next((str(s) for s in group.get("street", pd.Series(dtype=object)).dropna()), "")
        opts: list[tuple[str, object, bool]] = [
            (prefix, (f"整个街道 {prefix} ({len(group)})", f"whole street {prefix} ({len(group)})"), area == prefix)]
        opts += [(c, f"{n} ({c})", area == c) for c, n in zip(group["_code"], group["name"].astype(str), strict=True)]
        streets.append((f"{prefix} {street}".strip(), opts))
    return streets


def _form(params: CoverageParams, communities: gpd.GeoDataFrame, counts: pd.Series) -> dict[str, Any]:
    """What the form offers: the facility types (those chosen first), levels, areas, modes, basemaps."""
    types = catalog.load_facility_types()
    listed = list(dict.fromkeys([*params.types, *counts.index]))
    # the page's language first, the other beside it: the catalog's names in both
    boxes = [(k, types[k].name_zh, types[k].name_en, int(counts.get(k, 0))) for k in listed if k in types]
    levels = catalog.load_life_circle_levels()
    level_opts: list[tuple[str, object, bool]] = [("", ("按设施类型（目录）", "per facility type (catalog)"),
                                                   params.level is None)]
    for code in LEVELS:
        lv = levels[code]
        walk = lv.walk_distance_m.value
        d = walk[-1] if isinstance(walk, (list, tuple)) else walk
        level_opts.append((code, (f"{lv.name_zh} ({d:g} m)", f"{lv.name_en} ({d:g} m)"), params.level == code))
    base_opts = [("none", ("无（以数据中的道路为底图）", "None: streets from the data"), params.basemap == "none"),
                 ("tianditu", ("天地图（需密钥 tk）", "Tianditu (needs a key, tk)"), params.basemap == "tianditu"),
                 ("xyz", ("XYZ 瓦片地址", "XYZ tile URL"), params.basemap == "xyz")]
    return {"type_boxes": boxes, "levels": level_opts, "streets": _area_streets(communities, params.area),
            "modes": MODE_LABELS, "basemaps": base_opts}


def _summary(a: Any) -> list[dict[str, Any]]:
    """Per facility type: its names, distance and the status of its source, and its summary row."""
    types = catalog.load_facility_types()
    out = []
    for row in a.summary.to_dict("records"):
        k, th = row["type"], a.result.thresholds[row["type"]]
        out.append({"type": k, "zh": types[k].name_zh, "en": types[k].name_en, "distance_m": th.distance_m,
                    "status": th.status, "source": th.source, "row": row})
    return out


def coverage_page(outcome: Any, params: CoverageParams, communities: gpd.GeoDataFrame,
                  type_counts: pd.Series, *, scenarios: list[str] = ()) -> str:
    """The whole page: the map in the shared frame, the form and the numbers on the left, and the
    planning tools (a planned facility placed by a click, suggested sites) that write scenarios."""
    a = outcome
    m = coverage_map_for(a, params)
    m.add_child(MapHandle())
    circles = None if a.circles is None or a.circles.empty else a.circles.to_dict("records")
    panel = fragment("coverage_panel.html", params=params, **_form(params, communities, type_counts),
                     area_label=a.area_label, n_residences=len(a.result.residences), n_communities=len(a.communities),
                     summary=_summary(a), query=params.query(mode="network", basemap="none"), circles=circles,
                     notes=a.notes, plan_types=_plan_types(params, type_counts),
                     scenario_opts=[("", ("现状", "Current layers"), not params.scenario)]
                     + [(n, (f"方案 {n}", f"Scenario {n}"), params.scenario == n) for n in scenarios])
    m.get_root().header.add_child(Verbatim(fragment("coverage_style.html")))
    framed_map(m, "覆盖地图 Coverage map — shequ", panel, active="/maps/coverage",
               scripts='<script src="/static/planning.js"></script><script src="/static/mapsearch.js"></script>'
                       '<script src="/static/coverage.js"></script>')
    return to_html(m, "served")
