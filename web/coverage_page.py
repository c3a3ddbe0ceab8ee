"""The planner's pages in the app: the coverage map (``/maps/coverage``) and the scorecards
(``/reports/scorecard``, one page per community).

Why here and not in ``api``: the routes only read the store; choosing the area, running the
analyses (``shequ.gis``) for it, and drawing the page happen in this module, so they can be tested
without HTTP. Everything a page loads is served by the app (offline by default); a basemap is
opt-in (Tianditu with the user's key, or any XYZ template), and a GCJ-02 basemap gets the data
shifted to it (``shequ.layers.chinacrs``) so nothing is offset.
"""

from __future__ import annotations

import dataclasses
import html
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from shequ.gis.audit import audit
from shequ.gis.coverage import Coverage, CoverageResult, assign_zones, thresholds
from shequ.gis.isochrones import DEFAULT_BUFFER_M, service_areas
from shequ.gis.network import WalkNetwork
from shequ.gis.scorecard import Scorecard, scorecard
from shequ.gis.topology import GridRules, check_grids
from shequ.layers import catalog
from shequ.layers.chinacrs import transform_geometries
from shequ.layers.profiles import Profile
from shequ.web.coverage_map import PALETTE, _geojson, coverage_map
from shequ.web.offline import ATTRIBUTION, to_html
from shequ.web.pages import framed_map, page, t
from shequ.web.report import CSS as REPORT_CSS
from shequ.web.report import (
    GOOD,
    MID,
    NONE,
    STATUS_COLOURS,
    STATUS_ZH,
    district_map,
    scorecard_html,
    scorecard_notes,
    status_badge,
)

LEVELS = ("5min", "10min", "15min")
MODES = ("network", "straight")
BASEMAPS = ("none", "tianditu", "xyz")
#: at most this many facility types at once: each adds three layers to the page
MAX_TYPES = 8
#: Tianditu web-Mercator tiles (CGCS2000, which matches WGS84 to well under a metre: no shift)
TIANDITU = "https://t{s}.tianditu.gov.cn/DataServer?T={layer}_w&x={x}&y={y}&l={z}&tk={tk}"
TIANDITU_ATTRIBUTION = "天地图 Tianditu © 国家地理信息公共服务平台"
#: choropleth classes of the community coverage rate: (lower bound, colour)
RATE_CLASSES = [(0.8, "#1a9850"), (0.6, "#91cf60"), (0.4, "#fee08b"), (0.2, "#fc8d59"), (0.0, "#d73027")]
#: a walk of d metres never leaves the disc of radius d, so the streets and facilities within the longest
#: distance of the area (times this slack, for the degree approximation) are all an analysis needs
MARGIN_SLACK = 1.15


class PageError(ValueError):
    """A request the page cannot answer, with a bilingual message and its HTTP status."""

    def __init__(self, zh: str, en: str, status: int = 400) -> None:
        super().__init__(en)
        self.zh, self.en, self.status = zh, en, status


# ---- parameters -------------------------------------------------------------------------------
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
    raise PageError(f"gcj02 应为 true 或 false，而不是 {value!r}", f"gcj02 must be true or false, not {value!r}")


