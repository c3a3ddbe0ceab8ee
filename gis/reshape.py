"""Grids that tile a community, edited as one: a boundary moved once reshapes every grid it touches;
the community's gaps and overlaps found and ranked by the grids around them; a gap handed to a grid.

Precision. The overlays run in the stored coordinates (WGS84 longitude/latitude), never on a
reprojected copy: a vertex no edit touches stays bit for bit what it was, so the edges the grids
share stay shared and no sliver appears where nothing moved. Areas and lengths are measured in the
data's metric CRS. A drawn boundary is first snapped to the vertices of the community's edge and of
the other grids within ``SNAP_M`` (0.25 m): the editor's map sends coordinates rounded to 6 decimals
(Leaflet's ``toGeoJSON``), up to ≈ 0.07 m off the stored vertices at Chinese latitudes, and a hand
dragging a vertex onto a neighbour's lands within a few pixels; 0.25 m catches both, while no real
boundary of a grid is drawn that close to another vertex on purpose. What is still left over after
the overlay — pieces below ``AREA_TOLERANCE_M2`` (1 m²) or thinner than ``SLIVER_WIDTH_M`` — goes to
the grid that holds the rest of the piece it came from, so a reshape leaves no new gap or overlap
above 1 m² (tested in ``tests/test_grid_reshape.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from shequ.gis.crs import metric_crs
from shequ.gis.topology import AREA_TOLERANCE_M2, _real

#: a drawn vertex this close (metres) to a vertex of the community's edge or another grid is moved onto it
SNAP_M = 0.25
#: metres per degree of latitude (a degree of longitude is shorter: a tolerance so converted is never wider)
_M_PER_DEG = 111_320.0
#: pieces sharing less boundary than this (metres) only touch at a corner
SHARED_M = 0.01
#: a grid whose land changes by less than this (m²) is not rewritten: the overlay only renumbered its vertices
CHANGED_M2 = 0.01


@dataclass
class Reshaped:
    """What a reshape makes of a community's grids (WGS84): only the grids whose land changed."""

    geometries: dict[int, shapely.Geometry]
    #: pieces of land given up that touch no other grid: left in no grid (WGS84) and their areas (m²)
    gaps: list[shapely.Geometry] = field(default_factory=list)
    gap_m2: list[float] = field(default_factory=list)
    #: m² of the drawn boundary outside the community, clipped away
    clipped_m2: float = 0.0
    #: m² each other grid gains (+) or loses (−), by index
    moved_m2: dict[int, float] = field(default_factory=dict)


def _metric(geoms: np.ndarray | list, crs: CRS) -> np.ndarray:
    if not len(geoms):
        return np.array([], dtype=object)
    return np.asarray(gpd.GeoSeries(list(geoms), crs=4326).to_crs(crs).values)


def _crs(community: shapely.Geometry) -> CRS:
    return metric_crs(gpd.GeoSeries([community], crs=4326))


def _polygons(geom: shapely.Geometry) -> np.ndarray:
    """The polygons of a geometry (made valid first), without empties, lines and points."""
    if geom is None or shapely.is_empty(geom):
        return np.array([], dtype=object)
    if not shapely.is_valid(geom):
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = shapely.get_parts(geom)
    return parts[(shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)]


def _union(parts: np.ndarray | list) -> shapely.Geometry:
    parts = [p for p in parts if p is not None and not shapely.is_empty(p)]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def shared_lengths(pieces: np.ndarray, grids: np.ndarray, crs: CRS) -> np.ndarray:
    """Metres of boundary each piece shares with each grid (WGS84 in, a pieces × grids matrix out)."""
    out = np.zeros((len(pieces), len(grids)))
    if not len(pieces) or not len(grids):
        return out
    pm, gm = _metric(pieces, crs), _metric(grids, crs)
    a, b = shapely.STRtree(gm).query(pm, predicate="dwithin", distance=SHARED_M)
    if len(a):
        # a band of 1 cm around the grid: shared edges are the same vertices, but an overlay may insert
        # a node a few nanometres off the line
        out[a, b] = shapely.length(shapely.intersection(shapely.boundary(pm[a]), shapely.buffer(gm[b], SHARED_M)))
    return out


def snap(geom: shapely.Geometry, reference: np.ndarray, snap_m: float = SNAP_M) -> shapely.Geometry:
    """``geom`` with its vertices moved onto the reference geometries' vertices within ``snap_m`` metres."""
    if not len(reference):
        return geom
    ref = shapely.union_all(shapely.boundary(np.asarray(reference, dtype=object)))
    snapped = shapely.snap(geom, ref, snap_m / _M_PER_DEG)
    return snapped if shapely.is_valid(snapped) else shapely.make_valid(snapped, method="structure",
                                                                        keep_collapsed=False)


