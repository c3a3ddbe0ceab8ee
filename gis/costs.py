"""Walking distances from many sources to many residences within a limit, as a sparse matrix.

Siting and capacity-aware access both need, for every candidate site or facility, the residences it
reaches within a distance. A dense sources × residences matrix does not fit at city scale (10 000
candidates × 100 000 residences is 8 GB of floats), and nearly all of it would be "too far": the
limited Dijkstra of ``scipy.sparse.csgraph`` runs over chunks of sources and only the distances
within the limit are kept. The distances are the coverage engine's own (``gis/reach.py``): the same
entries of compounds, the same access legs, a facility inside a compound serving it at 0 m, so a
site proposed here covers exactly the residences ``Coverage`` finds once it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.sparse import coo_matrix, csr_matrix
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
    network's metric CRS; ``gates`` as ``WalkNetwork.entries`` takes them)."""
    n_src, n_res = len(sources), len(residences)
    if n_src == 0 or n_res == 0:
        return DistanceMatrix(csr_matrix((n_src, n_res)), limit)
    entries = network.entries(residences, gates)
    graph = ReachGraph.build(network, source_snaps(network, sources), entries.snap, entries.owner, n_res)
    n, k = network.n_nodes, graph.n_sources
    total = graph.graph.shape[0]
    step = max(1, int(chunk_cells // max(total, 1)))
    rows, cols, vals = [], [], []
    for start in range(0, n_src, step):
        idx = np.arange(start, min(start + step, n_src))
        dist = dijkstra(graph.graph, directed=True, indices=n + idx, limit=limit + DISTANCE_TOLERANCE_M)
        block = dist[:, n + k:]
        r, c = np.nonzero(np.isfinite(block))
        rows.append(idx[r])
        cols.append(c)
        vals.append(np.maximum(block[r, c], ZERO))
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    # A source inside a compound serves it directly (as ``Coverage`` counts it).
    is_area = np.isin(shapely.get_type_id(residences), [3, 6])
    if is_area.any():
        inside = shapely.STRtree(sources).query(residences[is_area], predicate="contains")
        if inside.shape[1]:
            area_rows = np.flatnonzero(is_area)[inside[0]]
            row = np.concatenate([row, inside[1]])
            col = np.concatenate([col, area_rows])
            val = np.concatenate([val, np.full(inside.shape[1], ZERO)])
    m = coo_matrix((val, (row, col)), shape=(n_src, n_res))
    # a pair given twice (found on the network and inside) keeps the smaller distance
    m = _min_duplicates(m)
    return DistanceMatrix(m, limit)


def _min_duplicates(m: coo_matrix) -> csr_matrix:
    if m.nnz == 0:  # nothing within reach (``first`` below would have one entry too many)
        return csr_matrix(m.shape)
    order = np.lexsort((m.data, m.col, m.row))
    row, col, val = m.row[order], m.col[order], m.data[order]
    first = np.r_[True, (row[1:] != row[:-1]) | (col[1:] != col[:-1])]
    return csr_matrix((val[first], (row[first], col[first])), shape=m.shape)
