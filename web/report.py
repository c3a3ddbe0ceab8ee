"""The community scorecard as one self-contained HTML page: tables, SVG charts, district maps.

No script or font is loaded from anywhere (government intranets): charts and map thumbnails are
inline SVG drawn here, and the only script is the Chinese/English switch. Every rule shows its
source and status, and unverified or secondary values are marked so, as the data says.

The markup is in ``web/templates/``: ``report.html`` (the standalone page) and the scorecard page both
include ``report_body.html``, rendered from ``body_context``; ``svg.html`` holds the charts and maps,
whose positions and paths are computed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup

from shequ import __version__
from shequ.layers import catalog
from shequ.web.render import STATUS_COLOURS, STATUS_ZH, fragment, macro, missing, render

if TYPE_CHECKING:  # the scorecard's type only; web draws, it does not compute
    from shequ.gis.scorecard import Scorecard

__all__ = [
    "BAD",
    "GOOD",
    "MID",
    "NONE",
    "SCORE_COLOURS",
    "STATUS_COLOURS",
    "STATUS_ZH",
    "bar_chart",
    "body_context",
    "district_map",
    "scorecard_body",
    "scorecard_html",
    "status_badge",
]

GOOD, BAD, MID, NONE = "#1a9850", "#d73027", "#fdae61", "#bdbdbd"


def status_badge(status: str) -> Markup:
    """A rule's source status (verified, secondary, …) as a coloured badge; nothing when there is none."""
    return macro("macros.html", "badge", status)


# ---- SVG --------------------------------------------------------------------------------------
def bar_chart(labels: list[str], values: list[float], *, title: str, unit: str, colour: str = BAD,
              band: tuple[float, float] | None = None, width: int = 560) -> Markup:
    """Horizontal bars, one per label; an optional shaded band (a target range)."""
    if not values:
        return Markup("")
    row, left, right = 16, 140, 70
    height = row * len(values) + 34
    top = max(max(values), band[1] if band else 0) or 1
    scale = (width - left - right) / top
    bars = [{"label": label, "y": 22 + k * row, "width": max(v * scale, 0.5), "end": left + v * scale + 3,
             "value": v, "fill": colour if not band else (GOOD if band[0] <= v <= band[1] else BAD)}
            for k, (label, v) in enumerate(zip(labels, values, strict=True))]
    shaded = (left + band[0] * scale, left + band[1] * scale) if band else None
    return macro("svg.html", "bar_chart", title, unit, width, height, left, row, shaded, bars)


def _path(geom: shapely.Geometry, tx, ty) -> str:
    """SVG path data of a (multi)polygon, every ring closed."""
    out = []
    for poly in shapely.get_parts(geom):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            out.append("M" + " L".join(f"{tx(x):.1f} {ty(y):.1f}" for x, y in xy) + " Z")
    return " ".join(out)


def district_map(areas: gpd.GeoDataFrame, colours: Iterable[str], titles: Iterable[str], *, size: int = 260,
                 labels: Iterable[str] | None = None, links: Iterable[str | None] | None = None) -> Markup:
    """A small SVG map of polygons (WGS84), each filled with its colour, hover titles; optionally a
    label on each (at a point inside it) and a link (the whole shape and its label are the link)."""
    areas = areas.to_crs(4326)
    minx, miny, maxx, maxy = areas.total_bounds
    kx = np.cos(np.radians((miny + maxy) / 2))
    span = max((maxx - minx) * kx, maxy - miny) or 1e-9
    s = (size - 8) / span

    def tx(x: float) -> float:
        return 4 + (x - minx) * kx * s

    def ty(y: float) -> float:
        return 4 + (maxy - y) * s

    raw = np.asarray(areas.geometry.values)
    geoms = shapely.simplify(raw, span / size / 2)
    n = len(raw)
    inner = shapely.point_on_surface(raw)
    labels = list(labels) if labels is not None else [""] * n
    links = list(links) if links is not None else [None] * n
    # the label's size by the room a shape has on the map (its area's square root in pixels), 7–11 px
    room = np.sqrt(shapely.area(raw) * kx) * s
    fonts = np.clip(room / 6, 7, 11)
    shapes = [(_path(g, tx, ty), c, t, label, round(tx(p.x), 1), round(ty(p.y), 1), round(float(f), 1), href)
              for g, c, t, label, p, f, href in zip(geoms, colours, titles, labels, inner, fonts, links, strict=True)]
    return macro("svg.html", "district_map", 8 + (maxx - minx) * kx * s, 8 + (maxy - miny) * s, shapes)


