"""Where to put the next facilities: maximal covering (MCLP) and set covering (LSCP) on the walking network.

A model object in the spopt manner: ``Siting.from_geodataframes(...)`` measures, then
``solve_mclp(k)`` / ``solve_lscp()`` / ``greedy(k)``.

Why not spopt's ``MCLP``/``LSCP`` directly: they take a dense demand × candidate cost matrix and build
the model through PuLP one constraint at a time; at 100 000 residences × 10 000 candidates that matrix
alone is 8 GB. We build the same models from the sparse "reaches within the distance" matrix
(``gis/costs.py``), merge residences that the same candidates reach (the usual aggregation: it keeps
the optimum and shrinks the model by an order of magnitude), drop residences the existing facilities
already cover (they are fixed: MCLP with pre-sited facilities), and hand the model to HiGHS (``highspy``),
an exact MILP solver, which reports the optimality gap and whether a time limit stopped it. A test
checks the result against spopt's on the same cost matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix

from shequ.gis.costs import DistanceMatrix, walking_distances
from shequ.gis.network import WalkNetwork

#: the solver's default time limit, seconds
TIME_LIMIT_S = 60.0
#: metres between candidate sites along a street (each edge has at least one, at its middle)
CANDIDATE_SPACING_M = 100.0
MODELS = ("mclp", "lscp")


def street_candidates(network: WalkNetwork, *, spacing_m: float = CANDIDATE_SPACING_M,
                      exclude: np.ndarray | None = None, main_only: bool = True) -> np.ndarray:
    """Candidate sites on the walkable streets (metric CRS points): spaced ``spacing_m`` along each
    edge, evenly, none inside the ``exclude`` polygons (compounds: a site is a lot on a public street),
    and by default only on the main network (not on islands nobody reaches)."""
    length = network.edge_length
    count = np.maximum(1, np.floor(length / spacing_m)).astype(int)
    edge = np.repeat(np.arange(len(length)), count)
    i = np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count)
    offset = (i + 0.5) * length[edge] / count[edge]
    xy = point_along(network, edge, offset)
    keep = np.ones(len(edge), dtype=bool)
    if main_only:
        keep &= network.edge_component(edge) == network.main_component
    points = shapely.points(xy)
    if exclude is not None and len(exclude):
        polys = exclude[np.isin(shapely.get_type_id(exclude), [3, 6])]
        if len(polys):
            hit = shapely.STRtree(polys).query(points, predicate="within")
            keep[hit[0]] = False
    return points[keep]


def point_along(network: WalkNetwork, edge: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The (x, y) at ``offset`` metres along each ``edge`` (from its u end)."""
    # pieces are stored edge by edge in order: the piece holding an offset is the last one starting before it
    key = edge * 1e9 + offset  # edges are < 1e9 m long; keeps the order (edge, offset)
    starts = network.piece_edge * 1e9 + network.piece_offset
    piece = np.clip(np.searchsorted(starts, key, side="right") - 1, 0, len(starts) - 1)
    a, b = network.piece_xy[piece, 0], network.piece_xy[piece, 1]
    seg = np.hypot(*(b - a).T)
    t = np.clip((offset - network.piece_offset[piece]) / np.where(seg > 0, seg, 1), 0, 1)
    return a + (b - a) * t[:, None]


@dataclass
class SitingResult:
    """The chosen sites and what they change."""

    model: str
    chosen: np.ndarray  # candidate indices, in the order of what each adds (largest first)
    covered_before: float  # weight covered by the existing facilities
    covered_after: float  # … and by the chosen sites too
    total: float  # weight of every residence
    status: str  # "optimal", "time limit" (gap below), "infeasible", "greedy", "nothing to gain"
    gap: float  # relative optimality gap (0 when proven optimal)
    seconds: float
    uncoverable: float = 0.0  # weight no candidate reaches (LSCP leaves it out)
    site_gain: np.ndarray = field(default_factory=lambda: np.empty(0))  # weight each site newly covers
    newly_covered: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))  # per residence
    site_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))  # per residence: the
    # position in ``chosen`` of the site credited with covering it newly (-1: not newly covered)

    @property
    def gain(self) -> float:
        return self.covered_after - self.covered_before


