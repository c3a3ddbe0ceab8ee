"""The coverage map page (``/maps/coverage``): the map of a coverage outcome in the shared frame, the
form and the numbers beside it, and the service areas it loads when switched on.

Renders only: the analysis is ``shequ.usecases.coverage`` (the routes in ``shequ.api.pages`` run it).
Everything a page loads is served by the app (offline by default); a basemap is opt-in (Tianditu with
the user's key, or any XYZ template), and a GCJ-02 basemap gets the data shifted to it
(``shequ.layers.chinacrs``) so nothing is offset.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable
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
from shequ.web.coverage_map import PALETTE, _geojson, coverage_map
from shequ.web.offline import to_html
from shequ.web.pages import framed_map, t
from shequ.web.report import NONE, STATUS_COLOURS, STATUS_ZH

LEVELS = ("5min", "10min", "15min")
MODES = ("network", "straight")
BASEMAPS = ("none", "tianditu", "xyz")
#: Tianditu web-Mercator tiles (CGCS2000, which matches WGS84 to well under a metre: no shift)
TIANDITU = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}_w&x={x}&y={y}&l={z}&tk={tk}"
TIANDITU_ATTRIBUTION = "天地图 Tianditu © 国家地理信息公共服务平台"
#: choropleth classes of the community coverage rate: (lower bound, colour)
RATE_CLASSES = [(0.8, "#1a9850"), (0.6, "#91cf60"), (0.4, "#fee08b"), (0.2, "#fc8d59"), (0.0, "#d73027")]


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

    @property
    def analysis_key(self) -> tuple:
        """The part that changes the numbers (the rest only changes the drawing)."""
        return (self.types, self.level, self.area)

    def query(self, **change: Any) -> str:
        """This page's query string, with ``change`` applied (for links)."""
        p = dataclasses.replace(self, **change)
        items = [("types", ",".join(p.types)), ("level", p.level or ""), ("area", p.area), ("mode", p.mode),
                 ("basemap", p.basemap)]
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
    if basemap == "xyz" and not (re.fullmatch(r"https?://[^\s\"'<>\\]+", url)
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


def _pct(value: object) -> str:
    return "—" if value is None or not np.isfinite(float(value)) else f"{float(value):.0%}"


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
                                 name="天地图 Tianditu", **common),
                folium.TileLayer(TIANDITU.format(layer="cva", tk=params.tk, s="{s}", x="{x}", y="{y}", z="{z}"),
                                 name="天地图注记 Tianditu labels", overlay=True, **common)]
    if params.basemap == "xyz":
        return [folium.TileLayer(params.url, attr="basemap: " + html.escape(params.url.split("/")[2]),
                                 name="底图 Basemap" + (" (GCJ-02)" if params.gcj02 else ""), max_zoom=19)]
    return []


