"""The community scorecard as one self-contained HTML page: tables, SVG charts, district maps.

No script or font is loaded from anywhere (government intranets): charts and map thumbnails are
inline SVG drawn here, and the only script is the Chinese/English switch. Every rule shows its
source and status, and unverified or secondary values are marked so, as the data says.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ import __version__
from shequ.layers import catalog

if TYPE_CHECKING:  # the scorecard's type only; web draws, it does not compute
    from shequ.gis.scorecard import Scorecard

STATUS_COLOURS = {"verified": "#1a7f37", "secondary": "#b7791f", "unverified": "#c53030", "local": "#2b6cb0",
                  "derived": "#4a5568", "assumption": "#718096"}
STATUS_ZH = {"verified": "已核实", "secondary": "二手来源", "unverified": "未核实", "local": "地方标准",
             "derived": "推导", "assumption": "假定"}
GOOD, BAD, MID, NONE = "#1a9850", "#d73027", "#fdae61", "#bdbdbd"

CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei",sans-serif;margin:0;color:#1a202c;
background:#f7fafc} main{max-width:1200px;margin:auto;padding:16px}
h1{font-size:1.5em;margin:.3em 0} h2{font-size:1.15em;margin:1.4em 0 .5em;border-bottom:2px solid #cbd5e0}
.sub{color:#4a5568} .banner{background:#fff5d6;border-left:5px solid #d69e2e;padding:8px 12px;margin:8px 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.86em} th,td{border:1px solid #e2e8f0;
padding:4px 6px;text-align:left;vertical-align:top} th{background:#edf2f7;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums} .badge{display:inline-block;padding:0 5px;
border-radius:3px;color:#fff;font-size:.8em} .bar{height:10px;background:#e2e8f0;width:90px;display:inline-block}
.bar i{display:block;height:10px;background:#3182ce} .ok{color:#1a7f37;font-weight:bold}.no{color:#c53030;
font-weight:bold} .maps{display:flex;flex-wrap:wrap;gap:12px} .maps figure{margin:0;background:#fff;padding:6px;
border:1px solid #e2e8f0} figcaption{font-size:.85em;text-align:center} .legend i{display:inline-block;
width:12px;height:12px;margin:0 4px 0 10px;vertical-align:middle} button#lang{float:right;padding:4px 10px}
body.en .zh{display:none} body:not(.en) .en{display:none} .small{font-size:.8em;color:#4a5568}
@media (max-width:800px){table{font-size:.75em}}
"""

SCRIPT = """document.getElementById('lang').onclick=function(){document.body.classList.toggle('en');};"""


def _t(zh: str, en: str) -> str:
    """Both languages; CSS shows one (Chinese by default, the button switches)."""
    return f'<span class="zh">{html.escape(zh)}</span><span class="en">{html.escape(en)}</span>'


def status_badge(status: str) -> str:
    if not status:
        return ""
    colour = STATUS_COLOURS.get(status, "#718096")
    return (f'<span class="badge" style="background:{colour}" title="{html.escape(status)}">'
            f'{_t(STATUS_ZH.get(status, status), status)}</span>')