def parse_params(types: Iterable[str] | None, level: str | None, area: str | None, mode: str | None,
                 basemap: str | None, tk: str | None, url: str | None, gcj02: str | None, *,
                 present: Sequence[str], defaults: Sequence[str]) -> CoverageParams:
    """Check the query; every mistake is a ``PageError`` that says what is accepted.

    ``types`` may repeat or be comma lists, by code or by Chinese/English name (catalog lookup);
    without any, the first three of ``defaults`` present in the data (else the commonest type).
    """
    codes: list[str] = []
    for item in types or []:
        for name in (s.strip() for s in str(item).split(",")):
            if not name:
                continue
            code = catalog.lookup(name)
            if code is None:
                raise PageError(f"未知的设施类型 {name!r}", catalog.unknown_type_message(name))
            codes.append(code)
    codes = list(dict.fromkeys(codes))
    if not codes:
        codes = [c for c in defaults if c in present][:3] or list(present[:1])
    if not codes:
        raise PageError("数据中没有设施：请先导入设施图层", "there are no facilities in the data: import them first",
                        409)
    if len(codes) > MAX_TYPES:
        raise PageError(f"一次最多 {MAX_TYPES} 类设施", f"at most {MAX_TYPES} facility types at a time")
    level = (level or "").strip() or None
    if level is not None and level not in LEVELS:
        raise PageError(f"未知的生活圈层级 {level!r}：可选 {', '.join(LEVELS)}",
                        f"unknown level {level!r}: use {', '.join(LEVELS)} or leave it empty")
    mode = (mode or "network").strip()
    if mode not in MODES:
        raise PageError(f"mode 应为 network 或 straight，而不是 {mode!r}",
                        f"mode must be network or straight, not {mode!r}")
    basemap = (basemap or "none").strip()
    if basemap not in BASEMAPS:
        raise PageError(f"未知的底图 {basemap!r}：可选 none、tianditu、xyz",
                        f"unknown basemap {basemap!r}: use none, tianditu or xyz")
    tk, url = (tk or "").strip(), (url or "").strip()
    shift = _flag(gcj02)
    if basemap == "tianditu" and not re.fullmatch(r"[A-Za-z0-9]{8,64}", tk):
        raise PageError("天地图底图需要您的密钥 tk（天地图官网申请）",
                        "the Tianditu basemap needs your key: tk=… (from the Tianditu site)")
    if basemap == "xyz" and not (re.fullmatch(r"https?://[^\s\"'<>\\]+", url)
                                 and all(k in url for k in ("{z}", "{x}")) and ("{y}" in url or "{-y}" in url)):
        raise PageError("XYZ 底图需要瓦片地址，如 https://…/{z}/{x}/{y}.png",
                        "the XYZ basemap needs a tile URL template such as https://…/{z}/{x}/{y}.png")
    return CoverageParams(tuple(codes), level, (area or "").strip(), mode, basemap,
                          tk if basemap == "tianditu" else "", url if basemap == "xyz" else "",
                          shift and basemap == "xyz")


def select_area(communities: gpd.GeoDataFrame, area: str) -> gpd.GeoDataFrame:
    """The communities of ``area``: a community code, a 6- or 9-digit district/street code prefix, or all."""
    if not area:
        return communities
    codes = communities["code"].astype(str)
    if area in set(codes):
        return communities[codes == area]
    if re.fullmatch(r"\d{6}|\d{9}", area) and codes.str.startswith(area).any():
        return communities[codes.str.startswith(area)]
    raise PageError(f"未知的区域 {area!r}：请填写社区代码或 9 位街道代码前缀",
                    f"unknown area {area!r}: give a community code or a 9-digit street code prefix")


# ---- the data behind the page -----------------------------------------------------------------
@dataclass
class Layers:
    """One version of the store's layers, read once; the walking network built when first needed."""

    streets: gpd.GeoDataFrame
    residences: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    circles: gpd.GeoDataFrame

    @cached_property
    def network(self) -> WalkNetwork:
        return WalkNetwork.from_streets(self.streets)

    @cached_property
    def type_counts(self) -> pd.Series:
        """Facilities per type, commonest first."""
        if self.facilities.empty:
            return pd.Series(dtype=int)
        return self.facilities["type"].value_counts()


@dataclass
class CoverageAnalysis:
    """Everything the page draws and counts for one set of types, level and area (WGS84)."""

    params: CoverageParams
    result: CoverageResult
    gaps: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame  # those near enough to serve the area (every type)
    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame  # the area's, with rate_<type> and rate_straight_<type>
    circles: gpd.GeoDataFrame | None  # life circles with their audit, when there are any
    summary: pd.DataFrame  # one row per type, over the area
    area_label: tuple[str, str]
    estimated: bool
    findings: pd.DataFrame | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)


