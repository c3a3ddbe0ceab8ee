"""Multi-source walking distances with a limit: one Dijkstra per facility type, not one per facility.

Facilities are not nodes: each becomes a virtual source node joined to both ends of the edge it
snapped to (weights: access leg + distance along the edge to that end). One ``scipy.sparse.csgraph``
Dijkstra over all facilities of a type, with ``min_only=True``, gives every node its distance to the
nearest facility of the type and which one it is. Points on edges (residence entries) then take the
better of their two edge ends, or a direct walk along their own edge when a facility shares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from shequ.gis.network import Snap, WalkNetwork, _min_coo


def with_sources(network: WalkNetwork, sources: Snap) -> csr_matrix:
    """The network graph plus one directed virtual node per source (no edge leads back into one)."""
    n, k = network.n_nodes, len(sources)
    base = network.graph.tocoo()
    vnode = n + np.arange(k)
    length = network.edge_length[sources.edge]
    rows = np.r_[base.row, vnode, vnode]
    cols = np.r_[base.col, network.edge_u[sources.edge], network.edge_v[sources.edge]]
    data = np.r_[base.data, sources.access + sources.offset, sources.access + (length - sources.offset)]
    data = np.maximum(data, 1e-9)  # csgraph reads explicit zeros as "no edge"
    # Two weights for one (row, col) — a source on a loop edge — must not be summed: keep the smaller.
    return _min_coo(rows, cols, data, n + k)


@dataclass
class Reach:
    """Distance from each target point to its nearest source (``inf`` beyond the limit)."""

    distance: np.ndarray
    source: np.ndarray  # index into the sources, -1 where none within the limit


def nearest(network: WalkNetwork, graph: csr_matrix, sources: Snap, source_rows: np.ndarray,
            targets: Snap, limit: float) -> Reach:
    """Network distance from every target to the nearest of ``source_rows`` (indices into sources)."""
    n = network.n_nodes
    m = len(targets)
    if len(source_rows) == 0:
        return Reach(np.full(m, np.inf), np.full(m, -1))
    dist, _, origin = dijkstra(graph, directed=True, indices=n + np.asarray(source_rows), min_only=True,
                               limit=limit, return_predecessors=True)
    u, v = network.edge_u[targets.edge], network.edge_v[targets.edge]
    length = network.edge_length[targets.edge]
    via_u = dist[u] + targets.offset
    via_v = dist[v] + (length - targets.offset)
    best = np.minimum(via_u, via_v) + targets.access
    src = np.where(via_u <= via_v, origin[u], origin[v]) - n
    # A source on the target's own edge: walk along it directly.
    t = pd.DataFrame({"edge": targets.edge, "t": np.arange(m)})
    s = pd.DataFrame({"edge": sources.edge[source_rows], "s": np.asarray(source_rows)})
    same = t.merge(s, on="edge")
    if len(same):
        ti, si = same["t"].to_numpy(), same["s"].to_numpy()
        direct = np.abs(targets.offset[ti] - sources.offset[si]) + targets.access[ti] + sources.access[si]
        order = np.lexsort((direct, ti))
        ti, si, direct = ti[order], si[order], direct[order]
        first = np.r_[True, ti[1:] != ti[:-1]]
        ti, si, direct = ti[first], si[first], direct[first]
        better = direct < best[ti]
        best[ti[better]] = direct[better]
        src[ti[better]] = si[better]
    best[best > limit] = np.inf
    src[~np.isfinite(best)] = -1
    return Reach(best, src)


def reach_nodes(network: WalkNetwork, origin: Snap, limit: float) -> np.ndarray:
    """Distances from one snapped origin to every node (``inf`` beyond the limit)."""
    graph = with_sources(network, origin)
    dist = dijkstra(graph, directed=True, indices=network.n_nodes, limit=limit)
    return dist[: network.n_nodes]
