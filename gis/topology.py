"""Grid topology: every grid inside exactly one community, no overlaps, no gaps, rules of the profile.

National practice for social-governance grids is "全面覆盖，不留空白，不交叉重叠" (cover everything,
no gaps, no overlaps) and every grid belongs to one community (DB6101/T 3185-2024 §5.2 b)); city
documents add one grid manager (邢台 二(四)) or one party branch per grid (诸暨 二(一)3) and a size
(300–500 households, common practice). ``check_grids`` reports each finding with the offending
geometry, so a page can draw it and a planner can fix it; used by ``shequ check grids`` and by every
edit through the API.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.gis.crs import metric_crs

#: areas below this (m²) are slivers of digitising, not overlaps or gaps
AREA_TOLERANCE_M2 = 1.0

CHECKS = {
    "invalid_geometry": "geometry is not valid",
    "unknown_community": "its community does not exist",
    "outside_community": "part of the grid lies outside its community",
    "overlap": "two grids overlap",
    "gap": "part of a community is in no grid",
    "households_below": "fewer households than the range",
    "households_above": "more households than the range",
    "no_manager": "no grid manager",
    "no_party_branch": "no party branch or group",
}


#: a piece narrower than this everywhere (metres) is not a gap or an overlap: an edge straight in the
#: stored longitude/latitude bows by millimetres in a metric projection, so grids sharing half of a
#: community's 600 m edge show a metre² sliver a few millimetres wide that nobody drew
SLIVER_WIDTH_M = 0.1


def _real(pieces: np.ndarray, min_area: float) -> np.ndarray:
    """Which pieces (metric) are real findings: larger than ``min_area`` and wider than a sliver."""
    big = shapely.area(pieces) > min_area
    out = np.zeros(len(pieces), dtype=bool)
    if big.any():
        out[big] = ~shapely.is_empty(shapely.buffer(pieces[big], -SLIVER_WIDTH_M / 2))
    return out


@dataclass(frozen=True)
class GridRules:
    """What the grids are checked against (from a profile: grid_households, grid_manager_required …)."""

    households: tuple[float, float] | None = None
    manager_required: bool = False
    party_branch_required: bool = False
    area_tolerance_m2: float = AREA_TOLERANCE_M2


def check_grids(grids: gpd.GeoDataFrame, communities: gpd.GeoDataFrame, rules: GridRules = GridRules(),
                *, gaps: bool = True) -> gpd.GeoDataFrame:
    """Findings, one row each: check, grid, other (grid or community), value, message, message_zh (the
    same in Chinese, for the pages), geometry (WGS84).

    ``gaps`` looks for uncovered land in every community that has grids; an edit of one grid passes
    only the communities concerned.
    """
    crs = metric_crs(grids if len(grids) else communities)
    g = grids.to_crs(crs).reset_index(drop=True)
    c = communities.to_crs(crs).reset_index(drop=True)
    tol = rules.area_tolerance_m2
    rows: list[dict] = []

    def add(check: str, grid: object, other: object, value: float | None, message: str,
            geometry: shapely.Geometry | None, zh: str) -> None:
        rows.append({"check": check, "grid": grid, "other": other, "value": value, "message": message,
                     "message_zh": zh, "geometry": geometry})

    geoms = np.asarray(g.geometry.values)
    valid = shapely.is_valid(geoms)
    for i in np.flatnonzero(~valid):
        add("invalid_geometry", g.at[i, "code"], None, None,
            f"grid {g.at[i, 'code']}: {shapely.is_valid_reason(geoms[i])}", geoms[i],
            f"网格 {g.at[i, 'code']} 的图形无效（如边界自相交）：{shapely.is_valid_reason(geoms[i])}")
    fixed = np.where(valid, geoms, shapely.make_valid(geoms))

    # inside its own community
    comm_index = {code: k for k, code in enumerate(c["code"])}
    own = g["community_code"].map(comm_index)
    for i in np.flatnonzero(own.isna().to_numpy()):
        add("unknown_community", g.at[i, "code"], g.at[i, "community_code"], None,
            f"grid {g.at[i, 'code']}: community {g.at[i, 'community_code']!r} does not exist", fixed[i],
            f"网格 {g.at[i, 'code']}：社区 {g.at[i, 'community_code']!r} 不存在")
    known = np.flatnonzero(own.notna().to_numpy())
    if len(known):
        outside = shapely.difference(fixed[known], np.asarray(c.geometry.values)[own.to_numpy()[known].astype(int)])
        area = shapely.area(outside)
        for k in np.flatnonzero(_real(outside, tol)):
            i = known[k]
            add("outside_community", g.at[i, "code"], g.at[i, "community_code"], float(area[k]),
                f"grid {g.at[i, 'code']}: {area[k]:,.0f} m² lie outside its community "
                f"{g.at[i, 'community_code']}", outside[k],
                f"网格 {g.at[i, 'code']} 有 {area[k]:,.0f} 平方米超出所属社区 {g.at[i, 'community_code']}")

    # overlaps between grids
    a, b = shapely.STRtree(fixed).query(fixed, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a):
        inter = shapely.intersection(fixed[a], fixed[b])
        area = shapely.area(inter)
        for k in np.flatnonzero(_real(inter, tol)):
            add("overlap", g.at[a[k], "code"], g.at[b[k], "code"], float(area[k]),
                f"grids {g.at[a[k], 'code']} and {g.at[b[k], 'code']} overlap by {area[k]:,.0f} m²", inter[k],
                f"网格 {g.at[a[k], 'code']} 与 {g.at[b[k], 'code']} 重叠 {area[k]:,.0f} 平方米")

    # gaps: land of a community that no grid of it covers
    if gaps and len(g):
        for code, community in zip(c["code"], c.geometry, strict=True):
            mine = fixed[(g["community_code"] == code).to_numpy()]
            if not len(mine):
                continue
            hole = shapely.difference(community, shapely.union_all(mine))
            parts = shapely.get_parts(hole)
            for part in parts[_real(parts, tol)]:
                add("gap", None, code, float(part.area),
                    f"community {code}: {part.area:,.0f} m² belong to no grid", part,
                    f"社区 {code} 有 {part.area:,.0f} 平方米不属于任何网格（空隙）")

    # rules of the profile
    if rules.households is not None and "households" in g:
        lo, hi = rules.households
        hh = pd.to_numeric(g["households"], errors="coerce")
        # a drafted grid knows why it is outside the range (``reason``, from shequ draft): say it
        why = g["reason"].fillna("").astype(str) if "reason" in g else pd.Series("", index=g.index)
        for check, mask, word, word_zh, bound in (("households_below", hh < lo, "fewer", "少于", lo),
                                                  ("households_above", hh > hi, "more", "多于", hi)):
            for i in np.flatnonzero(mask.to_numpy()):
                add(check, g.at[i, "code"], None, float(hh.iloc[i]),
                    f"grid {g.at[i, 'code']}: {hh.iloc[i]:,.0f} households, {word} than {bound:,.0f}"
                    + (f" (draft: {why.iloc[i]})" if why.iloc[i] else ""), fixed[i],
                    f"网格 {g.at[i, 'code']}：{hh.iloc[i]:,.0f} 户，{word_zh} {bound:,.0f} 户"
                    + (f"（草案：{why.iloc[i]}）" if why.iloc[i] else ""))
    for flag, column, check, what, what_zh in ((rules.manager_required, "manager", "no_manager", "grid manager",
                                                "网格员"),
                                               (rules.party_branch_required, "party_branch", "no_party_branch",
                                                "party branch or group", "党支部（党小组）")):
        if not flag:
            continue
        missing = g[column].isna() | (g[column].astype(str).str.strip() == "") if column in g else \
            pd.Series(True, index=g.index)
        for i in np.flatnonzero(missing.to_numpy()):
            add(check, g.at[i, "code"], None, None, f"grid {g.at[i, 'code']}: no {what}", fixed[i],
                f"网格 {g.at[i, 'code']}：没有{what_zh}")

    out = gpd.GeoDataFrame(rows, columns=["check", "grid", "other", "value", "message", "message_zh", "geometry"],
                           geometry="geometry", crs=crs)
    return out.to_crs(4326)


def rules_from_profile(profile) -> GridRules:
    """The grid rules a profile states (range, manager, party branch)."""
    rng = profile.value("grid_households")
    return GridRules(households=tuple(rng) if rng else None,
                     manager_required=bool(profile.value("grid_manager_required", False)),
                     party_branch_required=bool(profile.value("grid_party_branch_required", False)))


def repair_grid(geom: shapely.Geometry, neighbours: np.ndarray, community: shapely.Geometry,
                tolerance_m: float = 0.5) -> tuple[shapely.Geometry, list[str]]:
    """An edited grid (WGS84) made valid, snapped to its neighbours, kept inside its community and off
    its neighbours; and what was changed, in words (``?fix=true`` on an edit)."""
    crs = metric_crs(gpd.GeoSeries([community], crs=4326))
    to_m = gpd.GeoSeries([geom, community, *neighbours], crs=4326).to_crs(crs)
    g, comm, others = to_m.iloc[0], to_m.iloc[1], np.asarray(to_m.iloc[2:].values)
    notes: list[str] = []
    if not shapely.is_valid(g):
        g = shapely.make_valid(g, method="structure", keep_collapsed=False)
        notes.append(f"made the geometry valid ({shapely.is_valid_reason(to_m.iloc[0])})")
    reference = shapely.union_all(np.r_[others, [shapely.boundary(comm)]]) if len(others) else shapely.boundary(comm)
    snapped = shapely.snap(g, reference, tolerance_m)
    moved = shapely.hausdorff_distance(snapped, g)
    if moved > 1e-3:  # below a millimetre is the projection's rounding, not a snap
        notes.append(f"snapped vertices to the neighbouring boundaries within {tolerance_m:g} m")
        g = shapely.make_valid(snapped) if not shapely.is_valid(snapped) else snapped
    # a sliver (the projection's bow between chords) is not outside: the checks ignore it too, and
    # clipping it would add vertices a user never drew
    spill = shapely.difference(g, comm)
    outside = shapely.area(spill)
    if _real(np.array([spill]), AREA_TOLERANCE_M2)[0]:
        g = shapely.intersection(g, comm)
        notes.append(f"removed {outside:,.1f} m² outside the community")
    if len(others):
        hits = shapely.intersection(g, others)
        areas = shapely.area(hits)
        over = _real(hits, AREA_TOLERANCE_M2)
        if over.any():
            g = shapely.difference(g, shapely.union_all(others[over]))
            notes.append(f"removed {areas[over].sum():,.1f} m² overlapping {int(over.sum())} neighbouring grid(s)")
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [3])]
    if len(parts) > 1:
        keep = parts[np.argmax(shapely.area(parts))]
        notes.append(f"dropped {len(parts) - 1} piece(s) of {shapely.area(parts).sum() - keep.area:,.1f} m² cut off "
                     "from the grid")
        g = keep
    elif len(parts) == 1:
        g = parts[0]
    if not notes:
        return geom, []
    return gpd.GeoSeries([g], crs=crs).to_crs(4326).iloc[0], notes
