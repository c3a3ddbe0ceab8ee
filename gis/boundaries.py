"""Drafting community and grid boundaries from streets and residences.

Most towns have no clean digital boundaries; a planner needs a first draft to edit. The rules
(also in README and ``docs/architecture.md``):

- **Blocks** are the faces of the street network inside the area (every street bounds blocks,
  walkable or not), except a compound's (小区's) own roads inside it: service roads, footways and
  the like (``OWN_ROAD_CLASSES``) bound no block there, so a compound crossed by them stays whole,
  also where they run on outside it. Faces mostly inside one compound that share an edge are one
  block too. Blocks are never cut, unless asked (``split_blocks``): then a block alone above the
  maximum is cut into strips across its long side holding equal households, and the reason says so.
- A residence lying in several blocks (a compound a public street cuts, or a strip cut) counts in
  each by the share of its area there; totals are kept, and whole numbers come last
  (``round_keeping_total``), the reasons said for the whole numbers shown.
- Blocks without residents join the populated block fewest block-to-block steps away, so every
  block belongs to a unit and units stay contiguous; a part of the area with no residents at all
  is a unit of its own ("no residents").
- Units come from PySAL spopt's max-p regionalisation: the largest number of contiguous regions
  each reaching the minimum household count (the most compact of several max-p constructions).
  A region above the maximum is split again with max-p where its blocks allow, or gives a border
  block to a neighbour with room; what stays outside the range is reported with the reason.
- Units tile their parent exactly (communities: the area; grids: their community): they are unions
  of faces of one polygonisation of the parent, made robust to a parent read back from WGS84
  (``_faces``).
- Codes follow reading order, 自西向东、自北向南 (DB11/T 2157, DB6101/T 3185): rows from north to
  south, each row west to east. A drafted community's code is county (GB/T 2260) + street ``900``
  (a town-level code no official list uses) + a 3-digit sequence; a grid's is its community's code
  + a 3-digit sequence (the DB11/T 2157 structure, 15 digits).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import pairwise

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from shequ.gis.crs import metric_crs

PEOPLE = ("households", "population")
#: street part of a drafted community's 12-digit code
DRAFT_STREET_CODE = "900"
#: faces sharing a boundary shorter than this (metres) only touch at a point
_EDGE_M = 1e-6
#: precision (metres) of blocks once some were cut into strips
GRID_M = 1e-6
#: streets closer than this (metres) to the drafting area's boundary are snapped onto it
SNAP_M = 1e-3
#: faces smaller than this (m²) are numerical slivers of noding, merged into a neighbour
SLIVER_M2 = 1e-2
#: an own road within this distance (metres) of its compound's edge still bounds blocks
INSET_M = 1.0
#: OSM highway classes a compound's internal roads carry (小区 roads are mostly highway=service):
#: inside a compound they bound no block. Other classes are public streets, which do.
OWN_ROAD_CLASSES = ("service", "living_street", "footway", "path", "pedestrian", "steps", "cycleway", "track",
                    "corridor", "bridleway")


@dataclass
class DraftUnit:
    geometry: shapely.Geometry
    households: float
    population: float
    blocks: int
    reason: str
    #: households of its largest block (before any cut) and whether a block of it was cut: enough to
    #: say the reason again once households are rounded to whole numbers
    biggest: float = 0.0
    split: bool = False


# ---- blocks -----------------------------------------------------------------------------------
def _rook(geoms: np.ndarray) -> csr_matrix:
    """Polygons sharing an edge (not only a point), as a symmetric sparse matrix."""
    n = len(geoms)
    if n < 2:
        return csr_matrix((n, n))
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j])))
    i, j = i[shared > _EDGE_M], j[shared > _EDGE_M]
    return coo_matrix((np.ones(2 * len(i)), (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()


def _faces(area: shapely.Geometry, streets: np.ndarray) -> np.ndarray:
    """Faces of the streets inside ``area`` that tile it exactly (metric CRS).

    A community read back from WGS84 for its grids lies nanometres off the streets it was made of;
    noded as they are, the two make micro-slivers along the boundary, and faces whose ring runs
    back and forth along it, whose ``point_on_surface`` can land on the boundary (such a face was
    dropped: a gap). So streets near the boundary are first snapped onto it, faces are kept by
    the share of their area inside ``area`` where the inner point is not conclusive, slivers are
    merged into a neighbour, and whatever of ``area`` no face holds joins the face it borders most.
    """
    boundary = shapely.boundary(area)
    streets = streets[~shapely.is_empty(streets)]
    near = shapely.dwithin(streets, boundary, SNAP_M)
    if near.any():
        streets = streets.copy()
        streets[near] = shapely.snap(streets[near], boundary, SNAP_M)
    lines = shapely.get_parts(shapely.intersection(streets, area))
    lines = lines[np.isin(shapely.get_type_id(lines), [1, 2]) & ~shapely.is_empty(lines)]
    noded = shapely.union_all(np.r_[lines, [boundary]])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    # polygonize also returns the area's holes as faces: keep the faces inside the area
    pos = shapely.point_on_surface(faces)
    inside = shapely.contains_properly(area, pos)
    unsure = ~inside & shapely.dwithin(boundary, pos, SNAP_M)
    if unsure.any():
        part = shapely.area(shapely.intersection(faces[unsure], area))
        inside[unsure] = part > 0.5 * shapely.area(faces[unsure])
    faces = faces[inside]
    return _fill(area, faces)


def _fill(area: shapely.Geometry, faces: np.ndarray) -> np.ndarray:
    """``faces`` with slivers merged into a neighbour and any uncovered piece of ``area`` added to one.

    A sliver (a face below ``SLIVER_M2``) left alone would become a unit of nobody, empty once in
    WGS84; a piece no face covers would be a gap. Each joins the face sharing the longest edge with it.
    """
    area_m2 = shapely.area(faces)
    small = area_m2 < SLIVER_M2
    pieces = list(faces[small])
    faces = faces[~small]
    if not len(faces):
        return np.array([area], dtype=object)
    if abs(float(area_m2.sum()) - shapely.area(area)) > SLIVER_M2 or len(pieces):
        rest = shapely.get_parts(shapely.difference(area, shapely.union_all(faces)))
        pieces = rest[shapely.area(rest) > 0]
    if not len(pieces):
        return faces
    pieces = np.asarray(pieces, dtype=object)
    tree = shapely.STRtree(faces)
    p, f = tree.query(pieces, predicate="intersects")
    shared = shapely.length(shapely.intersection(shapely.boundary(pieces[p]), shapely.boundary(faces[f])))
    order = np.lexsort((-shared, p))
    p, f = p[order], f[order]
    first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, dtype=bool)
    host = np.full(len(pieces), -1)
    host[p[first]] = f[first]
    lonely = host < 0
    if lonely.any():
        host[lonely] = tree.query_nearest(pieces[lonely], all_matches=False)[1]
    faces = faces.copy()
    for j in np.unique(host):
        faces[j] = shapely.union_all(np.r_[[faces[j]], pieces[host == j]])
    return faces


def _without_own_roads(streets: np.ndarray, own: np.ndarray, compounds: np.ndarray) -> np.ndarray:
    """``streets`` with the stretches of own roads (``own``) inside a compound removed.

    Those stretches are the compound's internal roads; the faces on either side of them are one
    block. Stretches within ``INSET_M`` of the compound's edge stay: a road along the edge (often
    drawn on the outline itself) still bounds the compound, and the stub left where a gate road
    enters is a dangle, which bounds nothing.
    """
    idx = np.flatnonzero(own)
    if not len(idx) or not len(compounds):
        return streets
    inner = shapely.buffer(compounds, -INSET_M)
    inner = inner[~shapely.is_empty(inner)]
    li, ci = shapely.STRtree(inner).query(streets[idx], predicate="intersects")
    if not len(li):
        return streets
    out = streets.copy()
    # a road crossing several compounds: one difference per compound, in rounds over the pairs
    order = np.argsort(li, kind="stable")
    li, ci = li[order], ci[order]
    rank = np.arange(len(li)) - np.searchsorted(li, li)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        rows = idx[li[sel]]
        out[rows] = shapely.difference(out[rows], inner[ci[sel]])
    return out[~shapely.is_empty(out)]


def street_blocks(area: shapely.Geometry, streets: np.ndarray, compounds: np.ndarray | None = None,
                  own: np.ndarray | None = None) -> np.ndarray:
    """Blocks tiling ``area`` (metric CRS): faces of the streets, a compound's faces one block.

    Own roads (``own``: a compound's possible internal roads, by default every street) inside a
    compound bound no block, so a compound crossed by its service roads or footways stays whole
    even where those roads run on outside it. Faces mostly inside one compound that share an
    edge are merged too (a compound cut by a street whose faces stay inside it).
    """
    if compounds is not None and len(compounds):
        compounds = compounds[np.isin(shapely.get_type_id(compounds), [3, 6])]
        compounds = compounds[shapely.area(compounds) > 0]
    if compounds is not None and len(compounds):
        own = np.ones(len(streets), dtype=bool) if own is None else np.asarray(own, dtype=bool)
        streets = _without_own_roads(streets, own, compounds)
    faces = _faces(area, streets)
    if compounds is None or not len(compounds) or len(faces) < 2:
        return faces
    pairs = shapely.STRtree(faces).query(compounds, predicate="intersects")
    overlap = shapely.area(shapely.intersection(faces[pairs[1]], compounds[pairs[0]])) / shapely.area(faces[pairs[1]])
    keep = overlap > 0.5  # the face is mostly inside the compound
    face_compound = np.full(len(faces), -1)
    face_compound[pairs[1][keep]] = pairs[0][keep]
    adj = _rook(faces).tocoo()
    same = (face_compound[adj.row] >= 0) & (face_compound[adj.row] == face_compound[adj.col])
    link = coo_matrix((np.ones(same.sum()), (adj.row[same], adj.col[same])), shape=adj.shape)
    _, label = connected_components(link, directed=False)
    order = np.argsort(label, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(label[order])) + 1]
    merged = [faces[order[a]] if b - a == 1 else shapely.union_all(faces[order[a:b]])
              for a, b in zip(starts, np.r_[starts[1:], len(order)], strict=True)]
    return np.array(merged, dtype=object)


def _shares(zones: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(residence, zone, share) of every residence in every zone it lies in; shares sum to 1.

    A residence with an area is divided by the share of its area in each zone (of its area inside
    the zones, so none is lost at the edge of the drafting area); a point, or an area that only
    touches the zones, goes whole to the first zone holding its inner point. One zone alone holds
    most residences whole, so areas are intersected only where a residence meets several zones.
    """
    empty = (np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0))
    if not len(zones) or not len(geoms):
        return empty
    tree = shapely.STRtree(zones)
    r, z = tree.query(geoms, predicate="intersects")
    count = np.bincount(r, minlength=len(geoms))
    share = np.where(count[r] == 1, 1.0, 0.0)
    many = (count[r] > 1) & (shapely.area(geoms[r]) > 0)
    share[many] = shapely.area(shapely.intersection(geoms[r[many]], zones[z[many]]))
    total = np.bincount(r, weights=share, minlength=len(geoms))
    placed = total[r] > 0
    r, z, share = r[placed], z[placed], share[placed] / total[r[placed]]
    rest = np.flatnonzero(total <= 0)
    if len(rest):
        pr, pz = tree.query(shapely.point_on_surface(geoms[rest]), predicate="intersects")
        _, first = np.unique(pr, return_index=True)
        r, z, share = np.r_[r, rest[pr[first]]], np.r_[z, pz[first]], np.r_[share, np.ones(len(first))]
    keep = share > 0
    return r[keep], z[keep], share[keep]