class Siting:
    """Sites for one facility type: existing facilities stay, candidates compete for the rest.

    ``reach`` is candidates × residences (within the service distance), ``covered`` marks residences the
    existing facilities already cover, ``weight`` is what to cover (households, children, elderly …).
    """

    def __init__(self, reach: csr_matrix, weight: np.ndarray, covered: np.ndarray, *,
                 distances: DistanceMatrix | None = None) -> None:
        self.reach = reach.tocsr().astype(bool)
        self.weight = np.nan_to_num(np.asarray(weight, dtype=float))
        self.covered = np.asarray(covered, dtype=bool)
        self.distances = distances
        _n_cand, n_res = self.reach.shape
        if len(self.weight) != n_res or len(self.covered) != n_res:
            raise ValueError(f"weight and covered need one value per residence ({n_res})")

    @classmethod
    def from_geodataframes(cls, network: WalkNetwork, residences: gpd.GeoDataFrame,
                           existing: gpd.GeoDataFrame, candidates: gpd.GeoSeries | np.ndarray, distance_m: float, *,
                           weight: str = "households", gates: np.ndarray | None = None) -> Siting:
        """Measure the walking reach of candidates and existing facilities (any CRS; points, or
        ``candidates`` already in the network's CRS when given as an array)."""
        res = np.asarray(residences.to_crs(network.crs).geometry.values)
        cand = (np.asarray(candidates.to_crs(network.crs).values) if isinstance(candidates, gpd.GeoSeries)
                else np.asarray(candidates))
        fac = np.asarray(existing.to_crs(network.crs).geometry.values) if len(existing) else np.empty(0, object)
        if weight not in residences:
            raise ValueError(f"residences have no {weight!r} column to weigh by")
        w = pd.to_numeric(residences[weight], errors="coerce").fillna(0).to_numpy(dtype=float)
        existing_reach = walking_distances(network, fac, res, distance_m, gates=gates)
        covered = np.asarray(existing_reach.within(distance_m).sum(axis=0)).ravel() > 0
        dist = walking_distances(network, cand, res, distance_m, gates=gates)
        return cls(dist.within(distance_m), w, covered, distances=dist)

    # ---- the models --------------------------------------------------------------------------
    def _groups(self) -> tuple[csr_matrix, np.ndarray, np.ndarray, float]:
        """Uncovered residences that some candidate reaches, merged by the set of candidates reaching
        them: (candidates × groups reach, group weights, the group of each residence (-1: none),
        the weight no candidate reaches)."""
        col = self.reach.tocsc()
        open_ = ~self.covered & (np.diff(col.indptr) > 0) & (self.weight > 0)
        unreachable = float(self.weight[~self.covered & (np.diff(col.indptr) == 0)].sum())
        rows = np.flatnonzero(open_)
        group = np.full(len(self.weight), -1)
        if not len(rows):
            return csr_matrix((self.reach.shape[0], 0), dtype=bool), np.empty(0), group, unreachable
        sub = col[:, rows].T.tocsr()  # residences × candidates
        sub.sort_indices()
        rng = np.random.default_rng(0)
        keys = np.column_stack([sub @ rng.random(sub.shape[1]), sub @ rng.random(sub.shape[1]),
                                np.diff(sub.indptr)])
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        group[rows] = inverse
        weights = np.bincount(inverse, weights=self.weight[rows], minlength=len(first))
        return sub[first].T.tocsr(), weights, group, unreachable

    def solve_mclp(self, k: int, *, time_limit: float = TIME_LIMIT_S) -> SitingResult:
        """``k`` new sites covering the most weight not yet covered (exact, HiGHS)."""
        started = time.perf_counter()
        reach, w, _group, unreachable = self._groups()
        _n_cand, n_grp = reach.shape
        if k <= 0 or n_grp == 0:
            return self._result("mclp", np.empty(0, dtype=int), "nothing to gain", 0.0, started, unreachable)
        useful = np.flatnonzero(np.diff(reach.indptr) > 0)
        k = min(k, len(useful))
        # variables: x (chosen candidates, binary) then y (groups covered, continuous in [0, 1])
        sub = reach[useful].tocsc().astype(float)  # useful candidates × groups
        n_x = len(useful)
        # rows: y_g - sum_{j reaching g} x_j <= 0 for each group; sum x = k
        a = _hstack_rows(-sub.T.tocsr(), n_grp)
        solution, status, gap = _highs(
            cost=np.r_[np.zeros(n_x), w], lower=np.zeros(n_x + n_grp), upper=np.ones(n_x + n_grp),
            integer=np.r_[np.ones(n_x, bool), np.zeros(n_grp, bool)], matrix=a,
            row_lower=np.r_[np.full(n_grp, -np.inf), k], row_upper=np.r_[np.zeros(n_grp), k],
            maximize=True, time_limit=time_limit,
            start=self._greedy_start(sub.tocsr(), w, k, n_grp))
        if solution is None:
            return self._result("mclp", np.empty(0, dtype=int), status, gap, started, unreachable)
        chosen = useful[np.flatnonzero(solution[:n_x] > 0.5)]
        return self._result("mclp", chosen, status, gap, started, unreachable)

    def solve_lscp(self, *, time_limit: float = TIME_LIMIT_S) -> SitingResult:
        """The fewest new sites covering every residence that some candidate can reach (exact, HiGHS)."""
        started = time.perf_counter()
        reach, _w, _group, unreachable = self._groups()
        _n_cand, n_grp = reach.shape
        if n_grp == 0:
            return self._result("lscp", np.empty(0, dtype=int), "nothing to gain", 0.0, started, unreachable)
        useful = np.flatnonzero(np.diff(reach.indptr) > 0)
        sub = reach[useful].astype(float)
        a = sub.T.tocsr()  # groups × candidates: each group reached at least once
        solution, status, gap = _highs(
            cost=np.ones(len(useful)), lower=np.zeros(len(useful)), upper=np.ones(len(useful)),
            integer=np.ones(len(useful), bool), matrix=a, row_lower=np.ones(n_grp),
            row_upper=np.full(n_grp, np.inf), maximize=False, time_limit=time_limit)
        if solution is None:
            return self._result("lscp", np.empty(0, dtype=int), status, gap, started, unreachable)
        chosen = useful[np.flatnonzero(solution > 0.5)]
        return self._result("lscp", chosen, status, gap, started, unreachable)

    def greedy(self, k: int) -> SitingResult:
        """The usual heuristic: ``k`` times, the candidate adding the most uncovered weight."""
        started = time.perf_counter()
        reach, w, _, unreachable = self._groups()
        chosen = _greedy(reach.astype(float), w, k)
        return self._result("greedy", chosen, "greedy", float("nan"), started, unreachable)

    def evaluate(self, chosen: np.ndarray, model: str = "given") -> SitingResult:
        """What a given set of candidates covers (e.g. sites chosen by another method)."""
        return self._result(model, np.asarray(chosen, dtype=int), "given", float("nan"), time.perf_counter(), 0.0)

    def _greedy_start(self, reach: csr_matrix, w: np.ndarray, k: int, n_grp: int) -> np.ndarray:
        """A feasible start for the solver: the greedy sites and the groups they cover."""
        chosen = _greedy(reach, w, k)
        x = np.zeros(reach.shape[0])
        x[chosen] = 1
        y = (np.asarray(reach[chosen].sum(axis=0)).ravel() > 0).astype(float) if len(chosen) else np.zeros(n_grp)
        return np.r_[x, y]

    def _result(self, model: str, chosen: np.ndarray, status: str, gap: float, started: float,
                unreachable: float) -> SitingResult:
        before = float(self.weight[self.covered].sum())
        new = np.zeros(len(self.weight), dtype=bool)
        site_of = np.full(len(self.weight), -1)
        gains = np.zeros(len(chosen))
        if len(chosen):
            # order the sites by what each adds in turn (largest first), and credit each its own
            remaining = ~self.covered
            order, credit = [], []
            left = list(chosen)
            reach = self.reach
            while left:
                adds = [float(self.weight[reach[j].indices[remaining[reach[j].indices]]].sum()) for j in left]
                best = int(np.argmax(adds))
                j = left.pop(best)
                order.append(j)
                credit.append(adds[best])
                hit = reach[j].indices
                fresh = hit[remaining[hit]]
                new[fresh] = True
                site_of[fresh] = len(order) - 1
                remaining[hit] = False
            chosen, gains = np.asarray(order, dtype=int), np.asarray(credit)
        after = before + float(self.weight[new].sum())
        return SitingResult(model, chosen, before, after, float(self.weight.sum()), status, gap,
                            time.perf_counter() - started, unreachable, gains, new, site_of)