def _choropleth(comm: gpd.GeoDataFrame, params: CoverageParams) -> folium.GeoJson | None:
    """Communities filled by their households coverage rate (the mean over the chosen types)."""
    if comm.empty:
        return None
    types = catalog.load_facility_types()
    prefix = "rate_" if params.mode == "network" else "rate_straight_"
    rates = comm[[f"{prefix}{k}" for k in params.types]].to_numpy(dtype=float)
    with np.errstate(all="ignore"):
        mean = np.where(np.isfinite(rates).any(axis=1), np.nanmean(np.where(np.isfinite(rates), rates, np.nan),
                                                                   axis=1), np.nan)
    shown = gpd.GeoDataFrame({"code": comm["code"].astype(str), "name": comm["name"].astype(str),
                              "households": comm["households"].astype(float).fillna(0).astype(int),
                              "rate": np.round(mean, 4)}, geometry=comm.geometry.values, crs=comm.crs)
    fields, aliases = ["name", "code", "households"], ["社区 community", "代码 code", "户数 households"]
    for k in params.types:
        col = f"{types[k].name_zh} {types[k].name_en}"
        shown[col] = [f"{_pct(a)} (直线 straight {_pct(b)})"
                      for a, b in zip(comm[f"rate_{k}"], comm[f"rate_straight_{k}"], strict=True)]
        fields.append(col)
        aliases.append(col)
    shown["mean"] = [_pct(v) for v in mean]
    fields.append("mean")
    aliases.append("平均 mean" if len(params.types) > 1 else "覆盖率 rate")
    how = "步行 walking" if params.mode == "network" else "直线 straight-line"
    return folium.GeoJson(
        _geojson(shown), name=f"社区覆盖率 Communities: household coverage ({how})",
        style_function=lambda f: {"color": "#444", "weight": 1.5, "fillColor": _rate_colour(f["properties"]["rate"]),
                                  "fillOpacity": 0.35},
        popup=folium.GeoJsonPopup(fields, aliases=aliases), tooltip=folium.GeoJsonTooltip(["name"], labels=False))


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
                L.geoJson(data, {style: function () { return {color: item[2], weight: 1, fillOpacity: 0.12}; },
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
    overlays: list = [layer for layer in [_choropleth(comm, params)] if layer is not None]
    # service areas: an empty group per type, filled from /maps/coverage/service-areas when switched on
    names, lazy = catalog.load_facility_types(), []
    for k, kind in enumerate(params.types):
        th = a.result.thresholds[kind]
        group = folium.FeatureGroup(name=f"服务范围 Service areas: {names[kind].name_zh} {names[kind].name_en} "
                                         f"≤ {th.distance_m:g} m", show=False)
        overlays.append(group)
        # the basemap matters only for the GCJ-02 shift; a Tianditu key stays out of this URL
        query = params.query(mode="network") if params.gcj02 else params.query(mode="network", basemap="none")
        lazy.append((group, f"/maps/coverage/service-areas?{query}&type={kind}", PALETTE[k % len(PALETTE)]))
    overlays.append(_LazyLayers(lazy))
    extra = [(colour, f"社区户数覆盖率 community ≥ {low:.0%}", "box") for low, colour in RATE_CLASSES]
    extra.append((NONE, "社区内无居住单元 none living there", "box"))
    return coverage_map(result, gaps=gaps, areas=None, streets=streets, communities=None, circles=circles,
                        title="覆盖地图 Coverage map", mode=params.mode, tile_layers=_tiles(params),
                        overlays=overlays, legend_extra=extra,
                        page_title=False)


def _options(items: Iterable[tuple[str, str, bool]]) -> str:
    return "".join(f'<option value="{html.escape(v)}"{" selected" if sel else ""}>{html.escape(label)}</option>'
                   for v, label, sel in items)


def _area_select(communities: gpd.GeoDataFrame, area: str) -> str:
    """All, then each street (9-digit prefix) and its communities by name."""
    out = [_options([("", "全部社区 All communities", not area)])]
    if communities.empty:
        return out[0]
    comm = communities.assign(_code=communities["code"].astype(str)).sort_values("_code")
    for prefix, group in comm.groupby(comm["_code"].str[:9], sort=True):
        street = next((str(s) for s in group.get("street", pd.Series(dtype=object)).dropna()), "")
        head = f"{prefix} {street}".strip()
        opts = [(prefix, f"整个街道 whole street {prefix} ({len(group)})", area == prefix)]
        opts += [(c, f"{n} ({c})", area == c) for c, n in zip(group["_code"], group["name"].astype(str), strict=True)]
        out.append(f'<optgroup label="{html.escape(head)}">{_options(opts)}</optgroup>')
    return "".join(out)


def _form(params: CoverageParams, communities: gpd.GeoDataFrame, counts: pd.Series) -> str:
    types = catalog.load_facility_types()
    listed = list(dict.fromkeys([*params.types, *counts.index]))
    # the page's language first, the other beside it: the catalog's names in both
    boxes = "".join(
        f'<label class="sq-check"><input type="checkbox" name="types" value="{k}"'
        f'{" checked" if k in params.types else ""}> {t(types[k].name_zh, types[k].name_en)} <span class="muted">'
        f"{t(types[k].name_en, types[k].name_zh)} ({int(counts.get(k, 0))})</span></label>"
        for k in listed if k in types)
    levels = catalog.load_life_circle_levels()
    level_opts = [("", "按设施类型 per facility type (catalog)", params.level is None)]
    for code in LEVELS:
        lv = levels[code]
        walk = lv.walk_distance_m.value
        d = walk[-1] if isinstance(walk, (list, tuple)) else walk
        level_opts.append((code, f"{lv.name_zh} {lv.name_en} ({d:g} m)", params.level == code))
    radios = "".join(
        f'<label class="sq-check"><input type="radio" name="mode" value="{v}"{" checked" if params.mode == v else ""}>'
        f" {t(zh, en)}</label>" for v, zh, en in (("network", "步行网络距离", "Walking network"),
                                                  ("straight", "直线距离", "Straight line")))
    base_opts = [("none", "无（道路为底图）None: streets from the data", params.basemap == "none"),
                 ("tianditu", "天地图 Tianditu (需密钥 key)", params.basemap == "tianditu"),
                 ("xyz", "XYZ 瓦片地址 tile URL", params.basemap == "xyz")]
    return f"""<form method="get" action="/maps/coverage" id="sq-coverage-form">
<h3>{t("设施类型", "Facility types")}</h3><div class="sq-types">{boxes}</div>
<label for="sq-level">{t("生活圈层级（距离）", "Life-circle level (distance)")}</label>
<select id="sq-level" name="level">{_options(level_opts)}</select>
<label for="sq-area">{t("区域", "Area")}</label><select id="sq-area" name="area">{_area_select(communities,
                                                                                              params.area)}</select>
<label>{t("覆盖计算方式", "Coverage by")}</label>{radios}
<details{" open" if params.basemap != "none" else ""}><summary>{t("底图", "Basemap")}</summary>
<select id="sq-basemap" name="basemap">{_options(base_opts)}</select>
<label for="sq-tk">{t("天地图密钥 tk", "Tianditu key (tk)")}</label>
<input type="text" id="sq-tk" name="tk" value="{html.escape(params.tk)}" autocomplete="off">
<label for="sq-url">{t("XYZ 瓦片地址", "XYZ tile URL")}</label>
<input type="text" id="sq-url" name="url" value="{html.escape(params.url)}" placeholder="https://…/{{z}}/{{x}}/{{y}}.png">
<label class="sq-check"><input type="checkbox" name="gcj02" value="true"{" checked" if params.gcj02 else ""}>
{t("该底图为 GCJ-02（高德、腾讯等）：数据随之偏移", "This basemap is GCJ-02 (Amap, Tencent…): shift the data to it")}
</label></details>
<button class="sq" type="submit">{t("更新地图", "Update map")}</button></form>"""


def _summary_line(row: dict, zh: str, en: str, what: str) -> str:
    """One row of a type's summary: covered / total and rate, walking and straight-line."""
    total = row.get(what, 0) or 0
    return (f"<tr><td>{t(zh, en)}</td><td class=num>{row.get(f'{what}_covered', 0):,.0f} / {total:,.0f}"
            f"<br><b>{_pct(row.get(f'{what}_rate'))}</b></td><td class=num>"
            f"{row.get(f'{what}_covered_straight', 0):,.0f}<br><b>{_pct(row.get(f'{what}_rate_straight'))}"
            "</b></td></tr>")


def _summary_html(a: Any) -> str:
    types = catalog.load_facility_types()
    blocks = []
    for row in a.summary.to_dict("records"):
        k, th = row["type"], a.result.thresholds[row["type"]]
        colour = STATUS_COLOURS.get(th.status, "#718096")
        badge = (f'<span class="sq-badge" style="background:{colour}" title="{html.escape(th.source)}">'
                 f'{t(STATUS_ZH.get(th.status, th.status), th.status)}</span>')

        n_gaps, gap_people = row["gaps"], row["gap_population"]
        gap_text = t(f"{n_gaps:,.0f} 处，{gap_people:,.0f} 人", f"{n_gaps:,.0f} areas, {gap_people:,.0f} people")
        blocks.append(
            f'<div class="sq-type" data-type="{k}"><b>{t(types[k].name_zh, types[k].name_en)}</b> '
            f"≤ {th.distance_m:g} m {badge}<table class=sq><tr><th></th><th class=num>{t('步行', 'Walking')}</th>"
            f"<th class=num>{t('直线', 'Straight line')}</th></tr>"
            f"{_summary_line(row, '户数', 'Households', 'households')}"
            f"{_summary_line(row, '人口', 'People', 'population')}"
            f"<tr><td>{t('缺口', 'Gaps')}</td><td class=num colspan=2>{gap_text}</td></tr></table></div>")
    return "".join(blocks)


def _circles_html(a: Any) -> str:
    if a.circles is None or a.circles.empty:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(r['code']))}</td><td>{html.escape(str(r['level']))}</td>"
        f"<td class=num>{r.get('population', 0):,.0f}</td><td>{html.escape(str(r.get('population_check', '')))}</td>"
        f"<td>{html.escape(str(r.get('missing', '—')))}</td></tr>" for r in a.circles.to_dict("records"))
    return (f"<h3>{t('生活圈评估', 'Life-circle audit')}</h3><table class=sq><tr><th>{t('代码', 'Code')}</th>"
            f"<th>{t('层级', 'Level')}</th><th class=num>{t('人口', 'People')}</th><th>{t('人口规模', 'Size')}</th>"
            f"<th>{t('缺少的必配设施', 'Required, missing')}</th></tr>{rows}</table>")