def _crumbs(geom: shapely.Geometry, crs: CRS) -> tuple[shapely.Geometry, list[shapely.Geometry]]:
    """A geometry without the crumbs an overlay leaves beside it (parts below 1 m² or thinner than a
    sliver, apart from its largest), and those crumbs: they belong to whichever grid they fit."""
    parts = _polygons(geom)
    if len(parts) <= 1:
        return (parts[0] if len(parts) else shapely.Polygon()), []
    area = shapely.area(_metric(parts, crs))
    real = _real(_metric(parts, crs), AREA_TOLERANCE_M2)
    real[np.argmax(area)] = True
    kept = parts[real]
    return (kept[0] if len(kept) == 1 else shapely.multipolygons(kept)), list(parts[~real])


def _fits(grid: shapely.Geometry, crumb: shapely.Geometry) -> shapely.Geometry | None:
    """``grid`` with ``crumb``, if that stays one polygon."""
    joined = shapely.union(grid, crumb)
    return joined if joined.geom_type == "Polygon" else None


def _place_crumbs(geoms: np.ndarray, first: int, crumbs: list[shapely.Geometry], crs: CRS) -> None:
    """Each crumb (in place) to grid ``first`` if it joins it into one polygon, else to the grid sharing the
    longest boundary with it that it joins so; one that fits nowhere is dropped (below 1 m² or a sliver).
    A crumb with no land (a ring that runs out and back along one line, left by an overlay of nearly equal
    coordinates) is dropped: joined to a grid it is a spike, valid in degrees, self-intersecting once
    projected, and the write is refused."""
    if crumbs:
        crumbs = [c for c, a in zip(crumbs, shapely.area(_metric(crumbs, crs)), strict=True) if a > CHANGED_M2]
    for crumb in crumbs:
        joined = _fits(geoms[first], crumb)
        if joined is not None:
            geoms[first] = joined
            continue
        lengths = shared_lengths(np.array([crumb], dtype=object), geoms, crs)[0]
        for k in np.argsort(-lengths, kind="stable"):
            joined = _fits(geoms[k], crumb) if lengths[k] > 0 else None
            if joined is not None:
                geoms[k] = joined
                break


def _place_orphans(geoms: np.ndarray, crs: CRS) -> None:
    """A neighbour the new boundary cut in two keeps its largest part; each other part goes (in place) to the
    grid sharing the longest boundary with it that it joins into one polygon (none: the grid stays in
    pieces, and the caller refuses the edit)."""
    for k in range(len(geoms)):
        parts = _polygons(geoms[k])
        if len(parts) < 2:
            continue
        order = np.argsort(-shapely.area(_metric(parts, crs)), kind="stable")
        geoms[k] = parts[order[0]]
        left = []
        for part in parts[order[1:]]:
            lengths = shared_lengths(np.array([part], dtype=object), geoms, crs)[0]
            lengths[k] = 0.0
            for m in np.argsort(-lengths, kind="stable"):
                joined = _fits(geoms[m], part) if lengths[m] > SHARED_M else None
                if joined is not None:
                    geoms[m] = joined
                    break
            else:
                left.append(part)
        if left:
            geoms[k] = shapely.multipolygons([geoms[k], *left])


def reshape(geoms: np.ndarray, i: int, drawn: shapely.Geometry, community: shapely.Geometry,
            snap_m: float = SNAP_M) -> Reshaped:
    """Grid ``i`` of ``geoms`` (a community's grids, WGS84) takes the boundary ``drawn``, clipped to
    ``community``: the land it gains is taken from the grids that held it; each piece it gives up goes
    to the grid sharing the longest boundary with that piece, or, touching none, stays a gap."""
    geoms = np.asarray(geoms, dtype=object)
    crs = _crs(community)
    others = np.flatnonzero(np.arange(len(geoms)) != i)
    drawn = snap(drawn, np.r_[geoms[others], [community]], snap_m)
    clipped = shapely.area(_metric([shapely.difference(drawn, community)], crs))[0]
    new = _union(_polygons(shapely.intersection(drawn, community)))
    if shapely.is_empty(new) or not _real(_metric([new], crs), AREA_TOLERANCE_M2)[0]:
        return Reshaped({i: shapely.Polygon()}, clipped_m2=float(clipped))  # nothing left: the caller refuses
    theirs = np.asarray(shapely.difference(geoms[others], new), dtype=object)
    lost = shapely.difference(geoms[i], new)
    if len(theirs):
        lost = shapely.difference(lost, shapely.union_all(theirs))
    pieces = _polygons(lost)
    result = Reshaped({}, clipped_m2=float(clipped))
    crumbs: list[shapely.Geometry] = []
    if len(pieces):
        real = _real(_metric(pieces, crs), AREA_TOLERANCE_M2)
        crumbs += list(pieces[~real])  # back to the grid they came from, below: no new gap
        pieces = pieces[real]
    if len(pieces):
        lengths = shared_lengths(pieces, theirs, crs)
        best = lengths.argmax(axis=1) if len(theirs) else np.zeros(len(pieces), dtype=int)
        touching = lengths.max(axis=1) > SHARED_M if len(theirs) else np.zeros(len(pieces), dtype=bool)
        for k in np.unique(best[touching]):
            theirs[k] = _union([theirs[k], *pieces[touching & (best == k)]])
        gaps = pieces[~touching]
        result.gaps = list(gaps)
        result.gap_m2 = [float(a) for a in shapely.area(_metric(gaps, crs))]
    for k in range(len(theirs)):
        theirs[k], dropped = _crumbs(theirs[k], crs)
        crumbs += dropped
    new, dropped = _crumbs(new, crs)
    together = np.r_[np.array([new], dtype=object), theirs]
    _place_crumbs(together, 0, crumbs + dropped, crs)
    _place_orphans(together, crs)
    new, theirs = together[0], together[1:]
    result.geometries[i] = new
    if len(theirs):
        # differences taken where the vertices are shared (WGS84), then measured: projected first, a
        # straight edge and the same edge with an extra vertex differ by a bow of millimetres
        changed = shapely.area(_metric(shapely.symmetric_difference(geoms[others], theirs), crs)) > CHANGED_M2
        delta = shapely.area(_metric(theirs, crs)) - shapely.area(_metric(geoms[others], crs))
        for k in np.flatnonzero(changed):
            result.geometries[int(others[k])] = theirs[k]
            result.moved_m2[int(others[k])] = float(delta[k])
    return result