def _num(value: object, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return "—"
    try:
        if pd.isna(value):
            return "—"
    except (TypeError, ValueError):
        pass
    return f"{float(value):,.{digits}f}"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _share_bar(share: float | None) -> str:
    if share is None or pd.isna(share):
        return "—"
    return f'<span class="bar"><i style="width:{100 * share:.0f}%"></i></span> {share:.0%}'


# ---- SVG --------------------------------------------------------------------------------------
def bar_chart(labels: list[str], values: list[float], *, title: str, unit: str, colour: str = BAD,
              band: tuple[float, float] | None = None, width: int = 560) -> str:
    """Horizontal bars, one per label; an optional shaded band (a target range)."""
    if not values:
        return ""
    row, left, right = 16, 140, 70
    height = row * len(values) + 34
    top = max(max(values), band[1] if band else 0) or 1
    scale = (width - left - right) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="4" y="14" font-size="12" font-weight="bold">'
             f'{html.escape(title)}</text>']
    if band:
        x0, x1 = left + band[0] * scale, left + band[1] * scale
        parts.append(f'<rect x="{x0:.1f}" y="20" width="{x1 - x0:.1f}" height="{height - 30}" fill="#c6f6d5"/>')
    for k, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 22 + k * row
        fill = colour if not band else (GOOD if band[0] <= v <= band[1] else BAD)
        parts.append(f'<text x="{left - 4}" y="{y + 11}" font-size="10" text-anchor="end">{html.escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{max(v * scale, 0.5):.1f}" height="{row - 4}" '
                     f'fill="{fill}"/><text x="{left + v * scale + 3:.1f}" y="{y + 11}" font-size="10">'
                     f'{v:,.0f} {html.escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _path(geom: shapely.Geometry, tx, ty) -> str:
    out = []
    for poly in shapely.get_parts(geom):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            out.append("M" + " L".join(f"{tx(x):.1f} {ty(y):.1f}" for x, y in xy) + " Z")
    return " ".join(out)


def district_map(areas: gpd.GeoDataFrame, colours: Iterable[str], titles: Iterable[str], *, size: int = 260) -> str:
    """A small SVG map of polygons (WGS84), each filled with its colour, hover titles."""
    areas = areas.to_crs(4326)
    minx, miny, maxx, maxy = areas.total_bounds
    kx = np.cos(np.radians((miny + maxy) / 2))
    span = max((maxx - minx) * kx, maxy - miny) or 1e-9
    s = (size - 8) / span

    def tx(x: float) -> float:
        return 4 + (x - minx) * kx * s

    def ty(y: float) -> float:
        return 4 + (maxy - y) * s

    h = 8 + (maxy - miny) * s
    w = 8 + (maxx - minx) * kx * s
    geoms = shapely.simplify(np.asarray(areas.geometry.values), span / size / 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}">']
    for g, c, t in zip(geoms, colours, titles, strict=True):
        parts.append(f'<path d="{_path(g, tx, ty)}" fill="{c}" fill-opacity="0.8" stroke="#2d3748" '
                     f'stroke-width="0.6"><title>{html.escape(t)}</title></path>')
    parts.append("</svg>")
    return "".join(parts)


# ---- the page ---------------------------------------------------------------------------------
def _rules_table(card: Scorecard) -> str:
    rows = []
    for r in card.rules.to_dict("records"):
        meeting = "—" if r.get("meeting") is None or pd.isna(r.get("meeting")) else \
            f"{int(r['meeting'])} / {int(r['communities'])}"
        target = r.get("target")
        has_target = target is not None and not pd.isna(target)
        verdict = ""
        if has_target and r.get("share") is not None and not pd.isna(r.get("share")):
            met = r["share"] >= target
            word = _t("达到", "met") if met else _t("未达", "not met")
            verdict = f' <span class="{"ok" if met else "no"}">{word}</span>'
        target_text = (f"{target:.0%} ({int(r['target_year'])})" if has_target and not pd.isna(r.get("target_year"))
                       else (f"{target:.0%}" if has_target else ""))
        inherited = f' <span class="small">{_t("继承 national", "from national")}</span>' if r.get("inherited") else ""
        value = "" if r.get("value") is None or (isinstance(r.get("value"), float) and pd.isna(r["value"])) \
            else f"{r['value']} {r.get('unit', '')}"
        label = _t(str(r.get("label_zh") or r["label"]), str(r["label"]))
        rows.append(f"<tr><td>{label}</td><td>{html.escape(value)}</td>"
                    f"<td>{html.escape(str(r.get('source', '')))} {status_badge(str(r.get('status', '')))}"
                    f"{inherited}</td>"
                    f"<td class='num'>{meeting}</td><td>{_share_bar(r.get('share'))}</td>"
                    f"<td>{target_text}{verdict}<div class='small'>{html.escape(_text(r.get('target_applies_to')))}"
                    "</div></td></tr>")
    head = (f"<tr><th>{_t('规则', 'Rule')}</th><th>{_t('标准', 'Value')}</th>"
            f"<th>{_t('来源与核实状态', 'Source and status')}</th><th>{_t('达标社区', 'Communities meeting')}</th>"
            f"<th>{_t('比例', 'Share')}</th><th>{_t('目标', 'Target')}</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _community_table(card: Scorecard) -> str:
    c = card.communities
    names = catalog.load_facility_types()
    cols = [("code", _t("代码", "Code")), ("name", _t("名称", "Name")), ("district", _t("区", "District")),
            ("households", _t("户数", "Households"))]
    if "size_check" in c:
        cols.append(("size_check", _t("规模", "Size")))
    if "centre_required_m2" in c:
        cols += [("centre_required_m2", _t("应配面积 m²", "Required m²")), ("centre_m2", _t("现有 m²", "Present m²")),
                 ("centre_shortfall_m2", _t("缺口 m²", "Shortfall m²"))]
    if "required_present" in c:
        cols.append(("required_present", _t("应配设施", "Required facilities")))
    if "staff_needed_min" in c:
        cols.append(("staff_needed_min", _t("应配社工", "Workers needed")))
    if "grids" in c:
        cols.append(("grids", _t("网格", "Grids")))
    cols += [(f"coverage_{t}", _t(f"{names[t].name_zh}覆盖", f"{names[t].name_en} coverage")) for t in card.types]
    head = "<tr>" + "".join(f"<th>{label}</th>" for _, label in cols) + "</tr>"
    body = []
    for row in c.to_dict("records"):
        cells = []
        for key, _ in cols:
            v = row.get(key)
            if key == "size_check":
                off = row.get("size_off_by", 0)
                cls = "ok" if v == "within" else "no"
                cells.append(f"<td class='{cls}'>{_t({'within': '达标', 'below': '偏小', 'above': '偏大'}[v], v)}"
                             + (f" ({off:+,})" if off else "") + "</td>")
            elif key == "required_present":
                cells.append(f"<td>{v} / {row['required_total']}<div class='small'>"
                             f"{_t('缺：', 'missing: ') if row['required_missing'] else ''}"
                             f"{html.escape(row['required_missing'])}</div></td>")
            elif key == "staff_needed_min":
                hi = row.get("staff_needed_max", v)
                cells.append(f"<td class='num'>{v}{'–' + str(hi) if hi != v else ''}</td>")
            elif key == "grids":
                extra = []
                if "grids_in_range" in row:
                    extra.append(_t(f"{row['grids_in_range']} 个户数达标", f"{row['grids_in_range']} in range"))
                if row.get("grids_without_manager"):
                    extra.append(_t(f"{row['grids_without_manager']} 个无网格员", f"{row['grids_without_manager']} "
                                    "without manager"))
                if row.get("grid_topology_findings"):
                    extra.append(_t(f"{row['grid_topology_findings']} 处拓扑问题",
                                    f"{row['grid_topology_findings']} topology findings"))
                cells.append(f"<td class='num'>{v}<div class='small'>{'; '.join(extra)}</div></td>")
            elif key.startswith("coverage_"):
                cells.append(f"<td class='num'>{'—' if pd.isna(v) else f'{v:.0%}'}</td>")
            elif key == "centre_shortfall_m2":
                cls = "no" if v and v > 0 else "ok"
                cells.append(f"<td class='num {cls}'>{_num(v)}<div class='small'>"
                             f"{html.escape(str(row.get('centre_check', '')))}</div></td>")
            elif isinstance(v, (int, float, np.integer, np.floating)):
                cells.append(f"<td class='num'>{_num(v)}</td>")
            else:
                cells.append(f"<td>{html.escape('' if v is None or (isinstance(v, float) and pd.isna(v)) else str(v))}"
                             "</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _profile_rules(profile) -> str:
    rows = []
    for rule in profile.rules.values():
        items = isinstance(rule.value, list) and rule.value and isinstance(rule.value[0], dict)
        value = "; ".join(str(i.get("name_zh") or i.get("item_zh") or i.get("rule")) for i in rule.value) if items \
            else rule.value
        rows.append(f"<tr><td><code>{rule.key}</code></td><td>{html.escape(str(value))} {html.escape(rule.unit)}</td>"
                    f"<td>{html.escape(rule.citation)} {status_badge(rule.status)}"
                    f"{' <span class=small>(' + rule.profile + ')</span>' if rule.profile != profile.name else ''}"
                    f"</td><td>{html.escape(rule.quote or '')}<div class='small'>{html.escape(rule.note or '')}</div>"
                    "</td></tr>")
    head = (f"<tr><th>{_t('规则', 'Rule')}</th><th>{_t('数值', 'Value')}</th><th>{_t('来源', 'Source')}</th>"
            f"<th>{_t('原文', 'Quote')}</th></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _maps(card: Scorecard, communities: gpd.GeoDataFrame) -> str:
    measured = [c for c in ("size_check", "centre_check", "required_present", "grid_check")
                if c in card.communities]
    if not measured or communities.empty:
        return ""
    c = card.communities.set_index("code")
    score = pd.Series(0.0, index=c.index)
    for col in measured:
        if col == "size_check":
            score += c[col].eq("within")
        elif col == "centre_check":
            score += c[col].eq("meets")
        elif col == "required_present":
            score += c[col] / c["required_total"].clip(lower=1)
        else:
            score += c[col].eq("meets")
    score /= len(measured)
    colours = np.where(score >= 0.75, GOOD, np.where(score >= 0.4, MID, BAD))
    geo = communities.set_index("code").loc[c.index]
    figures = []
    districts = c["district"].fillna("—")
    for d in sorted(districts.unique()):
        mask = (districts == d).to_numpy()
        titles = [f"{code} {name}: {s:.0%}" for code, name, s in zip(c.index[mask], c["name"][mask], score[mask],
                                                                      strict=True)]
        figures.append(f"<figure>{district_map(geo[mask].reset_index(), colours[mask], titles)}"
                       f"<figcaption>{html.escape(str(d))} · {mask.sum()} {_t('个社区', 'communities')}"
                       "</figcaption></figure>")
    caption = _t("各社区已衡量规则的达标比例", "Share of the measured rules each community meets")
    legend = (f"<div class='legend small'>{caption}:"
              f"<i style='background:{GOOD}'></i>≥ 75 %<i style='background:{MID}'></i>40–75 %"
              f"<i style='background:{BAD}'></i>&lt; 40 %</div>")
    return legend + f"<div class='maps'>{''.join(figures)}</div>"


def scorecard_body(card: Scorecard, profile, communities: gpd.GeoDataFrame, *,
                   notes: Iterable[str] = (), attribution: str = "") -> str:
    """The report's content (inside ``<main>``): shared by the written report and the scorecard page."""
    c = card.communities
    banners = []
    if (c["boundary"] == "draft").any():
        banners.append(_t("社区与网格边界为 shequ 根据道路与居住单元草拟，并非官方边界。",
                          "Community and grid boundaries are drafts made by shequ from streets and residences, "
                          "not official boundaries."))
    banners += [html.escape(n) for n in notes]
    charts = []
    if "centre_shortfall_m2" in c and c["centre_shortfall_m2"].gt(0).any():
        short = c.sort_values("centre_shortfall_m2", ascending=False).head(30)
        charts.append(bar_chart(short["name"].astype(str).tolist(),
                                short["centre_shortfall_m2"].astype(float).tolist(),
                                title="综合服务设施面积缺口 Service-centre floor-area shortfall (top 30)", unit="m²"))
    size = profile.size_rule()
    if size is not None:
        ordered = c.sort_values("households", ascending=False).head(40)
        charts.append(bar_chart(ordered["name"].astype(str).tolist(),
                                ordered["households"].astype(float).tolist(), band=tuple(size.value),
                                title=f"社区户数 Households per community (band: {size.value[0]:,}–{size.value[1]:,})",
                                unit=""))
    today = date.today().isoformat()
    return f"""<h1>{_t('社区体检报告', 'Community scorecard')}: {html.escape(profile.title_zh)}</h1>
<div class="sub">{html.escape(profile.title_en)} · {_t('配置', 'profile')} <code>{html.escape(profile.name)}</code>
({' → '.join(profile.lineage)}) · {len(c)} {_t('个社区', 'communities')} · {today} · shequ {__version__}</div>
{''.join(f'<div class="banner">{b}</div>' for b in banners)}
<h2>{_t('规则达标情况', 'Rules: how many communities meet each')}</h2>
<p class="small">{_t('文件以社区达标比例设定目标；每条规则注明出处和核实状态（二手来源、未核实的数值不可视为权威）。',
                      'The documents set targets as shares of communities. Each rule names its source and how far '
                      'it is verified; secondary and unverified values are not authoritative.')}</p>
{_rules_table(card)}
<h2>{_t('图表', 'Charts')}</h2>{''.join(charts) or _t('无缺口', 'no shortfalls')}
<h2>{_t('各区地图', 'Districts')}</h2>{_maps(card, communities)}
<h2>{_t('各社区明细', 'Every community')}</h2>{_community_table(card)}
<h2>{_t('配置中的规则与原文', 'The profile, rule by rule, with the documents’ words')}</h2>
<p class="small">{html.escape(profile.about)}</p>{_profile_rules(profile)}
<p class="small">{html.escape(attribution)}</p>"""


def scorecard_html(card: Scorecard, profile, communities: gpd.GeoDataFrame, *,
                   notes: Iterable[str] = (), attribution: str = "") -> str:
    """The whole report as one self-contained page (its own language switch)."""
    body = scorecard_body(card, profile, communities, notes=notes, attribution=attribution)
    return f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>社区体检 Community scorecard — {html.escape(profile.name)}</title><style>{CSS}</style></head>
<body><main><button id="lang" type="button">中文 / English</button>
{body}
</main><script>{SCRIPT}</script></body></html>"""