def _greedy(reach: csr_matrix, w: np.ndarray, k: int) -> np.ndarray:
    """Greedy maximal covering on candidates × groups (sparse, one matrix-vector product a step)."""
    left = w.astype(float).copy()
    chosen: list[int] = []
    for _ in range(min(k, reach.shape[0])):
        gains = reach @ left
        j = int(np.argmax(gains))
        if gains[j] <= 0:
            break
        chosen.append(j)
        left[reach[j].indices] = 0
    return np.asarray(chosen, dtype=int)


def _hstack_rows(neg_reach_t: csr_matrix, n_grp: int) -> csr_matrix:
    """[[-Aᵀ, I], [1…1, 0]]: the MCLP rows (groups, then the count of sites)."""
    from scipy.sparse import bmat, identity
    from scipy.sparse import csr_matrix as csr

    n_x = neg_reach_t.shape[1]
    return bmat([[neg_reach_t, identity(n_grp, format="csr")],
                 [csr(np.ones((1, n_x))), None]], format="csr")


def _quiet_highs():
    """A HiGHS instance that prints nothing (its first construction writes a banner to the C stdout,
    which would land in the middle of a command's output)."""
    import os
    import sys

    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return h


def _highs(*, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, integer: np.ndarray, matrix: csr_matrix,
           row_lower: np.ndarray, row_upper: np.ndarray, maximize: bool, time_limit: float,
           start: np.ndarray | None = None) -> tuple[np.ndarray | None, str, float]:
    """Solve with HiGHS; (solution or None, status, relative gap)."""
    import highspy

    inf = highspy.kHighsInf
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    lp = highspy.HighsLp()
    m = matrix.tocsc()
    lp.num_col_, lp.num_row_ = m.shape[1], m.shape[0]
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = m.indptr.astype(np.int32)
    lp.a_matrix_.index_ = m.indices.astype(np.int32)
    lp.a_matrix_.value_ = m.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = m.shape[1], m.shape[0]
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    solution = np.asarray(h.getSolution().col_value, dtype=float)
    has = info.primal_solution_status == 2 and len(solution) == lp.num_col_
    if status == highspy.HighsModelStatus.kOptimal:
        return solution, "optimal", 0.0
    if status == highspy.HighsModelStatus.kTimeLimit:
        return (solution if has else None), "time limit", float(info.mip_gap)
    if status == highspy.HighsModelStatus.kInfeasible:
        return None, "infeasible", float("nan")
    return (solution if has else None), h.modelStatusToString(status).lower(), float(info.mip_gap)