@dataclass
class Problems:
    """A community's gaps (land in no grid) and overlaps (land in two grids), WGS84, areas in m²."""

    gaps: list[dict]
    overlaps: list[dict]


def community_problems(geoms: np.ndarray, codes: list[str], community: shapely.Geometry,
                       min_area_m2: float = AREA_TOLERANCE_M2) -> Problems:
    """Gaps with the grids touching them, longest shared boundary first; overlaps with their two grids.
    Pieces below ``min_area_m2`` or thinner than a sliver are digitising noise, not findings."""
    geoms = np.asarray(geoms, dtype=object)
    crs = _crs(community)
    gaps: list[dict] = []
    hole = shapely.difference(community, shapely.union_all(geoms)) if len(geoms) else community
    pieces = _polygons(hole)
    if len(pieces):
        pm = _metric(pieces, crs)
        real = _real(pm, min_area_m2)
        pieces, area = pieces[real], shapely.area(pm[real])
        lengths = shared_lengths(pieces, geoms, crs)
        for k in np.argsort(-area, kind="stable"):
            order = np.argsort(-lengths[k], kind="stable")
            gaps.append({"geometry": pieces[k], "area_m2": float(area[k]),
                         "neighbours": [codes[j] for j in order if lengths[k, j] > SHARED_M]})
    overlaps: list[dict] = []
    if len(geoms) > 1:
        a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        a, b = a[a < b], b[a < b]
        inter = shapely.intersection(geoms[a], geoms[b])
        im = _metric(inter, crs)
        real = _real(im, min_area_m2)
        area = shapely.area(im)
        for k in np.flatnonzero(real)[np.argsort(-area[real], kind="stable")]:
            overlaps.append({"geometry": _union(_polygons(inter[k])), "area_m2": float(area[k]),
                             "grids": [codes[a[k]], codes[b[k]]]})
    return Problems(gaps, overlaps)


@dataclass
class Absorbed:
    geometry: shapely.Geometry  # the grid with the land it took (WGS84)
    taken_m2: float
    shared_m: float  # boundary the taken land shares with the grid
    free_m2: float  # land of the polygon inside the community and in no grid


def absorb(geoms: np.ndarray, i: int, polygon: shapely.Geometry, community: shapely.Geometry,
           snap_m: float = SNAP_M) -> Absorbed:
    """Grid ``i`` takes the part of ``polygon`` inside ``community`` and in no grid. ``shared_m`` says
    whether it touches the grid (0: it does not, and the caller refuses)."""
    geoms = np.asarray(geoms, dtype=object)
    crs = _crs(community)
    polygon = snap(polygon, np.r_[geoms, [community]], snap_m)
    free = shapely.difference(_union(_polygons(shapely.intersection(polygon, community))), shapely.union_all(geoms))
    pieces = _polygons(free)
    if len(pieces):
        pieces = pieces[_real(_metric(pieces, crs), AREA_TOLERANCE_M2)]
    if not len(pieces):
        return Absorbed(geoms[i], 0.0, 0.0, 0.0)
    free_m2 = float(shapely.area(_metric(pieces, crs)).sum())
    lengths = shared_lengths(pieces, geoms[[i]], crs)[:, 0]
    touching = pieces[lengths > SHARED_M]
    if not len(touching):
        return Absorbed(geoms[i], 0.0, 0.0, free_m2)
    taken = float(shapely.area(_metric(touching, crs)).sum())
    grown, _ = _crumbs(_union([geoms[i], *touching]), crs)
    return Absorbed(grown, taken, float(lengths.sum()), free_m2)