# ---- the page ---------------------------------------------------------------------------------
def _columns(card: Scorecard) -> list[tuple[str, str, str]]:
    """The community table's columns, as far as the profile measures them: (key, Chinese, English)."""
    c = card.communities
    names = catalog.load_facility_types()
    cols = [("name", "名称", "Name"), ("code", "代码", "Code"), ("district", "区", "District"),
            ("households", "户数", "Households")]
    if "size_check" in c:
        cols.append(("size_check", "规模", "Size"))
    if "centre_required_m2" in c:
        cols += [("centre_required_m2", "应配面积 m²", "Required m²"), ("centre_m2", "现有 m²", "Present m²"),
                 ("centre_shortfall_m2", "缺口 m²", "Shortfall m²")]
    if "required_present" in c:
        cols.append(("required_present", "应配设施", "Required facilities"))
    if "staff_needed_min" in c:
        cols.append(("staff_needed_min", "应配社工", "Workers needed"))
    if "grids" in c:
        cols.append(("grids", "网格", "Grids"))
    cols += [(f"coverage_{t}", f"{names[t].name_zh}覆盖", f"{names[t].name_en} coverage") for t in card.types]
    return cols


def _profile_rules(profile) -> list[tuple[Any, object]]:
    """Each rule of the profile with its value as shown (a list of items by their names)."""
    rows = []
    for rule in profile.rules.values():
        items = isinstance(rule.value, list) and rule.value and isinstance(rule.value[0], dict)
        value = "; ".join(str(i.get("name_zh") or i.get("item_zh") or i.get("rule")) for i in rule.value) if items \
            else rule.value
        rows.append((rule, value))
    return rows


#: the district maps' classes (share of the measured rules met): ColorBrewer YlGnBu, safe for colour-blind
#: readers and in grey print (darker = more met)
SCORE_COLOURS = {"good": "#2c7fb8", "mid": "#7fcdbb", "bad": "#edf8b1"}


def _short(name: str, district: str) -> str:
    """A community's name on a small map: without its district's name in front."""
    return name[len(district):] if district and name.startswith(district) and len(name) > len(district) else name


def _districts(card: Scorecard, communities: gpd.GeoDataFrame,
               link: str | None = None) -> list[tuple[Markup, str, int]]:
    """One small map per district, each community coloured by the share of the measured rules it meets,
    labelled with its name and, with ``link`` (a format string of ``code``), linked to its page."""
    measured = [c for c in ("size_check", "centre_check", "required_present", "grid_check")
                if c in card.communities]
    if not measured or communities.empty:
        return []
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
    colours = np.where(score >= 0.75, SCORE_COLOURS["good"],
                       np.where(score >= 0.4, SCORE_COLOURS["mid"], SCORE_COLOURS["bad"]))
    geo = communities.set_index("code").loc[c.index]
    figures = []
    districts = c["district"].fillna("—")
    for d in sorted(districts.unique()):
        mask = (districts == d).to_numpy()
        codes, names = c.index[mask], c["name"][mask].astype(str)
        titles = [f"{name} ({code}): {s:.0%}" for code, name, s in zip(codes, names, score[mask], strict=True)]
        labels = [_short(name, str(d)) for name in names]
        links = [link.format(code=quote(str(code))) for code in codes] if link else None
        figures.append((district_map(geo[mask].reset_index(), colours[mask], titles, size=420, labels=labels,
                                     links=links), str(d), int(mask.sum())))
    return figures