def _values(residences: gpd.GeoDataFrame) -> np.ndarray:
    return residences.reindex(columns=list(PEOPLE)).astype(float).fillna(0).to_numpy()


def _weighted(residences: gpd.GeoDataFrame, rows: np.ndarray, share: np.ndarray) -> gpd.GeoDataFrame:
    """The residences ``rows`` with their households and population times ``share``."""
    part = residences.iloc[rows].copy()
    part[list(PEOPLE)] = _values(residences)[rows] * share[:, None]
    return part


def grid_people(grids: np.ndarray, community: int, communities: np.ndarray,
                residences: gpd.GeoDataFrame) -> np.ndarray:
    """Whole households and population (an n × 2 array) of ``grids``, all grids of community number
    ``community`` of ``communities`` (everything in one metric CRS), counted as ``draft_grids`` counts
    them: a residence across communities counts in each by the share of its area there, and within its
    community in each grid by the share of its area there (a point: whole, where it lies); whole
    numbers keep the grids' total. A residence in no grid counts in none."""
    out = np.zeros((len(grids), len(PEOPLE)), dtype=int)
    if not len(grids) or residences.empty:
        return out
    res_geoms = np.asarray(residences.geometry.values)
    r, c, share = _shares(np.asarray(communities, dtype=object), res_geoms)
    mine = c == community
    r, share = r[mine], share[mine]
    rr, g, in_grid = _shares(np.asarray(grids, dtype=object), res_geoms[r])
    people = np.zeros((len(grids), len(PEOPLE)))
    np.add.at(people, g, _values(residences)[r[rr]] * (share[rr] * in_grid)[:, None])
    return np.c_[round_keeping_total(people[:, 0]), round_keeping_total(people[:, 1])]


