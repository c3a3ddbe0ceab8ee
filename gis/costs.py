"""Walking distances from many sources to many residences within a limit, as a sparse matrix.

Siting and capacity-aware access both need, for every candidate site or facility, the residences it
reaches within a distance. A dense sources × residences matrix does not fit at city scale (10 000
candidates × 100 000 residences is 8 GB of floats), and nearly all of it would be "too far": the
limited Dijkstra of ``scipy.sparse.csgraph`` runs over spatial chunks of sources, each on the part of
the graph within the limit of the chunk, and only the distances within the limit are kept. The
distances are the coverage engine's own (``gis/reach.py``): the same entries of compounds, the same
access legs, a facility inside a compound serving it at 0 m, so a site proposed here covers exactly
the residences ``Coverage`` finds once it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from shequ.gis.network import Snap, WalkNetwork
from shequ.gis.reach import ReachGraph

#: distances are compared with this slack, as in ``gis/coverage.py``
DISTANCE_TOLERANCE_M = 1e-6
#: float64 cells per Dijkstra chunk (sources × graph nodes): ~128 MB
CHUNK_CELLS = 16_000_000


@dataclass
class DistanceMatrix:
    """``matrix[s, r]``: walking metres from source ``s`` to residence ``r``, stored only within ``limit``.

    A stored zero is kept as ``ZERO`` (sparse matrices drop explicit zeros): use ``dense_row``/``within``
    rather than reading the data array directly.
    """

    matrix: csr_matrix  # sources × residences
    limit: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def within(self, distance: float) -> csr_matrix:
        """Boolean sources × residences: reached within ``distance`` (≤ the limit)."""
        m = self.matrix.copy()
        m.data = m.data <= distance + DISTANCE_TOLERANCE_M
        m.eliminate_zeros()
        return m.astype(bool)

    def distances(self) -> csr_matrix:
        """The matrix with its true distances (``ZERO`` read back as 0; absent means beyond the limit)."""
        m = self.matrix.copy()
        m.data = np.where(m.data == ZERO, 0.0, m.data)
        return m


#: how a 0 m distance is stored (a facility inside the compound it serves)
ZERO = 1e-12


def source_snaps(network: WalkNetwork, points: np.ndarray) -> Snap:
    """Where source points (metric CRS) meet the network."""
    if len(points):
        return network.snap(points)
    return Snap(np.empty(0, dtype=int), np.empty(0), np.empty(0), np.empty((0, 2)))


def walking_distances(network: WalkNetwork, sources: np.ndarray, residences: np.ndarray, limit: float, *,
                      gates: np.ndarray | None = None, chunk_cells: int = CHUNK_CELLS) -> DistanceMatrix:
    """Walking metres from each source point to each residence within ``limit`` (all geometries in the
    network's metric CRS; ``gates`` as ``WalkNetwork.entries`` takes them).

    Sources are searched in spatial chunks (cells of the limit's size), each on the part of the graph
    within the limit of the chunk's box: a walk is never shorter than the straight line, so nothing
    within the limit lies outside that box, and the search and its output stay local instead of
    spanning the whole graph for every source (at 100 000 residences × 10 000 sources: 1 s instead of
    10). ``chunk_cells`` bounds the dense float64 block of one Dijkstra call (sources × nodes)."""
    n_src, n_res = len(sources), len(residences)
    if n_src == 0 or n_res == 0:
        return DistanceMatrix(csr_matrix((n_src, n_res)), limit)
    entries = network.entries(residences, gates)
    graph = ReachGraph.build(network, source_snaps(network, sources), entries.snap, entries.owner, n_res)
    g = graph.graph.tocsr()
    n, k = network.n_nodes, graph.n_sources
    reach = limit + DISTANCE_TOLERANCE_M
    xy = shapely.get_coordinates(sources)
    node_tree = shapely.STRtree(shapely.points(network.node_xy))
    local = np.full(g.shape[0], -1)  # graph node → its position in the chunk's subgraph
    rows, cols, vals = [], [], []
    for chunk in _spatial_chunks(xy, max(reach, 1.0)):
        lo, hi = xy[chunk].min(axis=0) - reach - 1.0, xy[chunk].max(axis=0) + reach + 1.0
        near = node_tree.query(shapely.box(lo[0], lo[1], hi[0], hi[1]))
        near = near[np.all((network.node_xy[near] >= lo) & (network.node_xy[near] <= hi), axis=1)]
        heads = row_columns(g, np.r_[near, n + chunk])
        owners = np.unique(heads[heads >= n + k])
        nodes = np.r_[near, n + chunk, owners]
        local[nodes] = np.arange(len(nodes))
        step = max(1, int(chunk_cells // max(len(nodes), 1)))
        sub = _subgraph(g, nodes, local)
        local[nodes] = -1
        first_owner = len(near) + len(chunk)
        for start in range(0, len(chunk), step):
            part = np.arange(start, min(start + step, len(chunk)))
            dist = dijkstra(sub, directed=True, indices=len(near) + part, limit=reach)
            block = dist[:, first_owner:]
            r, c = np.nonzero(block <= reach)
            rows.append(chunk[part[r]])
            cols.append(owners[c] - (n + k))
            vals.append(np.maximum(block[r, c], ZERO))
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    m = csr_matrix((val, (row, col)), shape=(n_src, n_res))  # each pair found once (chunks do not overlap)
    # A source inside a compound serves it directly (as ``Coverage`` counts it): 0 m wins over any walk.
    is_area = np.isin(shapely.get_type_id(residences), [3, 6])
    if is_area.any():
        inside = shapely.STRtree(sources).query(residences[is_area], predicate="contains")
        if inside.shape[1]:
            at = csr_matrix((np.ones(inside.shape[1]), (inside[1], np.flatnonzero(is_area)[inside[0]])),
                            shape=m.shape)
            at.data[:] = 1.0
            m = m - m.multiply(at) + at * ZERO
            m.eliminate_zeros()  # pairs found on the network and inside: the walk removed, ZERO stays
    m.sort_indices()
    return DistanceMatrix(m, limit)


def _spatial_chunks(xy: np.ndarray, cell: float) -> list[np.ndarray]:
    """Source indices grouped by square cells of side ``cell`` (each group in input order)."""
    key = np.floor((xy - xy.min(axis=0)) / cell).astype(np.int64)
    code = key[:, 0] * (int(key[:, 1].max()) + 1) + key[:, 1]
    order = np.argsort(code, kind="stable")
    bounds = np.flatnonzero(np.diff(code[order])) + 1
    return np.split(order, bounds)


def row_columns(m: csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The column indices of the given rows of ``m``, concatenated (without scipy's indexing overhead)."""
    start, stop = m.indptr[rows], m.indptr[np.asarray(rows) + 1]
    count = stop - start
    total = int(count.sum())
    if not total:
        return np.empty(0, dtype=m.indices.dtype)
    return m.indices[np.repeat(start - (np.cumsum(count) - count), count) + np.arange(total)]


def _subgraph(g: csr_matrix, nodes: np.ndarray, local: np.ndarray) -> csr_matrix:
    """The graph on ``nodes`` (``local`` maps each to its position, -1 elsewhere), numbered by position."""
    start, stop = g.indptr[nodes], g.indptr[nodes + 1]
    count = stop - start
    at = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    row = np.repeat(np.arange(len(nodes)), count)
    col = local[g.indices[at]]
    keep = col >= 0
    return csr_matrix((g.data[at][keep], (row[keep], col[keep])), shape=(len(nodes), len(nodes)))
