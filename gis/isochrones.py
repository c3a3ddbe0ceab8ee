"""Service areas (isochrones) from the street segments actually reached, partial segments included.

A service area is the union of the reached street pieces buffered by ``buffer_m`` — the walkable
corridor, not a circle — with the blocks it encloses filled in (their buildings front reached
streets), clipped to the disc of radius d around the origin (nothing reachable within d can lie
outside it) and joined to the origin by its access leg, so it always contains the origin and its
area never exceeds π·d².
"""

from __future__ import annotations

import numpy as np
import shapely

from shequ.gis.network import Snap, WalkNetwork
from shequ.gis.reach import ReachGraph

DEFAULT_BUFFER_M = 25.0


def _reached_pieces(network: WalkNetwork, dist: np.ndarray, limit: float, origin: Snap, i: int) -> np.ndarray:
    """LineStrings of every reached (part of a) street piece."""
    # Only pieces of edges with a reached end, or of the origin's own edge, can be reached: pieces
    # are stored edge by edge, so those are a few index ranges, not a pass over the whole city.
    reached = dist < np.inf
    edges = np.flatnonzero(reached[network.edge_u] | reached[network.edge_v])
    edges = np.union1d(edges, origin.edge[i : i + 1])
    lo = np.searchsorted(network.piece_edge, edges, "left")
    hi = np.searchsorted(network.piece_edge, edges, "right")
    sel = np.repeat(lo - np.cumsum(np.r_[0, (hi - lo)[:-1]]), hi - lo) + np.arange((hi - lo).sum())
    pe = network.piece_edge[sel]
    length = network.edge_length[pe]
    a, b = network.piece_xy[sel, 0], network.piece_xy[sel, 1]
    plen = np.hypot(*(b - a).T)
    o1 = network.piece_offset[sel]
    o2 = o1 + plen
    r_u = limit - dist[network.edge_u[pe]]
    r_v = limit - dist[network.edge_v[pe]]
    r0 = limit - origin.access[i]
    on_origin_edge = pe == origin.edge[i]
    intervals = [
        (o1, np.minimum(o2, r_u)),  # walked in from the u end
        (np.maximum(o1, length - r_v), o2),  # from the v end
        (np.where(on_origin_edge, np.maximum(o1, origin.offset[i] - r0), np.inf),
         np.where(on_origin_edge, np.minimum(o2, origin.offset[i] + r0), -np.inf)),  # along the origin's edge
    ]
    segments = []
    for lo, hi in intervals:
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(lo) & np.isfinite(hi) & (hi > lo)
        if not ok.any():
            continue
        step = (b[ok] - a[ok]) / plen[ok][:, None]
        start = a[ok] + step * (lo[ok] - o1[ok])[:, None]
        end = a[ok] + step * (hi[ok] - o1[ok])[:, None]
        segments.append(np.stack([start, end], axis=1))
    if not segments:
        return np.empty(0, dtype=object)
    return shapely.linestrings(np.concatenate(segments))


def _fill_holes(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))


def service_areas(network: WalkNetwork, origins: np.ndarray, distances: np.ndarray | float,
                  buffer_m: float = DEFAULT_BUFFER_M, fill_holes: bool = True) -> np.ndarray:
    """One service-area polygon per origin point (metric CRS) for its walking distance."""
    origins = np.asarray(origins)
    distances = np.broadcast_to(np.asarray(distances, dtype=float), (len(origins),))
    snap = network.snap(origins)
    reach = ReachGraph.build(network, snap)
    out = np.empty(len(origins), dtype=object)
    for i, limit in enumerate(distances):
        dist = reach.from_source(i, limit)
        pieces = _reached_pieces(network, dist, limit, snap, i)
        leg = shapely.linestrings([shapely.get_coordinates(origins[i])[0], snap.xy[i]])
        corridor = shapely.union_all(shapely.buffer(np.r_[pieces, [leg]], buffer_m, quad_segs=4))
        if fill_holes:
            corridor = _fill_holes(corridor)
        disc = shapely.buffer(origins[i], limit, quad_segs=32)
        area = shapely.intersection(corridor, disc)
        if not area.contains(origins[i]):  # access leg longer than the distance: only the spot itself
            area = shapely.union(area, shapely.buffer(origins[i], min(buffer_m, limit)))
        if not (area.contains(origins[i]) and area.area <= np.pi * limit**2):  # a bug, never the data
            raise RuntimeError(f"service area {i} fails its sanity check (contains origin, area <= pi d^2)")
        out[i] = area
    return out