def _pad(bounds: np.ndarray, metres: float) -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    dlat = metres * MARGIN_SLACK / 111_000
    dlon = dlat / max(np.cos(np.radians((miny + maxy) / 2)), 0.1)
    return minx - dlon, miny - dlat, maxx + dlon, maxy + dlat


def _in_box(gdf: gpd.GeoDataFrame, box: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    if gdf.empty:
        return gdf
    hit = shapely.intersects(np.asarray(gdf.geometry.values), shapely.box(*box))
    return gdf[hit]


def analyse(layers: Layers, params: CoverageParams) -> CoverageAnalysis:
    """Walking and straight-line coverage of the area's residences, its gaps, per-community rates
    and the life-circle audit. Service areas are left to ``service_area_frame``: they are the costliest
    part and hidden until asked for. Raises ``PageError`` for an area or type the data cannot answer."""
    if layers.streets.empty or layers.residences.empty:
        raise PageError("没有道路或居住单元数据：请先导入（shequ import-osm）",
                        "the streets or residences layer is empty: import them first (shequ import-osm)", 409)
    try:
        ths = thresholds(params.types, level=params.level)
    except ValueError as exc:
        raise PageError(f"无法计算：{exc}", str(exc)) from None
    comm = select_area(layers.communities, params.area)
    residences = layers.residences.reset_index(drop=True)
    zone = assign_zones(residences, comm, "code") if len(comm) else pd.Series([None] * len(residences))
    if params.area:
        residences = residences[zone.notna().to_numpy()].reset_index(drop=True)
        zone = zone[zone.notna()].reset_index(drop=True)
        if residences.empty:
            raise PageError("该区域内没有居住单元", f"there are no residences in area {params.area}", 404)
    margin = max(th.distance_m for th in ths.values())
    box = _pad(residences.total_bounds, margin)
    # facilities further than the longest distance cannot serve anyone here; the whole-city network is
    # shared by every page, a part of it is built for one area
    facilities = _in_box(layers.facilities, box)
    network = layers.network if not params.area else WalkNetwork.from_streets(_in_box(layers.streets, box))
    result = Coverage(network, residences, facilities, ths).solve()
    gaps = result.gaps()

    summary = result.summary()
    counts = gaps.groupby("type").agg(gaps=("type", "size"), gap_population=("population", "sum"),
                                      gap_households=("households", "sum")) if len(gaps) else None
    summary = summary.set_index("type")
    for c in ("gaps", "gap_population", "gap_households"):
        summary[c] = counts[c].reindex(summary.index).fillna(0) if counts is not None else 0.0
    summary = summary.reset_index()

    comm = comm.reset_index(drop=True).copy()
    if len(comm):
        per = result.summary(zone, name="zone")
        for k in params.types:
            part = per[per["type"] == k].set_index("zone")
            comm[f"rate_{k}"] = comm["code"].map(part["households_rate"]).astype(float)
            comm[f"rate_straight_{k}"] = comm["code"].map(part["households_rate_straight"]).astype(float)
            comm[f"residences_{k}"] = comm["code"].map(part["residences"]).fillna(0).astype(int)

    circles, findings = None, None
    if len(layers.circles):
        circ = _in_box(layers.circles, tuple(residences.total_bounds)).reset_index(drop=True)
        if len(circ):
            findings, per_circle = audit(layers.network, circ, layers.residences, layers.facilities)
            missing = (findings[(findings["status"] == "missing") & (findings["required"] == "▲")]
                       .groupby(["code", "level"])["name_zh"].agg("、".join).rename("missing").reset_index()
                       if len(findings) else pd.DataFrame(columns=["code", "level", "missing"]))
            circles = circ.merge(per_circle, on=["code", "level"], how="left").merge(missing, on=["code", "level"],
                                                                                      how="left")
            circles["missing"] = circles["missing"].fillna("—")

    if not params.area:
        label = ("全部", "all communities")
    elif len(comm) == 1:
        label = (str(comm["name"].iloc[0]), f"community {comm['code'].iloc[0]}")
    else:
        label = (f"{params.area} 的 {len(comm)} 个社区", f"{len(comm)} communities under {params.area}")
    estimated = bool("estimated" in residences and residences["estimated"].fillna(False).astype(bool).any())
    notes = _notes(result, comm, estimated, len(layers.circles), circles)
    return CoverageAnalysis(params, result, gaps, facilities, _in_box(layers.streets, box), comm, circles, summary,
                            label, estimated, findings, notes)


def service_area_frame(analysis: CoverageAnalysis, kind: str) -> gpd.GeoDataFrame:
    """The walking service areas (isochrones) of one type's facilities near the area (WGS84)."""
    result = analysis.result
    network, distance = result.network, result.thresholds[kind].distance_m
    fac = analysis.facilities[analysis.facilities["type"] == kind].reset_index(drop=True)
    polys = (service_areas(network, np.asarray(fac.to_crs(network.crs).geometry.values), distance, DEFAULT_BUFFER_M)
             if len(fac) else np.empty(0, dtype=object))
    return gpd.GeoDataFrame({"facility_id": fac["id"].to_numpy() if "id" in fac else np.arange(len(fac)),
                             "name": fac["name"].astype(object).where(fac["name"].notna(), "").to_numpy()
                             if "name" in fac else "", "distance_m": distance},
                            geometry=polys, crs=network.crs).to_crs(4326)


def service_areas_geojson(analysis: CoverageAnalysis, kind: str, params: CoverageParams) -> dict:
    """The service areas as the page loads them: simplified, rounded, shifted when the basemap is GCJ-02."""
    areas = _lighten(service_area_frame(analysis, kind), SIMPLIFY_M["areas"], analysis.result.network.crs)
    return _geojson(_shift(areas) if params.gcj02 else areas)


def _notes(result: CoverageResult, comm: gpd.GeoDataFrame, estimated: bool, n_circles: int,
           circles: gpd.GeoDataFrame | None) -> list[tuple[str, str]]:
    """What the numbers rest on, said plainly: distances' sources and status, estimates, drafts."""
    types = catalog.load_facility_types()
    notes = []
    for k, th in result.thresholds.items():
        status = f"{STATUS_ZH.get(th.status, th.status)} / {th.status}"
        extra = f"; {th.note}" if th.note else ""
        notes.append((f"{types[k].name_zh} {th.distance_m:g} 米：{th.source}（{status}）",
                      f"{types[k].name_en} {th.distance_m:g} m: {th.source} ({th.status}{extra})"))
    if any(th.status != "verified" for th in result.thresholds.values()):
        notes.append(("未核实或二手来源的距离不可视为权威。",
                      "Secondary or unverified distances are not authoritative."))
    if estimated:
        notes.append(("户数与人口为按 data/osm_import.json 规则由 OSM 估算，不是普查数。",
                      "Households and population are estimates from OpenStreetMap by the rule in "
                      "data/osm_import.json, not census counts."))
    if len(comm) and "boundary" in comm and comm["boundary"].eq("draft").any():
        notes.append(("社区边界为 shequ 草拟，并非官方边界。",
                      "Community boundaries are shequ's drafts, not official ones."))
    notes.append(("缺口按步行距离划定；直线距离会高估覆盖。",
                  "Gaps are by walking distance; straight-line distance overstates coverage."))
    if len(result.islands):
        notes.append((f"路网有 {len(result.islands)} 个孤立部分，其上的距离只在该部分内计算。",
                      f"The street network has {len(result.islands)} islands; distances there stay on the island."))
    if n_circles == 0:
        notes.append(("数据中没有生活圈，未做生活圈评估。", "No life circles in the data: no life-circle audit."))
    elif circles is None:
        notes.append(("该区域内没有生活圈。", "No life circle lies in this area."))
    return notes


# ---- the coverage page ------------------------------------------------------------------------
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


def coverage_map_for(analysis: CoverageAnalysis, params: CoverageParams) -> folium.Map:
    """The folium map of an analysis as ``params`` draw it (mode, basemap, GCJ-02 shift)."""
    a = analysis
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


def _form(params: CoverageParams, layers: Layers) -> str:
    types = catalog.load_facility_types()
    counts = layers.type_counts
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
<label for="sq-area">{t("区域", "Area")}</label><select id="sq-area" name="area">{_area_select(layers.communities,
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


def _summary_html(a: CoverageAnalysis) -> str:
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


def _circles_html(a: CoverageAnalysis) -> str:
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


def coverage_page(analysis: CoverageAnalysis, params: CoverageParams, layers: Layers) -> str:
    """The whole page: the map in the shared frame, the form and the numbers on the left."""
    a = analysis
    m = coverage_map_for(a, params)
    zh, en = a.area_label
    shift_note = t("数据已由 WGS84 偏移为 GCJ-02 以对齐底图；导出的数据仍为 WGS84。",
                   "The data is shifted from WGS84 to GCJ-02 to match the basemap; exports stay WGS84.")
    shifted = f'<div class="msg warn" id="sq-shifted">{shift_note}</div>' if params.gcj02 else ""
    notes = "".join(f"<li>{t(z, e)}</li>" for z, e in a.notes)
    n_res, n_comm = len(a.result.residences), len(a.communities)
    counts = t(f"{n_res} 个居住单元，{n_comm} 个社区", f"{n_res} residences, {n_comm} communities")
    panel = (f"<h2>{t('覆盖地图', 'Coverage map')}</h2>{_form(params, layers)}"
             f"<h3>{t('覆盖情况', 'Coverage')}: {t(zh, en)}</h3>{shifted}"
             f'<p class="muted">{counts}</p>'
             f'<div id="sq-summary">{_summary_html(a)}</div>{_circles_html(a)}'
             f'<h3>{t("说明", "Notes")}</h3><ul class="sq-notes">{notes}</ul>')
    m.get_root().header.add_child(folium.Element(PAGE_CSS))
    # folium renders the panel as a Jinja template: braces from the data or the query (a tile URL) must
    # not reach it as template syntax; as character references they read the same in the browser
    panel = panel.replace("{", "&#123;").replace("}", "&#125;")
    framed_map(m, "覆盖地图 Coverage map — shequ", panel, active="/maps/coverage")
    return to_html(m, "served")


def error_page(err: PageError, *, active: str = "/maps/coverage", back: str = "/maps/coverage") -> str:
    """A plain page that says what was wrong and how to fix it."""
    heading = {404: t("未找到", "Not found"), 409: t("暂无数据", "No data yet")}.get(err.status,
                                                                              t("请求有误", "Bad request"))
    body = (f'<main class="sq-page"><h1>{heading}</h1>'
            f'<div class="msg bad" id="sq-error">{t(err.zh, err.en)}</div>'
            f'<p><a class="sq" href="{html.escape(back)}">{t("返回", "Back")}</a></p></main>')
    return page("shequ — " + err.en, body, active=active)


# ---- scorecards -------------------------------------------------------------------------------
def build_scorecard(layers: Layers, profile: Profile, coverage_types: Sequence[str]) -> Scorecard:
    """The scorecard of every community, with walking coverage of the types present (as the report)."""
    present = set(layers.type_counts.index)
    types = [k for k in coverage_types if k in present]
    coverage = None
    if types and len(layers.streets) and len(layers.residences) and len(layers.communities):
        result = Coverage(layers.network, layers.residences, layers.facilities, thresholds(types)).solve()
        coverage = result.summary(assign_zones(layers.residences, layers.communities, "code"), name="zone")
    return scorecard(layers.communities, layers.facilities, profile, grids=layers.grids, coverage=coverage)


#: the report's own language switch is replaced by the frame's: keep its body.en class in step
_LANG_SYNC = """<script>(function(){function s(){document.body.classList.toggle('en',
document.documentElement.lang==='en');}document.addEventListener('DOMContentLoaded',function(){s();
new MutationObserver(s).observe(document.documentElement,{attributes:true,attributeFilter:['lang']});});})();
</script>"""
_REPORT_FIX = ("<style>main{padding-top:60px !important}th{top:48px !important}.sq-bar{display:flex;flex-wrap:wrap;"
               "gap:8px;align-items:end;margin:8px 0}.sq-bar label{display:block;font-size:12px;color:#4a5568}"
               ".sq-bar select{padding:5px;min-width:160px}.sq-links a{display:inline-block;margin:2px 8px 2px 0}"
               "</style>")


def _profile_bar(profile: str, profiles: Sequence[str], communities: gpd.GeoDataFrame, code: str = "") -> str:
    """Choose the profile and a community: a GET form (the community select navigates by script)."""
    comm_opts = [("", "全部社区（总览）All communities (overview)", not code)]
    comm_opts += [(str(c), f"{n} ({c})", str(c) == code)
                  for c, n in zip(communities["code"], communities["name"].astype(str), strict=True)]
    return (f'<form class="sq-bar" method="get" action="/reports/scorecard" id="sq-scorecard-form">'
            f'<div><label for="sq-profile">{t("政策配置", "Policy profile")}</label>'
            f'<select id="sq-profile" name="profile" onchange="this.form.submit()">'
            f'{_options([(p, p, p == profile) for p in profiles])}</select></div>'
            f'<div><label for="sq-community">{t("社区", "Community")}</label><select id="sq-community" '
            f"onchange=\"location.href='/reports/scorecard'+(this.value?'/'+encodeURIComponent(this.value):'')"
            f"+'?profile='+encodeURIComponent(document.getElementById('sq-profile').value)\">"
            f"{_options(comm_opts)}</select></div>"
            f'<noscript><button type="submit">OK</button></noscript></form>')


def scorecard_overview_page(card: Scorecard, profile: Profile, communities: gpd.GeoDataFrame,
                            notes: Sequence[str], profiles: Sequence[str]) -> str:
    """The district overview (the written report's page, with its charts and maps) in the app's frame."""
    report = scorecard_html(card, profile, communities, notes=notes, attribution=ATTRIBUTION)
    style = re.search(r"<style>(.*?)</style>", report, re.S)
    body = re.search(r"<body>(.*)</body>", report, re.S)
    if style is None or body is None:  # the report changed shape: serve it whole rather than break it
        return report
    inner = re.sub(r'<button id="lang"[^>]*>.*?</button>', "", body.group(1), flags=re.S)
    inner = re.sub(r"<script>.*?</script>", "", inner, flags=re.S)
    links = "".join(f'<a href="/reports/scorecard/{html.escape(str(c))}?profile={profile.name}">'
                    f"{html.escape(str(n))}</a>" for c, n in zip(communities["code"], communities["name"], strict=True))
    bar = (_profile_bar(profile.name, profiles, communities)
           + f'<details class="sq-links"><summary>{t("各社区评分卡", "Each community’s scorecard")}'
             f" ({len(communities)})</summary>{links}</details>")
    inner = inner.replace("<main>", f"<main>{bar}", 1)
    return page(f"社区体检 Community scorecard — {profile.name}", inner, active="/reports/scorecard",
                extra_head=f"<style>{style.group(1)}</style>{_REPORT_FIX}", scripts=_LANG_SYNC)


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return f'<span class="small">{t("不评判", "not judged")}</span>'
    if ok:
        return f'<span class="ok">{t("达标", "meets")}</span>'
    return f'<span class="no">{t("未达标", "does not meet")}</span>'


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


def community_scorecard_page(card: Scorecard, profile: Profile, code: str, layers: Layers,
                             profiles: Sequence[str]) -> str:
    """One community against every rule of the profile: its measure, the rule's source and status,
    shortfalls, the required facilities present or missing, and its grids."""
    c = card.communities
    row = c[c["code"].astype(str) == code].iloc[0].to_dict()
    names = catalog.load_facility_types()
    rules_rows = []
    for r in card.rules.drop_duplicates("rule").to_dict("records"):
        if str(r["rule"]).startswith("target:"):
            continue
        measure, ok = _community_measure(str(r["rule"]), row, names, profile)
        value = "" if r.get("value") is None or (isinstance(r.get("value"), float) and pd.isna(r["value"])) \
            else f"{r['value']} {r.get('unit', '')}"
        label = t(str(r.get("label_zh") or r["label"]).strip(), str(r["label"]).strip())
        inherited = f' <span class="small">{t("继承 national", "from national")}</span>' if r.get("inherited") else ""
        rules_rows.append(f'<tr data-rule="{html.escape(str(r["rule"]))}"><td>{label}</td>'
                          f"<td>{html.escape(value)}</td><td>{measure}</td><td>{_verdict(ok)}</td>"
                          f"<td>{html.escape(str(r.get('source', '')))} {status_badge(str(r.get('status', '')))}"
                          f"{inherited}</td></tr>")
    rules_table = (f"<table><tr><th>{t('规则', 'Rule')}</th><th>{t('标准', 'Standard')}</th>"
                   f"<th>{t('本社区', 'This community')}</th><th>{t('结论', 'Verdict')}</th>"
                   f"<th>{t('来源与核实状态', 'Source and status')}</th></tr>{''.join(rules_rows)}</table>")

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

    geo = layers.communities[layers.communities["code"].astype(str) == code]
    grids = layers.grids[layers.grids["community_code"].astype(str) == code] if len(layers.grids) else layers.grids
    findings = pd.DataFrame()
    grid_range = profile.value("grid_households") if profile.get("grid_households") else None
    if len(grids):
        rules = GridRules(households=tuple(grid_range) if grid_range else None,
                          manager_required=bool(profile.value("grid_manager_required", False)),
                          party_branch_required=bool(profile.value("grid_party_branch_required", False)))
        findings = check_grids(grids, geo, rules, gaps=True)
    grid_rows = []
    for g in grids.to_dict("records"):
        hh = g.get("households")
        in_range = None if grid_range is None or hh is None or pd.isna(hh) else grid_range[0] <= hh <= grid_range[1]
        found = findings[findings["grid"] == g["code"]]["message"].tolist() if len(findings) else []
        grid_rows.append(f"<tr><td>{html.escape(str(g['code']))}</td><td>{html.escape(str(g.get('name') or ''))}</td>"
                         f"<td class=num>{'—' if hh is None or pd.isna(hh) else f'{int(hh):,}'}</td>"
                         f"<td>{_verdict(in_range)}</td>"
                         f"<td>{t('有', 'yes') if g.get('manager') else t('无', 'no')}</td>"
                         f"<td>{t('有', 'yes') if g.get('party_branch') else t('无', 'no')}</td>"
                         f"<td class=small>{html.escape('; '.join(found))}</td></tr>")
    gaps_found = findings[findings["check"] == "gap"]["message"].tolist() if len(findings) else []
    grid_table = (f"<table><tr><th>{t('网格', 'Grid')}</th><th>{t('名称', 'Name')}</th><th>{t('户数', 'Households')}"
                  f"</th><th>{t('户数达标', 'In range')}"
                  + (f" ({grid_range[0]:,}–{grid_range[1]:,})" if grid_range else "")
                  + f"</th><th>{t('网格员', 'Manager')}</th><th>{t('党支部', 'Party branch')}</th>"
                  f"<th>{t('拓扑问题', 'Findings')}</th></tr>{''.join(grid_rows)}</table>"
                  + ("".join(f"<p class=small>{html.escape(m)}</p>" for m in gaps_found))) if len(grids) else \
        f"<p>{t('该社区没有网格', 'No grids in this community')}</p>"

    inside = _in_box(layers.facilities, tuple(geo.total_bounds)) if len(geo) else layers.facilities.iloc[:0]
    if len(inside):
        inside = inside[shapely.within(np.asarray(inside.geometry.values), geo.geometry.iloc[0])]
    fac_rows = "".join(f"<tr><td>{html.escape(names[k].name_zh if k in names else k)}</td>"
                       f"<td>{html.escape(names[k].name_en if k in names else k)}</td><td class=num>{n}</td></tr>"
                       for k, n in inside["type"].value_counts().items()) if len(inside) else ""
    fac_table = (f"<table><tr><th>类型</th><th>Type</th><th class=num>{t('数量', 'Count')}</th></tr>{fac_rows}</table>"
                 if fac_rows else f"<p>{t('社区内没有设施记录', 'No facilities recorded inside')}</p>")

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
    coverage_rows = "".join(f"<tr><td>{t(names[k].name_zh, names[k].name_en)}</td>"
                            f"<td class=num>{_pct(row.get('coverage_' + k))}</td></tr>" for k in card.types)
    coverage_table = (f"<h2>{t('步行覆盖（户数）', 'Walking coverage (households)')}</h2><table>"
                      f"<tr><th>{t('设施', 'Facility')}</th><th class=num>{t('覆盖率', 'Rate')}</th></tr>"
                      f"{coverage_rows}</table><p class=small><a href=\"/maps/coverage?"
                      f"{urlencode({'area': code, 'types': ','.join(card.types)})}\">"
                      f"{t('在覆盖地图上查看', 'Open on the coverage map')}</a></p>") if card.types else ""
    draft_note = t("社区与网格边界为 shequ 草拟，并非官方边界。",
                   "Community and grid boundaries are shequ drafts, not official ones.")
    draft = f'<div class="banner">{draft_note}</div>' if row.get("boundary") == "draft" else ""
    notes = "".join(f'<div class="banner">{html.escape(n)}</div>' for n in scorecard_notes(card, layers.residences))
    short_html = ("<ul>" + "".join(f"<li>{s}</li>" for s in shortfalls) + "</ul>") if shortfalls else \
        f"<p class=ok>{t('未发现缺口', 'No shortfalls found')}</p>"
    body = f"""<main id="sq-community-card">{_profile_bar(profile.name, profiles, layers.communities, code)}
<p class="small"><a href="/reports/scorecard?profile={profile.name}">← {t('总览', 'Overview')}</a></p>
<h1>{html.escape(str(row['name']))} <span class="sub">{html.escape(code)}</span></h1>
<div class="sub">{html.escape(str(row.get('district') or ''))} · {row['households']:,} {t('户', 'households')} ·
{t('配置', 'profile')} <code>{html.escape(profile.name)}</code> ({html.escape(profile.title_zh)})</div>{draft}{notes}
<div class="maps"><figure>{svg}<figcaption>{t('社区与网格（绿：户数达标）', 'Community and grids (green: in range)')}
</figcaption></figure><div style="flex:1;min-width:260px"><h2>{t('缺口', 'Shortfalls')}</h2>{short_html}
{coverage_table}</div></div>
<h2>{t('逐条规则', 'Rule by rule')}</h2>{rules_table}
<h2>{t('社区内设施', 'Facilities inside')}</h2>{fac_table}
<h2>{t('网格', 'Grids')}</h2>{grid_table}
<p class="small">{html.escape(ATTRIBUTION)}</p></main>"""
    return page(f"{row['name']} — 社区体检 Community scorecard", body, active="/reports/scorecard",
                extra_head=f"<style>{REPORT_CSS}</style>{_REPORT_FIX}", scripts=_LANG_SYNC)


# ---- cache ------------------------------------------------------------------------------------
class PageCache:
    """A small LRU of computed pages and analyses, emptied when the data version changes.

    Pages take a second or two to compute on a city; switching back to one already seen should be
    instant. Computation runs outside the lock (two first requests may both compute; both results
    are equal), so a slow page never blocks a cached one.
    """

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._version: Hashable = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, version: Hashable, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if version != self._version:
                self._items.clear()
                self._version = version
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = compute()
        with self._lock:
            self.misses += 1
            if version == self._version:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value