#: the page's own styles; the map's position must beat folium's ``#map_… {left: 0%; top: 0%}`` rule
PAGE_CSS = """<style>
.folium-map{top:48px !important;left:340px !important;right:0 !important;bottom:0 !important}
@media (max-width:900px){ .folium-map{left:280px !important}}
@media (max-width:700px){ .folium-map{top:45% !important;left:0 !important}}
#legend{left:auto !important;right:10px;bottom:22px !important;max-width:260px !important}
.sq-types{max-height:190px;overflow-y:auto;border:1px solid #ccd;border-radius:4px;background:#fff;padding:2px 6px}
.sq-panel label.sq-check{display:block;margin:2px 0;color:#222;cursor:pointer}
.sq-type{margin:8px 0 10px}.sq-type table.sq td{vertical-align:top}
.sq-badge{display:inline-block;padding:0 5px;border-radius:3px;color:#fff;font-size:11px}
.sq-panel details{margin:8px 0}.sq-panel summary{cursor:pointer;color:#2f5a82}
ul.sq-notes{padding-left:18px;margin:4px 0}ul.sq-notes li{font-size:12px;color:#555;margin:2px 0}
.leaflet-control-layers{max-height:calc(100vh - 170px);overflow-y:auto;font-size:12px}
@media (max-width:900px){ #legend{font-size:11px !important;max-width:210px !important;max-height:32vh;overflow-y:auto}
.leaflet-control-layers{max-height:38vh;font-size:11px}}
</style>"""