def _charts(card: Scorecard, profile) -> list[Markup]:
    c = card.communities
    charts = []
    if "centre_shortfall_m2" in c and c["centre_shortfall_m2"].gt(0).any():
        short = c.sort_values("centre_shortfall_m2", ascending=False).head(30)
        charts.append(bar_chart(short["name"].astype(str).tolist(),
                                short["centre_shortfall_m2"].astype(float).tolist(),
                                title="综合服务设施面积缺口 Service-centre floor-area shortfall (top 30)", unit="m²"))
    size = profile.size_rule()  # its own size before an inherited one
    if size is not None:
        ordered = c.sort_values("households", ascending=False).head(40)
        charts.append(bar_chart(ordered["name"].astype(str).tolist(),
                                ordered["households"].astype(float).tolist(), band=tuple(size.value),
                                title=f"社区户数 Households per community (band: {size.value[0]:,}–{size.value[1]:,})",
                                unit=""))
    return charts


def _rules(card: Scorecard) -> list[dict]:
    """The rules table, one row per rule: the scorecard repeats a rule's row for each further target of
    it (a target over its own scope, e.g. urban 100 % and rural 80 % by 2025), which read as the same rule
    listed two or three times; here each rule is one row and its targets are listed inside it."""
    rows: dict[str, dict] = {}
    for r in card.rules.to_dict("records"):
        target = None if missing(r.get("target")) else {
            "target": r["target"], "year": r.get("target_year"), "applies_to": r.get("target_applies_to"),
            "scope_zh": r.get("target_scope_zh"), "scope": r.get("target_scope"), "share": r.get("share"),
            "meeting": r.get("meeting"), "communities": r.get("communities")}
        key = str(r["rule"])
        if key not in rows:
            rows[key] = {**r, "targets": [target] if target else []}
        elif target:
            rows[key]["targets"].append(target)
    return list(rows.values())


def body_context(card: Scorecard, profile, communities: gpd.GeoDataFrame, *,
                 notes: Iterable[str] = (), attribution: str = "", link: str | None = None) -> dict[str, Any]:
    """What ``report_body.html`` shows: the rules met, charts, district maps, every community, the profile.
    ``link``: where a community's page is (a format string of ``code``); none in the standalone report."""
    c = card.communities
    return {"profile": profile, "n_communities": len(c), "today": date.today().isoformat(), "version": __version__,
            "draft": bool((c["boundary"] == "draft").any()), "notes": list(notes),
            "rules": _rules(card), "charts": _charts(card, profile),
            "districts": _districts(card, communities, link), "colours": SCORE_COLOURS,
            "columns": _columns(card), "communities_rows": c.to_dict("records"),
            "profile_rules": _profile_rules(profile), "attribution": attribution,
            "streets": card.subdistricts.to_dict("records") if len(card.subdistricts) else [],
            "priorities": _priorities(card), "link": link}


def _priorities(card: Scorecard) -> list[tuple[str, list[dict]]]:
    """Per street, its ranked remedies (most households moved for the least m² or fewest facilities)."""
    p = card.priorities
    if p is None or not len(p):
        return []
    return [(str(street), group.to_dict("records")) for street, group in p.groupby("street", sort=True)]


def scorecard_body(card: Scorecard, profile, communities: gpd.GeoDataFrame, *,
                   notes: Iterable[str] = (), attribution: str = "") -> Markup:
    """The report's content (inside ``<main>``): shared by the written report and the scorecard page."""
    return fragment("report_body.html", **body_context(card, profile, communities, notes=notes,
                                                       attribution=attribution))


def scorecard_html(card: Scorecard, profile, communities: gpd.GeoDataFrame, *,
                   notes: Iterable[str] = (), attribution: str = "") -> str:
    """The whole report as one self-contained page (its own language switch)."""
    return render("report.html", **body_context(card, profile, communities, notes=notes, attribution=attribution))
