"""Where to put the next facilities: maximal covering (MCLP) and set covering (LSCP) on the walking network.

A model object in the spopt manner: ``Siting.from_geodataframes(...)`` measures, then
``solve_mclp(k)`` / ``solve_lscp()`` / ``greedy(k)``.

Why not spopt's ``MCLP``/``LSCP`` directly: they take a dense demand × candidate cost matrix and build
the model through PuLP one constraint at a time; at 100 000 residences × 10 000 candidates that matrix
alone is 8 GB. We build the same models from the sparse "reaches within the distance" matrix
(``gis/costs.py``), merge residences that the same candidates reach (the usual aggregation: it keeps
the optimum and shrinks the model by an order of magnitude), drop residences the existing facilities
already cover (they are fixed: MCLP with pre-sited facilities), and solve exactly with HiGHS
(``highspy``), which reports the optimality gap and whether a time limit stopped it. A test checks the
result against spopt's on the same cost matrix.

MCLP at city scale (10 000 candidates, 20 000 merged residence groups) is too big to hand to HiGHS
whole: HiGHS had not finished its root LP after a minute. So ``solve_mclp`` first runs the classic Lagrangian
relaxation of the coverage rows (subgradient steps, one sparse matrix-vector product each; Galvão &
ReVelle 1996), which gives an upper bound and good site sets within seconds, then fixes every
candidate the bound proves cannot be in a better solution (or must be), and hands only the rest to
HiGHS. Nothing is lost by the fixing: the result is the exact optimum of the whole model (or, at a time
limit, reported with its proven gap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix

from shequ.gis.costs import DistanceMatrix, row_columns, walking_distances
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
    stats: dict = field(default_factory=dict)  # how the solver got there (bounds, candidates fixed, seconds)

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
        merged, weights, inverse = _merge_rows(sub, self.weight[rows])
        group[rows] = inverse
        return merged.T.tocsr(), weights, group, unreachable

    def solve_mclp(self, k: int, *, time_limit: float = TIME_LIMIT_S) -> SitingResult:
        """``k`` new sites covering the most weight not yet covered (exact: Lagrangian bounds fix most
        candidates, HiGHS solves the rest). Fewer than ``k`` sites when fewer add anything."""
        started = time.perf_counter()
        reach, w, _group, unreachable = self._groups()
        _n_cand, n_grp = reach.shape
        if k <= 0 or n_grp == 0:
            return self._result("mclp", np.empty(0, dtype=int), "nothing to gain", 0.0, started, unreachable)
        useful = np.flatnonzero(np.diff(reach.indptr) > 0)
        k = min(k, len(useful))
        chosen, status, gap, stats = _mclp(reach[useful].astype(float).tocsr(), w, k, started + time_limit)
        result = self._result("mclp", useful[chosen], status, gap, started, unreachable)
        result.stats = stats
        return result

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
        solved = _highs(
            cost=np.ones(len(useful)), lower=np.zeros(len(useful)), upper=np.ones(len(useful)),
            integer=np.ones(len(useful), bool), matrix=a, row_lower=np.ones(n_grp),
            row_upper=np.full(n_grp, np.inf), maximize=False, time_limit=time_limit)
        if solved.x is None:
            return self._result("lscp", np.empty(0, dtype=int), solved.status, solved.gap, started, unreachable)
        chosen = useful[np.flatnonzero(solved.x > 0.5)]
        return self._result("lscp", chosen, solved.status, solved.gap, started, unreachable)

    def greedy(self, k: int) -> SitingResult:
        """The usual heuristic: ``k`` times, the candidate adding the most uncovered weight."""
        started = time.perf_counter()
        reach, w, _, unreachable = self._groups()
        chosen = _greedy(reach.astype(float), w, k)
        return self._result("greedy", chosen, "greedy", float("nan"), started, unreachable)

    def evaluate(self, chosen: np.ndarray, model: str = "given") -> SitingResult:
        """What a given set of candidates covers (e.g. sites chosen by another method)."""
        return self._result(model, np.asarray(chosen, dtype=int), "given", float("nan"), time.perf_counter(), 0.0)

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
            if model != "given":  # a site adding nothing is not proposed (k more than the weight needs)
                keep = gains > 0
                chosen, gains = chosen[keep], gains[keep]
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


def _merge_rows(m: csr_matrix, w: np.ndarray) -> tuple[csr_matrix, np.ndarray, np.ndarray]:
    """Rows of ``m`` with the same pattern merged, their weights summed: (unique rows, weights, the
    merged row of each row). Patterns are compared by two random projections and the count."""
    m = m.tocsr().astype(float)
    m.sort_indices()
    if m.shape[0] == 0:
        return m, np.empty(0), np.empty(0, dtype=int)
    rng = np.random.default_rng(0)
    keys = np.column_stack([m @ rng.random(m.shape[1]), m @ rng.random(m.shape[1]), np.diff(m.indptr)])
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    return m[first], np.bincount(inverse, weights=w, minlength=len(first)), inverse


#: the Lagrangian phase of MCLP: rounds of subgradient steps, each followed by a swap search and the
#: fixing; it ends when HiGHS is left few enough candidates, the fixing stops gaining, or at these caps
LAGRANGE_ROUND = 100
LAGRANGE_STEPS = 5000
LAGRANGE_SHARE = 0.3  # of the time limit
#: … "few enough": HiGHS proves such a rest optimal in well under a second; "stops gaining": over this
#: many rounds, fewer than 5 % more fixed and the bound lowered by less than 5 % of the gap
FREE_TARGET = 500
LAGRANGE_STALL_ROUNDS = 5
#: subgradient steps without a better bound before the step size halves; it stops below MIN_STEP
LAGRANGE_PATIENCE = 20
LAGRANGE_MIN_STEP = 1e-4
#: relative slack when comparing bounds with sums of weights (floating point)
BOUND_TOLERANCE = 1e-9


class _Cover:
    """What sets of candidates cover, on candidates × groups ``a`` with group weights ``w``."""

    def __init__(self, a: csr_matrix, w: np.ndarray) -> None:
        self.a, self.w = a, w
        self.at = a.T.tocsr()  # groups × candidates

    def counts(self, chosen: np.ndarray) -> np.ndarray:
        """How many of ``chosen`` reach each group."""
        return np.bincount(row_columns(self.a, chosen), minlength=self.a.shape[1])

    def value(self, chosen: np.ndarray) -> float:
        return float(self.w[self.counts(chosen) > 0].sum())

    def improve(self, chosen: np.ndarray, deadline: float) -> tuple[np.ndarray, float]:
        """Swap search: while some site out / candidate in swap covers more, make the best one."""
        a, at, w = self.a, self.at, self.w
        chosen = np.asarray(chosen, dtype=int).copy()
        counts = self.counts(chosen)
        while time.perf_counter() < deadline:
            gain = a @ (w * (counts == 0))  # what each candidate adds to the whole set
            gain[chosen] = -np.inf
            best, swap = BOUND_TOLERANCE * max(float(w.sum()), 1.0), None
            for pos, j in enumerate(chosen):
                mine = a.indices[a.indptr[j]:a.indptr[j + 1]]
                only = mine[counts[mine] == 1]  # groups j alone covers: lost without it …
                loss = float(w[only].sum())
                # … unless the candidate coming in reaches them too
                back = np.bincount(row_columns(at, only), weights=np.repeat(w[only], np.diff(at.indptr)[only]),
                                   minlength=a.shape[0])
                i = int(np.argmax(gain + back))
                if gain[i] + back[i] - loss > best:
                    best, swap = gain[i] + back[i] - loss, (pos, i)
            if swap is None:
                break
            pos, i = swap
            counts -= np.bincount(row_columns(a, chosen[pos:pos + 1]), minlength=a.shape[1])
            counts += np.bincount(row_columns(a, np.array([i])), minlength=a.shape[1])
            chosen[pos] = i
        return np.sort(chosen), float(w[counts > 0].sum())


class _Lagrangian:
    """The Lagrangian relaxation of MCLP's coverage rows, lowered by subgradient steps.

    For multipliers λ ≥ 0 per group, Σ max(0, w − λ) + the k largest of aλ bounds every solution from
    above; a step moves λ along (groups the bound counts − sites its k best reach), sized by Polyak's
    rule towards the best solution known. Each step's k best candidates are a solution too.
    """

    def __init__(self, cover: _Cover, k: int) -> None:
        self.cover, self.k = cover, k
        deg = np.diff(cover.at.indptr)
        self.lam = cover.w / np.maximum(deg, 1)  # each group's weight shared among the candidates reaching it
        self.best_lam, self.ub = self.lam, np.inf
        self.size, self.stall, self.steps = 2.0, 0, 0

    @property
    def converged(self) -> bool:
        return self.size < LAGRANGE_MIN_STEP

    def run(self, n: int, best: np.ndarray, lb: float, deadline: float) -> tuple[np.ndarray, float]:
        """Up to ``n`` steps; the best solution seen (``best`` unless a step found better) and its value."""
        a, w, k = self.cover.a, self.cover.w, self.k
        for _ in range(n):
            self.steps += 1
            c = a @ self.lam
            top = np.argpartition(-c, k - 1)[:k]
            bound = float(np.maximum(w - self.lam, 0).sum() + c[top].sum())
            if bound < self.ub:
                self.ub, self.best_lam, self.stall = bound, self.lam, 0
            else:
                self.stall += 1
                if self.stall >= LAGRANGE_PATIENCE:
                    self.size, self.stall = self.size / 2, 0
            counts = self.cover.counts(top)
            value = float(w[counts > 0].sum())
            if value > lb:
                lb, best = value, np.sort(top)
            if self.ub - lb <= BOUND_TOLERANCE * self.ub or self.converged or time.perf_counter() > deadline:
                break
            g = (w > self.lam) - counts
            norm = float(g @ g)
            if norm == 0:
                self.size = 0.0  # λ is optimal
                break
            self.lam = np.maximum(self.lam + self.size * (bound - lb) / norm * g, 0)
        return best, lb

    def fixed(self, lb: float) -> tuple[np.ndarray, np.ndarray]:
        """Candidates the lowest bound proves out of (in) every solution better than ``lb``: the bound
        with j forced in swaps j for the k-th best; forced out, the (k+1)-th for j."""
        a, w, k = self.cover.a, self.cover.w, self.k
        c = a @ self.best_lam
        order = np.argsort(-c, kind="stable")
        in_top = np.zeros(len(c), dtype=bool)
        in_top[order[:k]] = True
        bound = float(np.maximum(w - self.best_lam, 0).sum() + c[order[:k]].sum())
        kth, next_ = c[order[k - 1]], (c[order[k]] if k < len(c) else 0.0)
        with_j = np.where(in_top, bound, bound - kth + c)
        without_j = np.where(in_top, bound - c + next_, bound)
        slack = BOUND_TOLERANCE * max(bound, 1.0)
        return with_j < lb - slack, without_j < lb - slack


def _mclp(a: csr_matrix, w: np.ndarray, k: int, deadline: float) -> tuple[np.ndarray, str, float, dict]:
    """Exact MCLP on candidates × groups ``a`` (0 < k ≤ candidates): (chosen rows, status, gap, stats).

    1. Greedy and a swap search, then rounds of the Lagrangian relaxation (``_Lagrangian``), each
       followed by a swap search from the best solution so far.
    2. Fixing by the bound: a candidate whose forced choice bounds every solution below the best one
       found can never be in a better one (fixed out); one whose exclusion does must be in it (fixed in).
    3. HiGHS on the rest (groups merged again by the free candidates reaching them), started from the
       best solution. The optimum of the whole model is the better of the two, so "optimal" is exact;
       at the time limit the gap is (upper bound − found) / upper bound.
    """
    t0 = time.perf_counter()
    n_c = a.shape[0]
    if k >= n_c:
        return np.arange(n_c), "optimal", 0.0, {}
    cover = _Cover(a, w)
    lag_deadline = t0 + (deadline - t0) * LAGRANGE_SHARE
    best = _greedy(a, w, k)
    stats: dict = {"candidates": n_c, "groups": a.shape[1], "greedy": cover.value(best)}
    best, lb = cover.improve(best, lag_deadline)
    lag = _Lagrangian(cover, k)
    history: list[tuple[int, float]] = []  # candidates left free and the bound after each round
    while True:
        best, lb = lag.run(LAGRANGE_ROUND, best, lb, lag_deadline)
        best, lb = cover.improve(best, lag_deadline)
        if lag.ub - lb <= BOUND_TOLERANCE * lag.ub:
            stats.update(lagrange_steps=lag.steps, lagrange_bound=lag.ub, lagrange_best=lb,
                         lagrange_seconds=time.perf_counter() - t0, free=0)
            return best, "optimal", 0.0, stats
        out, one = lag.fixed(lb)
        history.append((int((~out & ~one).sum()), lag.ub))
        if len(history) > LAGRANGE_STALL_ROUNDS:  # neither fixing more nor lowering the bound any more
            (free_then, ub_then), (free_now, ub_now) = history[-1 - LAGRANGE_STALL_ROUNDS], history[-1]
            stalled = free_now > 0.95 * free_then and ub_then - ub_now < 0.05 * (ub_now - lb)
        else:
            stalled = False
        if (history[-1][0] <= FREE_TARGET or stalled or lag.converged or lag.steps >= LAGRANGE_STEPS
                or time.perf_counter() > lag_deadline):
            break
    stats.update(lagrange_steps=lag.steps, lagrange_bound=lag.ub, lagrange_best=lb,
                 lagrange_seconds=time.perf_counter() - t0)
    out[best] = False  # (they never are, but rounding must not lose the best solution)
    free = np.flatnonzero(~out & ~one)
    ones = np.flatnonzero(one)
    stats.update(fixed_out=int(out.sum()), fixed_in=len(ones), free=len(free))
    done = cover.counts(ones) > 0
    k_free = min(k - len(ones), len(free))
    if k_free <= 0:
        return best, "optimal", 0.0, stats
    open_ = np.flatnonzero(~done)
    sub = a[free][:, open_].tocsc()
    reached = np.flatnonzero(np.diff(sub.indptr) > 0)
    groups, gw, _ = _merge_rows(sub[:, reached].T.tocsr(), w[open_[reached]])
    sub = groups.T.tocsr()  # free candidates × merged groups
    n_x, n_g = sub.shape
    stats.update(reduced_groups=n_g, reduced_nonzeros=int(sub.nnz))
    x0 = np.isin(free, best).astype(float)
    y0 = (np.bincount(row_columns(sub, np.flatnonzero(x0)), minlength=n_g) > 0).astype(float)
    solved = _highs(
        cost=np.r_[np.zeros(n_x), gw], lower=np.zeros(n_x + n_g), upper=np.ones(n_x + n_g),
        integer=np.r_[np.ones(n_x, bool), np.zeros(n_g, bool)], matrix=_hstack_rows(-sub.T.tocsr(), n_g),
        row_lower=np.r_[np.full(n_g, -np.inf), k_free], row_upper=np.r_[np.zeros(n_g), k_free],
        maximize=True, time_limit=max(deadline - time.perf_counter(), 1.0), start=np.r_[x0, y0])
    stats.update(highs_status=solved.status, highs_seconds=solved.seconds)
    if solved.x is not None:
        found = np.r_[ones, free[solved.x[:n_x] > 0.5]].astype(int)
        value = cover.value(found)
        if value > lb:
            best, lb = np.sort(found), value
    if solved.status == "optimal":
        return best, "optimal", 0.0, stats
    upper = lag.ub
    if np.isfinite(solved.bound):  # the rest's bound, with what the fixed-in sites cover
        upper = min(upper, max(lb, float(w[done].sum()) + solved.bound))
    gap = max(upper - lb, 0.0) / upper if upper > 0 else 0.0
    return best, solved.status, gap, stats


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


@dataclass
class _Solved:
    x: np.ndarray | None  # the solution (None when there is none)
    status: str  # "optimal", "time limit", "infeasible", …
    gap: float  # HiGHS's relative gap
    bound: float  # HiGHS's bound on the objective (its dual bound)
    seconds: float


def _highs(*, cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, integer: np.ndarray, matrix: csr_matrix,
           row_lower: np.ndarray, row_upper: np.ndarray, maximize: bool, time_limit: float,
           start: np.ndarray | None = None) -> _Solved:
    """Solve with HiGHS (exact: no relative gap allowed)."""
    import highspy

    t0 = time.perf_counter()
    inf = highspy.kHighsInf
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 0.0)
    # no "threads": HiGHS's thread scheduler is one per process, made by the first solve; asking another
    # count later (PuLP's HiGHS in the same process uses the default) fails the run with "not set"
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
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else float("inf")
    seconds = time.perf_counter() - t0
    if status == highspy.HighsModelStatus.kOptimal:
        return _Solved(solution, "optimal", 0.0, bound, seconds)
    if status == highspy.HighsModelStatus.kTimeLimit:
        return _Solved(solution if has else None, "time limit", float(info.mip_gap), bound, seconds)
    if status == highspy.HighsModelStatus.kInfeasible:
        return _Solved(None, "infeasible", float("nan"), bound, seconds)
    return _Solved(solution if has else None, h.modelStatusToString(status).lower(), float(info.mip_gap), bound,
                   seconds)
