"""Multi-source walking distances with a limit: one Dijkstra per facility type, not one per facility.

Neither facilities nor residences are nodes of the street network: both sit somewhere along an
edge. ``ReachGraph`` adds them as virtual nodes, once per analysis:

- each source (facility) is a node with edges *out* to both ends of its street edge, weighted by
  its access leg plus the distance along the edge to that end;
- each target owner (a residence, which may have several entries) is a node with edges *in* from
  both ends of each entry's edge, weighted the same way, so the owner's distance is the best of its
  entries without any post-processing;
- a source and an entry on the same edge also get a direct edge (walk along the street between
  them, never via a junction).

Sources have no incoming edges and owners no outgoing ones, so no walk passes *through* a facility
or a residence. One ``scipy.sparse.csgraph.dijkstra(min_only=True, limit=…)`` over the sources of a
type then gives every owner its distance to the nearest of them and which one it is: the query is
the bare Dijkstra plus two slices (see ``make bench``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from shequ.gis.network import Snap, WalkNetwork, min_coo

#: csgraph reads explicit zeros as "no edge": a zero-length leg weighs this instead
EPS = 1e-9


@dataclass
class Reach:
    """Distance from each target to its nearest source (``inf`` beyond the limit)."""

    distance: np.ndarray
    source: np.ndarray  # index into the sources, -1 where none within the limit


@dataclass
class ReachGraph:
    """The street graph with sources and target owners as virtual nodes (built once, queried per type)."""

    network: WalkNetwork
    graph: csr_matrix
    n_sources: int
    n_owners: int

    @classmethod
    def build(cls, network: WalkNetwork, sources: Snap, targets: Snap | None = None,
              owner: np.ndarray | None = None, n_owners: int | None = None) -> ReachGraph:
        """``owner[i]`` is the owner of target ``i`` (default: each target its own owner)."""
        n, k = network.n_nodes, len(sources)
        base = network.graph.tocoo()
        rows, cols, data = [base.row], [base.col], [base.data]
        src_node = n + np.arange(k)
        s_len = network.edge_length[sources.edge]
        rows += [src_node, src_node]
        cols += [network.edge_u[sources.edge], network.edge_v[sources.edge]]
        data += [sources.access + sources.offset, sources.access + (s_len - sources.offset)]
        m = 0
        if targets is not None and len(targets):
            owner = np.arange(len(targets)) if owner is None else np.asarray(owner)
            m = int(owner.max()) + 1 if n_owners is None else n_owners
            own_node = n + k + owner
            t_len = network.edge_length[targets.edge]
            rows += [network.edge_u[targets.edge], network.edge_v[targets.edge]]
            cols += [own_node, own_node]
            data += [targets.offset + targets.access, (t_len - targets.offset) + targets.access]
            ti, si = same_edge_pairs(targets.edge, sources.edge)
            rows.append(n + si)
            cols.append(own_node[ti])
            data.append(np.abs(targets.offset[ti] - sources.offset[si]) + targets.access[ti] + sources.access[si])
        elif n_owners:
            m = n_owners
        data = [np.maximum(d, EPS) for d in data]
        # Two weights for one (row, col) — a point on a loop edge, two entries on one edge — are not
        # summed as scipy would: the smaller stands.
        graph = min_coo(np.concatenate(rows), np.concatenate(cols), np.concatenate(data), n + k + m)
        return cls(network, graph, k, m)

    def nearest(self, source_rows: np.ndarray, limit: float) -> Reach:
        """Distance from every owner to the nearest of ``source_rows`` (indices into the sources)."""
        n, k = self.network.n_nodes, self.n_sources
        source_rows = np.asarray(source_rows, dtype=np.int64)
        if len(source_rows) == 0:
            return Reach(np.full(self.n_owners, np.inf), np.full(self.n_owners, -1))
        dist, _, origin = dijkstra(self.graph, directed=True, indices=n + source_rows, min_only=True,
                                   limit=limit, return_predecessors=True)
        best = dist[n + k:]
        return Reach(best, np.where(best < np.inf, origin[n + k:] - n, -1))

    def from_source(self, row: int, limit: float) -> np.ndarray:
        """Distances from one source to every street node (``inf`` beyond the limit)."""
        n = self.network.n_nodes
        return dijkstra(self.graph, directed=True, indices=n + row, limit=limit)[:n]


def same_edge_pairs(target_edge: np.ndarray, source_edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (target, source) index pair on one edge, by sorting the sources once."""
    order = np.argsort(source_edge, kind="stable")
    edges = source_edge[order]
    lo = np.searchsorted(edges, target_edge, "left")
    count = np.searchsorted(edges, target_edge, "right") - lo
    ti = np.repeat(np.arange(len(target_edge)), count)
    start = np.repeat(lo - (np.cumsum(count) - count), count)
    return ti, order[start + np.arange(len(ti))]