def _split_block(geom: shapely.Geometry, parts: int, residences: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``parts`` strips across the block's long side holding equal households; people per strip.

    Households are spread over each compound's area, so a cut through a compound shares it by area.
    The cuts are found by bisection (40 steps, a handful of blocks per draft, so a loop of shapely
    calls is cheap here). The cutting boxes are built in the block's own coordinates, so that
    neighbouring strips share their cut edge exactly.
    """
    rect = shapely.get_coordinates(shapely.get_exterior_ring(shapely.minimum_rotated_rectangle(geom)))[:4]
    sides = np.diff(np.r_[rect, rect[:1]], axis=0)
    d = sides[np.argmax(np.hypot(*sides.T))]
    d = d / np.hypot(*d)
    nrm = np.array([-d[1], d[0]])
    xy = shapely.get_coordinates(geom)
    u, v = xy @ d, xy @ nrm
    v0, v1 = v.min() - 1, v.max() + 1

    def box(a: float, b: float) -> shapely.Geometry:
        return shapely.polygons([a * d + v0 * nrm, b * d + v0 * nrm, b * d + v1 * nrm, a * d + v1 * nrm])

    geoms = np.asarray(residences.geometry.values)
    values = residences.reindex(columns=list(PEOPLE)).astype(float).fillna(0).to_numpy()
    shapes = np.where(shapely.get_type_id(geoms) == 0, shapely.buffer(geoms, 1.0), geoms)
    shapes = shapely.intersection(shapes, geom)
    area = np.maximum(shapely.area(shapes), 1e-12)

    def share(piece: shapely.Geometry) -> np.ndarray:
        return shapely.area(shapely.intersection(shapes, piece)) / area

    u0, u1 = u.min() - 1, u.max() + 1
    total = values[:, 0].sum()
    cuts = [u0]
    for k in range(1, parts):
        lo, hi = cuts[-1], u1
        for _ in range(40):
            mid = (lo + hi) / 2
            if (share(box(u0, mid)) * values[:, 0]).sum() < total * k / parts:
                lo = mid
            else:
                hi = mid
        cuts.append((lo + hi) / 2)
    cuts.append(u1)
    strips = shapely.get_parts(shapely.intersection(geom, np.array([box(a, b) for a, b in pairwise(cuts)])))
    strips = strips[shapely.area(strips) > 0]
    people = np.array([share(s) @ values for s in strips]) if len(values) else np.zeros((len(strips), 2))
    return strips, people


# ---- regions ----------------------------------------------------------------------------------
def _attach_empty(adj: csr_matrix, households: np.ndarray) -> np.ndarray:
    """Each block's seed: itself if populated, else the nearest populated block by adjacency steps;
    a block with no populated block in its component gets the component's first block."""
    n = len(households)
    seeds = np.flatnonzero(households > 0)
    origin = np.full(n, -1)
    if len(seeds):
        _, _, origin = dijkstra(adj, directed=False, indices=seeds, unweighted=True, min_only=True,
                                return_predecessors=True)
    lonely = origin < 0
    if lonely.any():
        _, comp = connected_components(adj, directed=False)
        first = {c: i for i, c in reversed(list(enumerate(comp)))}
        origin[lonely] = [first[c] for c in comp[lonely]]
    return origin


def _maxp(households: np.ndarray, adj: csr_matrix, xy: np.ndarray, threshold: float,
          tries: int = 20) -> np.ndarray:
    """Max-p labels (0..p-1) of one connected set; one region when it cannot be split.

    The regions come from PySAL spopt's max-p construction phase (``_construction_phase``: grow
    regions from shuffled seeds until each reaches the floor, keep the partitions with the most
    regions, assign enclaves to the nearest region). ``MaxPHeuristic.solve`` follows it with a
    simulated annealing that minimises attribute heterogeneity; on street blocks that ran for
    minutes (its move search re-slices the weights matrix for every candidate) and optimises
    nothing a draft needs. So we take the construction phase alone and, of its best partitions,
    keep the most compact (least squared distance of block centres to their region's centre).
    """
    n = len(households)
    if n < 2 or households.sum() < 2 * threshold:
        return np.zeros(n, dtype=int)
    from libpysal.weights import W
    from scipy.spatial.distance import pdist, squareform
    from spopt.region.maxp import _construction_phase

    neighbors = {i: adj.indices[adj.indptr[i]:adj.indptr[i + 1]].tolist() for i in range(n)}
    attr = xy / 1000.0  # block centres, km: enclaves join the nearest region
    state = np.random.get_state()
    np.random.seed(0)  # spopt draws from numpy's global state: fixed, for drafts that do not change
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = W(neighbors, silence_warnings=True)
            _, candidates = _construction_phase(np.arange(n), attr, households.astype(float),
                                                squareform(pdist(attr, metric="cityblock")), w,
                                                float(threshold), 2, tries)
    finally:
        np.random.set_state(state)

    def spread(labels: np.ndarray) -> float:
        _, inv = np.unique(labels, return_inverse=True)
        centre = np.zeros((inv.max() + 1, 2))
        np.add.at(centre, inv, attr)
        centre /= np.bincount(inv)[:, None]
        return float(((attr - centre[inv]) ** 2).sum())

    labels = min((np.asarray(c[0], dtype=int) for c in candidates), key=spread)
    if labels.min() <= 0:  # areas max-p left out: they join a neighbouring region
        labels = _absorb_unassigned(labels, adj)
    return np.unique(labels, return_inverse=True)[1].ravel()


def _absorb_unassigned(labels: np.ndarray, adj: csr_matrix) -> np.ndarray:
    labels = labels.copy()
    while (labels <= 0).any():
        changed = False
        for i in np.flatnonzero(labels <= 0):
            nbr = labels[adj.indices[adj.indptr[i]:adj.indptr[i + 1]]]
            nbr = nbr[nbr > 0]
            if len(nbr):
                labels[i] = np.bincount(nbr).argmax()
                changed = True
        if not changed:  # a set with no labelled neighbour: a region of its own
            labels[labels <= 0] = labels.max() + 1 if labels.max() > 0 else 1
    return labels


def regionalise(households: np.ndarray, adj: csr_matrix, xy: np.ndarray,
                households_range: tuple[float, float]) -> np.ndarray:
    """Contiguous regions of ``households_range`` (labels 0..p-1) over areas with rook adjacency ``adj``."""
    lo, hi = households_range
    lo, hi = lo - 0.5, hi + 0.5  # households are whole numbers; cut strips carry fractions of them
    n = len(households)
    labels = np.full(n, -1)
    _, comp = connected_components(adj, directed=False)
    next_label = 0
    for c in np.unique(comp):
        idx = np.flatnonzero(comp == c)
        sub = adj[idx][:, idx].tocsr()
        part = _maxp(households[idx], sub, xy[idx], lo)
        for r in np.unique(part):
            members = idx[part == r]
            total = households[members].sum()
            if total > hi and len(members) > 1:  # too big: split again where the blocks allow
                k = int(np.ceil(total / hi))
                inner = adj[members][:, members].tocsr()
                again = _maxp(households[members], inner, xy[members], max(lo, total / k * 0.95))
                if again.max() == 0:
                    again = _maxp(households[members], inner, xy[members], lo)
                labels[members] = next_label + again
                next_label += int(again.max()) + 1
            else:
                labels[members] = next_label
                next_label += 1
    return _rebalance(labels, households, adj, lo, hi)


def _rebalance(labels: np.ndarray, households: np.ndarray, adj: csr_matrix, lo: float, hi: float) -> np.ndarray:
    """Move border areas between neighbouring regions so that more of them fall within ``lo``–``hi``.

    Max-p only guarantees the floor: a region a few households above the ceiling whose areas
    cannot form two regions can often give one border area to a neighbour with room, and a region
    below the floor take one from a neighbour with more than it needs. A move keeps the giver
    contiguous and within what it may lose, and the taker at or below ``hi``; of the possible moves
    the one that brings the region within the range with the fewest households moved comes first.
    Few regions are outside the range, so this is a loop.
    """
    labels = labels.copy()
    totals = np.bincount(labels, weights=households).astype(float)

    def contiguous_without(r: int, i: int) -> bool:
        rest = np.flatnonzero(labels == r)
        rest = rest[rest != i]
        return len(rest) > 0 and connected_components(adj[rest][:, rest], directed=False)[0] == 1

    def neighbours(i: int) -> np.ndarray:
        return np.unique(labels[adj.indices[adj.indptr[i]:adj.indptr[i + 1]]])

    for _ in range(len(labels)):
        moves = []  # (key, area, from, to)
        for r in np.flatnonzero(totals > hi):  # give a border area away
            for i in np.flatnonzero((labels == r) & (households > 0)):
                h = households[i]
                takers = neighbours(i)
                takers = takers[(takers != r) & (totals[takers] + h <= hi)]
                if totals[r] - h >= lo and len(takers) and contiguous_without(r, i):
                    inside = totals[r] - h <= hi
                    moves.append(((not inside, h if inside else -h), i, r, takers[np.argmin(totals[takers])]))
        for r in np.flatnonzero((totals < lo) & (totals > 0)):  # take a border area in
            ring = np.unique(adj[np.flatnonzero(labels == r)].indices)
            for i in ring[(labels[ring] != r) & (households[ring] > 0)]:
                q, h = labels[i], households[i]
                if totals[r] + h <= hi and totals[q] - h >= lo and contiguous_without(q, i):
                    inside = totals[r] + h >= lo
                    moves.append(((not inside, h if inside else -h), i, q, r))
        if not moves:
            break
        _, i, giver, taker = min(moves, key=lambda m: m[0])
        labels[i] = taker
        totals[giver] -= households[i]
        totals[taker] += households[i]
    return labels


def _reason(hh: float, lo: float, hi: float, biggest: float, split: bool) -> str:
    """Why a unit of ``hh`` households is outside ``lo``–``hi`` ('' inside); ``biggest``: its largest block."""
    if lo <= hh <= hi:
        return ""
    if hh == 0:
        return "no residents: streets, parks or other land without residences"
    if hh > hi:
        if biggest > hi:
            if split:
                return (f"{hh:,.0f} households: a strip of a block cut into equal-area parts still "
                        f"has more than {hi:,.0f}")
            return f"one street block alone has {biggest:,.0f} households (> {hi:,.0f}); blocks are never split"
        return f"{hh:,.0f} households: its blocks cannot be split into contiguous units within the range"
    return f"{hh:,.0f} households: too few residents around it to reach {lo:,.0f}"


def _reasons(units: list[DraftUnit], households: np.ndarray, households_range: tuple[float, float]) -> list[str]:
    """Reasons for the whole numbers a unit is shown with: 299.6 households cut from a block round
    to 300, which is inside 300–500 and needs no reason."""
    lo, hi = households_range
    return [_reason(float(hh), lo, hi, u.biggest, u.split) for u, hh in zip(units, households, strict=True)]


def draft_units(area: shapely.Geometry, streets: np.ndarray, residences: gpd.GeoDataFrame,
                households_range: tuple[float, float], *, split_blocks: bool = False,
                own: np.ndarray | None = None) -> list[DraftUnit]:
    """Units of ``households_range`` tiling ``area`` (everything in one metric CRS).

    ``own``: which streets may be a compound's internal roads (``OWN_ROAD_CLASSES``; default all).
    A residence split between blocks counts in each by the share of its area there.
    """
    lo, hi = households_range
    res_geoms = np.asarray(residences.geometry.values)
    blocks = street_blocks(area, streets, res_geoms, own)
    r, b, share = _shares(blocks, res_geoms)
    people = np.zeros((len(blocks), len(PEOPLE)))
    np.add.at(people, b, _values(residences)[r] * share[:, None])
    biggest = people[:, 0].copy()
    split_note = np.zeros(len(blocks), dtype=bool)
    if split_blocks and (people[:, 0] > hi).any():
        new_blocks, new_people, new_note, new_big = [], [], [], []
        for k, (block, p) in enumerate(zip(blocks, people, strict=True)):
            if p[0] <= hi:
                new_blocks.append(block), new_people.append(p), new_note.append(False), new_big.append(p[0])
                continue
            mine = b == k
            # Parts near the middle of the range leave room to join a smaller neighbour.
            parts = max(int(np.ceil(p[0] / hi)), int(np.ceil(p[0] / ((lo + hi) / 2))))
            strips, strip_people = _split_block(block, parts, _weighted(residences, r[mine], share[mine]))
            strip_people *= p / np.maximum(strip_people.sum(axis=0), 1e-12)  # keep the block's totals
            new_blocks += list(strips)
            new_people += list(strip_people)
            new_note += [True] * len(strips)
            new_big += [p[0]] * len(strips)
        # Snap everything to a micrometre grid: a strip's cut edge and its neighbour's then coincide
        # exactly (computed twice, they differ in the last bits and would not fuse in a union).
        snapped = shapely.set_precision(np.array(new_blocks, dtype=object), GRID_M)
        # Snapping can pinch a narrow neck into two pieces: each piece is a block, people by area.
        blocks, owner = shapely.get_parts(snapped, return_index=True)
        part_share = shapely.area(blocks) / np.maximum(shapely.area(snapped[owner]), 1e-12)
        people = np.array(new_people)[owner] * part_share[:, None]
        split_note, biggest = np.array(new_note)[owner], np.array(new_big)[owner]
        keep = ~shapely.is_empty(blocks)  # slivers the snapping collapsed (no area, so no people)
        blocks, people, split_note, biggest = blocks[keep], people[keep], split_note[keep], biggest[keep]
    if not len(blocks):
        return []
    adj = _rook(blocks)
    seed = _attach_empty(adj, people[:, 0])
    seeds, group_of = np.unique(seed, return_inverse=True)
    group_people = np.zeros((len(seeds), len(PEOPLE)))
    np.add.at(group_people, group_of, people)
    g_adj = coo_matrix((np.ones(adj.nnz), (group_of[adj.tocoo().row], group_of[adj.tocoo().col])),
                       shape=(len(seeds), len(seeds))).tocsr()
    g_adj.setdiag(0)
    g_adj.eliminate_zeros()
    g_adj.data[:] = 1
    inner = shapely.point_on_surface(blocks[seeds])
    xy = np.c_[shapely.get_x(inner), shapely.get_y(inner)]
    labels = regionalise(group_people[:, 0], g_adj, xy, households_range)
    units = []
    for label in range(labels.max() + 1):
        members = np.isin(group_of, np.flatnonzero(labels == label))
        hh, pop = people[members].sum(axis=0)
        big, cut = float(biggest[members].max()), bool(split_note[members].any())
        units.append(DraftUnit(shapely.union_all(blocks[members], grid_size=GRID_M if split_note.any() else None),
                               hh, pop, int(members.sum()), _reason(hh, lo, hi, big, cut), big, cut))
    return units


# ---- codes and layers -------------------------------------------------------------------------
def reading_order(geoms: np.ndarray, row_height: float) -> np.ndarray:
    """Indices in reading order: rows north→south of ``row_height`` metres, west→east in each row."""
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    row = np.floor((y.max() - y) / row_height) if len(y) else y
    return np.lexsort((x, row))


def _multipolygon(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.multipolygons(shapely.get_parts(geom))


def _polygon(geom: shapely.Geometry) -> shapely.Geometry:
    """A grid's geometry: one Polygon (a unit of rook-contiguous blocks is one, if GEOS says Multi)."""
    parts = shapely.get_parts(geom)
    return parts[0] if len(parts) == 1 else geom


def _wgs84(frame: gpd.GeoDataFrame, single: bool) -> gpd.GeoDataFrame:
    """The frame in WGS84, valid: reprojection can turn a micrometre-thin spike into a crossing.

    Such a geometry is repaired (GEOS ``make_valid``, structure method) and pieces below a
    millionth of its area dropped; the change is far below what the topology checks tolerate.
    """
    out = frame.to_crs(4326)
    geoms = np.asarray(out.geometry.values)
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    for i in bad:
        parts = shapely.get_parts(shapely.make_valid(geoms[i], method="structure", keep_collapsed=False))
        parts = parts[np.isin(shapely.get_type_id(parts), [3])]
        parts = parts[shapely.area(parts) > 1e-6 * shapely.area(parts).sum()]
        geoms[i] = parts[0] if single and len(parts) == 1 else shapely.multipolygons(parts)
    return out.set_geometry(geoms, crs=4326) if len(bad) else out


def round_keeping_total(values: np.ndarray) -> np.ndarray:
    """Whole numbers that add up to the rounded total (largest remainders get the spare units)."""
    floor = np.floor(values)
    spare = round(float(values.sum() - floor.sum()))
    order = np.argsort(-(values - floor), kind="stable")
    floor[order[:spare]] += 1
    return floor.astype(int)


def _own_roads(streets: gpd.GeoDataFrame) -> np.ndarray | None:
    """Which streets may be a compound's internal roads, by class (None: no classes, all may)."""
    return streets["class"].isin(OWN_ROAD_CLASSES).to_numpy() if "class" in streets else None


def draft_communities(streets: gpd.GeoDataFrame, residences: gpd.GeoDataFrame, *,
                      households_range: tuple[float, float], area: shapely.Geometry | None = None,
                      districts: gpd.GeoDataFrame | None = None, county_code: str = "000000",
                      district_key: str = "adcode", district_name: str = "name",
                      split_blocks: bool = False) -> gpd.GeoDataFrame:
    """Draft communities (WGS84) over ``area`` (WGS84; default: the residences' hull + 200 m).

    With ``districts``, each community gets the county code (GB/T 2260) and name of the district
    holding it, and is coded within it.
    """
    crs = metric_crs(streets)
    res = residences.to_crs(crs)
    street_geoms = np.asarray(streets.to_crs(crs).geometry.values)
    if area is None:
        area = shapely.buffer(shapely.convex_hull(shapely.union_all(np.asarray(res.geometry.values))), 200)
    else:
        area = gpd.GeoSeries([area], crs=4326).to_crs(crs).iloc[0]
    units = draft_units(area, street_geoms, res, households_range, split_blocks=split_blocks,
                        own=_own_roads(streets))
    frame = gpd.GeoDataFrame({"households": [u.households for u in units],
                              "population": [u.population for u in units],
                              "blocks": [u.blocks for u in units], "reason": [u.reason for u in units]},
                             geometry=[_multipolygon(u.geometry) for u in units], crs=crs)
    frame["households"] = round_keeping_total(frame["households"].to_numpy())
    frame["population"] = round_keeping_total(frame["population"].to_numpy())
    frame["reason"] = _reasons(units, frame["households"].to_numpy(), households_range)
    frame["county"], frame["district"] = county_code, None
    if districts is not None and len(districts):
        d = districts.to_crs(crs)
        pts = shapely.point_on_surface(np.asarray(frame.geometry.values))
        hit = shapely.STRtree(np.asarray(d.geometry.values)).query_nearest(pts, all_matches=False)
        frame.loc[frame.index[hit[0]], "county"] = d[district_key].astype(str).to_numpy()[hit[1]]
        frame.loc[frame.index[hit[0]], "district"] = d[district_name].to_numpy()[hit[1]]
    row = float(np.sqrt(np.median(frame.area))) if len(frame) else 1000.0
    frame = frame.iloc[reading_order(np.asarray(frame.geometry.values), row)].reset_index(drop=True)
    seq = (frame.groupby("county").cumcount() + 1).map("{:03d}".format)
    frame["code"] = frame["county"] + DRAFT_STREET_CODE + seq
    frame["name"] = frame["district"].fillna("") + "草拟社区" + frame["code"].str[-3:]
    frame["street"] = "草拟 draft"
    frame["kind"] = "urban"  # a draft cannot tell; the planner sets town or rural communities
    frame["boundary"] = "draft"
    return _wgs84(frame, single=False)


def draft_grids(communities: gpd.GeoDataFrame, streets: gpd.GeoDataFrame, residences: gpd.GeoDataFrame, *,
                households_range: tuple[float, float], split_blocks: bool = False) -> gpd.GeoDataFrame:
    """Draft grids tiling each community, coded community code + 3-digit sequence in reading order.

    A residence across communities counts in each by area share, as in ``draft_communities``; the
    grids of a community add up to the community's households as drafted (the whole numbers of all
    communities are rounded together first, then each community's grids to its number).
    """
    crs = metric_crs(streets)
    comms = communities.to_crs(crs)
    res = residences.to_crs(crs)
    street_geoms = np.asarray(streets.to_crs(crs).geometry.values)
    own = _own_roads(streets)
    comm_geoms = np.asarray(comms.geometry.values)
    r, c, share = _shares(comm_geoms, np.asarray(res.geometry.values))
    totals = np.zeros((len(comms), len(PEOPLE)))
    np.add.at(totals, c, _values(res)[r] * share[:, None])
    whole = np.c_[round_keeping_total(totals[:, 0]), round_keeping_total(totals[:, 1])]
    street_tree = shapely.STRtree(street_geoms)
    rows = []
    for k, (code, name, geom) in enumerate(zip(comms["code"], comms.get("name", comms["code"]), comm_geoms,
                                               strict=True)):
        mine = c == k
        near = street_tree.query(geom, predicate="intersects")
        units = draft_units(geom, street_geoms[near], _weighted(res, r[mine], share[mine]), households_range,
                            split_blocks=split_blocks, own=None if own is None else own[near])
        geoms = np.array([u.geometry for u in units], dtype=object)
        row = float(np.sqrt(np.median(shapely.area(geoms)))) if len(geoms) else 100.0
        people = np.array([[u.households, u.population] for u in units]).reshape(-1, len(PEOPLE))
        scale = np.divide(whole[k], totals[k], out=np.zeros(len(PEOPLE)), where=totals[k] > 0)
        hh = round_keeping_total(people[:, 0] * scale[0])
        pop = round_keeping_total(people[:, 1] * scale[1])
        reasons = _reasons(units, hh, households_range)
        for seq, idx in enumerate(reading_order(geoms, row), start=1):
            u = units[idx]
            rows.append({"code": f"{code}{seq:03d}", "name": f"{name}第{seq}网格", "community_code": code,
                         "households": hh[idx], "population": pop[idx], "blocks": u.blocks,
                         "reason": reasons[idx], "boundary": "draft", "geometry": _polygon(u.geometry)})
    if not rows:
        return gpd.GeoDataFrame({"code": []}, geometry=[], crs=4326)
    return _wgs84(gpd.GeoDataFrame(rows, crs=crs), single=True)


def summary(units: gpd.GeoDataFrame, households_range: tuple[float, float]) -> pd.DataFrame:
    """How many drafted units fall inside the range, and why the others do not."""
    lo, hi = households_range
    inside = units["households"].between(lo, hi)
    return pd.DataFrame({"units": [len(units)], "in_range": [int(inside.sum())],
                         "share_in_range": [float(inside.mean()) if len(units) else np.nan],
                         "below": [int((units["households"] < lo).sum())],
                         "above": [int((units["households"] > hi).sum())]})


def draft_subdistricts(communities: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Streets and towns (街道/乡镇) drawn from their communities: each the union of the communities whose
    codes share its first 9 digits, named after their ``street`` field (WGS84). A draft: the official
    boundary, where a bureau has one, is imported instead."""
    comm = communities.to_crs(4326).reset_index(drop=True)
    if comm.empty:
        return gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=4326)
    prefix = comm["code"].astype(str).str[:9]
    street = comm["street"] if "street" in comm else pd.Series([None] * len(comm))
    rows = []
    for code in sorted(prefix.unique()):
        mine = (prefix == code).to_numpy()
        names = [str(n) for n in street[mine] if isinstance(n, str) and n.strip() and "draft" not in n]
        district = comm["district"][mine].dropna() if "district" in comm else pd.Series(dtype=object)
        people = {c: int(pd.to_numeric(comm.loc[mine, c], errors="coerce").fillna(0).sum())
                  for c in ("households", "population") if c in comm}
        where = str(district.iloc[0]) if len(district) else ""
        rows.append({"code": code, "name": names[0] if names else f"{where}草拟街道{code[-3:]}",
                     "district": district.iloc[0] if len(district) else None, "kind": "subdistrict", **people,
                     "boundary": "draft", "geometry": _multipolygon(shapely.union_all(np.asarray(
                         comm.geometry.values)[mine]))})
    return _wgs84(gpd.GeoDataFrame(rows, crs=4326), single=False)