def downloads(params: CoverageParams) -> str:
    """Links to the numbers behind the map: per residence (GeoJSON) and per type and zone (CSV)."""
    q = html.escape(params.query(mode="network", basemap="none"))
    return (f'<p class="muted" id="sq-downloads">{t("下载数据：", "Download: ")}'
            f'<a href="/maps/coverage/residences.geojson?{q}">{t("各居住单元 GeoJSON", "residences (GeoJSON)")}</a>'
            f' · <a href="/maps/coverage/summary.csv?{q}">{t("汇总 CSV", "summary (CSV)")}</a></p>')


def coverage_page(outcome: Any, params: CoverageParams, communities: gpd.GeoDataFrame,
                  type_counts: pd.Series) -> str:
    """The whole page: the map in the shared frame, the form and the numbers on the left."""
    a = outcome
    m = coverage_map_for(a, params)
    zh, en = a.area_label
    shift_note = t("数据已由 WGS84 偏移为 GCJ-02 以对齐底图；导出的数据仍为 WGS84。",
                   "The data is shifted from WGS84 to GCJ-02 to match the basemap; exports stay WGS84.")
    shifted = f'<div class="msg warn" id="sq-shifted">{shift_note}</div>' if params.gcj02 else ""
    notes = "".join(f"<li>{t(z, e)}</li>" for z, e in a.notes)
    n_res, n_comm = len(a.result.residences), len(a.communities)
    counts = t(f"{n_res} 个居住单元，{n_comm} 个社区", f"{n_res} residences, {n_comm} communities")
    panel = (f"<h2>{t('覆盖地图', 'Coverage map')}</h2>{_form(params, communities, type_counts)}"
             f"<h3>{t('覆盖情况', 'Coverage')}: {t(zh, en)}</h3>{shifted}"
             f'<p class="muted">{counts}</p>'
             f'<div id="sq-summary">{_summary_html(a)}</div>{downloads(params)}{_circles_html(a)}'
             f'<h3>{t("说明", "Notes")}</h3><ul class="sq-notes">{notes}</ul>')
    m.get_root().header.add_child(folium.Element(PAGE_CSS))
    # folium renders the panel as a Jinja template: braces from the data or the query (a tile URL) must
    # not reach it as template syntax; as character references they read the same in the browser
    panel = panel.replace("{", "&#123;").replace("}", "&#125;")
    framed_map(m, "覆盖地图 Coverage map — shequ", panel, active="/maps/coverage")
    return to_html(m, "served")


