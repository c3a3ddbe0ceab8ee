"""Siting (``gis/siting.py``, ``gis/costs.py``): MCLP and LSCP against enumeration, against spopt on the
same cost matrix, the walking distances against the coverage engine, and the command-line loop on the
demo (sites proposed, kept as a scenario, and found again by coverage).

Towns are built by hand in metres (EPSG:4547, CGCS2000 Gauss-Krüger CM 114°E); every street is cut at
every junction (one line per block side), since lines crossing without a shared vertex do not meet.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS as ProjCRS
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, MultiPoint, Point, box

from shequ.gis.costs import DISTANCE_TOLERANCE_M, ZERO, source_snaps, walking_distances
from shequ.gis.coverage import Coverage, thresholds
from shequ.gis.network import WalkNetwork
from shequ.gis.reach import ReachGraph
from shequ.gis.siting import Siting, street_candidates

CRS = ProjCRS.from_epsg(4547)
X, Y = 500_000.0, 2_500_000.0


# ---- towns ---------------------------------------------------------------------------------------
def grid_lines(nx: int, ny: int, block: float = 100.0, x0: float = X, y0: float = Y) -> list[LineString]:
    """An nx × ny block grid, one line per block side (so every crossing is a junction)."""
    lines = []
    for j in range(ny + 1):
        lines += [LineString([(x0 + i * block, y0 + j * block), (x0 + (i + 1) * block, y0 + j * block)])
                  for i in range(nx)]
    for i in range(nx + 1):
        lines += [LineString([(x0 + i * block, y0 + j * block), (x0 + i * block, y0 + (j + 1) * block)])
                  for j in range(ny)]
    return lines


def network(lines: list[LineString]) -> WalkNetwork:
    return WalkNetwork.from_lines(np.asarray(lines, dtype=object), CRS)


def frame(points: list, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(points), crs=CRS)


def points(xy: list[tuple[float, float]]) -> np.ndarray:
    return np.asarray([Point(X + x, Y + y) for x, y in xy], dtype=object)


NO_FACILITY = frame([])


def street_town() -> tuple[Siting, dict[str, int]]:
    """One straight street, cut every 100 m; residences 10 m off it; 350 m walks. Greedy's trap:

        x (m):  100    300    500     800     1100    1300    1500        (+ distractors at 0, 1000, 1900)
        homes:  5 hh          5 hh    3 hh    5 hh            5 hh
        sites:         a               m               b

    a reaches 100 and 500 (210 m), b 1100 and 1500, m 500, 800 and 1100 (310, 10, 310 m). Greedy takes m
    first (13 households), then a or b (+5): 18; the best pair is a and b: 20.
    """
    net = network([LineString([(X + x, Y), (X + x + 100, Y)]) for x in range(0, 2000, 100)])
    res = frame(points([(100, 10), (500, 10), (800, 10), (1100, 10), (1500, 10)]), households=[5, 5, 3, 5, 5])
    names = ["a", "m", "b", "d0", "d1000", "d1900"]
    cand = points([(300, 0), (800, 0), (1300, 0), (0, 0), (1000, 0), (1900, 0)])
    return Siting.from_geodataframes(net, res, NO_FACILITY, cand, 350.0), {n: i for i, n in enumerate(names)}


def grid_town(seed: int = 3, n_res: int = 60, n_cand: int = 16, existing: list[tuple[float, float]] | None = None,
              distance: float = 180.0) -> tuple[Siting, np.ndarray, WalkNetwork]:
    """A 6 × 6 block grid (100 m blocks) with random homes (1–40 households) and ``n_cand`` street
    candidates drawn from the points every 50 m."""
    rng = np.random.default_rng(seed)
    net = network(grid_lines(6, 6))
    res = frame(shapely.points(rng.uniform([X, Y], [X + 600, Y + 600], (n_res, 2))),
                households=rng.integers(1, 41, n_res).astype(float))
    spots = street_candidates(net, spacing_m=50.0)
    cand = spots[np.sort(rng.choice(len(spots), n_cand, replace=False))]
    fac = frame(points(existing or []))
    return Siting.from_geodataframes(net, res, fac, cand, distance), cand, net


def best_by_enumeration(model: Siting, k: int) -> float:
    """The most any k candidates cover (with the existing facilities), each subset through ``evaluate``."""
    subsets = itertools.combinations(range(model.reach.shape[0]), k)
    return max(model.evaluate(np.array(c)).covered_after for c in subsets)


# ---- MCLP ----------------------------------------------------------------------------------------
def test_greedy_falls_into_the_trap_and_mclp_does_not() -> None:
    model, at = street_town()
    for k in (1, 2, 3):
        best = best_by_enumeration(model, k)
        exact = model.solve_mclp(k)
        assert exact.status == "optimal" and exact.gap == 0
        assert exact.covered_after == best
        assert model.greedy(k).covered_after <= best
    assert best_by_enumeration(model, 2) == 20
    assert model.greedy(2).covered_after == 18  # m first, then a or b
    assert set(model.solve_mclp(2).chosen) == {at["a"], at["b"]}


@pytest.mark.parametrize("seed", [3, 11])
def test_mclp_equals_the_best_of_every_k_subset_on_a_grid_town(seed: int) -> None:
    model, _cand, _net = grid_town(seed)
    for k in (1, 2, 3):
        exact = model.solve_mclp(k)
        assert exact.status == "optimal"
        assert exact.covered_after == pytest.approx(best_by_enumeration(model, k), abs=1e-9)
        assert exact.covered_after >= model.greedy(k).covered_after


def test_mclp_by_the_lagrangian_bound_and_fixing_still_equals_enumeration(monkeypatch) -> None:
    """The fixing path (few candidates left to HiGHS) must lose nothing: force it to fix early."""
    from shequ.gis import siting

    monkeypatch.setattr(siting, "FREE_TARGET", 10**9)  # go to the fixing after the first round
    monkeypatch.setattr(siting, "LAGRANGE_ROUND", 5)
    stats = []
    for seed in (5, 8):
        model, _cand, _net = grid_town(seed, n_res=80, n_cand=18)
        for k in (2, 3):
            exact = model.solve_mclp(k)
            assert exact.status == "optimal"
            assert exact.covered_after == pytest.approx(best_by_enumeration(model, k), abs=1e-9)
            stats.append(exact.stats)
    assert all(s["highs_status"] == "optimal" for s in stats)
    assert any(s["fixed_out"] for s in stats) and any(s["fixed_in"] for s in stats)


def test_existing_facilities_stay_and_their_reach_is_never_proposed_again() -> None:
    rng = np.random.default_rng(4)
    net = network(grid_lines(6, 6))
    res = frame(shapely.points(rng.uniform([X, Y], [X + 600, Y + 600], (80, 2))),
                households=rng.integers(1, 41, 80).astype(float))
    existing = frame(points([(300, 300), (100, 500)]))
    spots = street_candidates(net, spacing_m=50.0)
    # candidate 0 stands right beside the existing kindergarten at (300, 300)
    cand = np.r_[points([(300, 305)]), spots[np.sort(rng.choice(len(spots), 15, replace=False))]]
    model = Siting.from_geodataframes(net, res, existing, cand, 180.0)
    assert model.covered.any() and not model.covered.all()
    for k in (1, 2, 3, 40):
        r = model.solve_mclp(k)
        assert (r.site_gain > 0).all(), "every proposed site covers someone not yet covered"
        assert 0 not in r.chosen, "the site beside the existing kindergarten adds nothing"
        assert not (r.newly_covered & model.covered).any()
        assert r.covered_before == pytest.approx(model.weight[model.covered].sum())
        assert r.gain == pytest.approx(model.weight[r.newly_covered].sum())
        assert r.gain == pytest.approx(r.site_gain.sum())
        assert (r.site_of[r.newly_covered] >= 0).all() and (r.site_of[~r.newly_covered] == -1).all()
    many = model.solve_mclp(40)
    assert len(many.chosen) < 40, "fewer sites than asked when fewer add anything"
    assert many.covered_after + many.uncoverable == pytest.approx(model.weight.sum())


# ---- LSCP ----------------------------------------------------------------------------------------
def test_lscp_is_the_fewest_sites_covering_everyone_a_candidate_reaches() -> None:
    rng = np.random.default_rng(6)
    # a 6 × 6 grid and a spur out east, with one home at its end that no candidate reaches
    net = network([*grid_lines(6, 6), *(LineString([(X + x, Y), (X + x + 100, Y)]) for x in range(600, 1400, 100))])
    homes = [*shapely.points(rng.uniform([X, Y], [X + 600, Y + 600], (50, 2))), Point(X + 1400, Y + 10)]
    res = frame(homes, households=np.r_[rng.integers(1, 41, 50), 77].astype(float))
    spots = street_candidates(net, spacing_m=50.0)
    spots = spots[shapely.get_x(spots) < X + 600]
    cand = spots[np.sort(rng.choice(len(spots), 14, replace=False))]
    model = Siting.from_geodataframes(net, res, frame(points([(600, 600)])), cand, 180.0)
    r = model.solve_lscp()
    assert r.status == "optimal"
    reach = model.reach.toarray()
    coverable = reach.any(axis=0) & ~model.covered & (model.weight > 0)
    assert r.newly_covered[coverable].all() and not r.newly_covered[~coverable].any()
    assert r.uncoverable == pytest.approx(model.weight[~reach.any(axis=0) & ~model.covered].sum())
    assert r.uncoverable >= 77
    # the fewest: no smaller set of candidates covers every coverable home
    def covers(c: tuple[int, ...]) -> bool:
        return bool(reach[list(c)].any(axis=0)[coverable].all())

    fewest = next(m for m in range(1, len(cand) + 1) if any(map(covers, itertools.combinations(range(len(cand)), m))))
    assert len(r.chosen) == fewest


# ---- against spopt -------------------------------------------------------------------------------
def _pulp_solver():
    pulp = pytest.importorskip("pulp")
    available = pulp.listSolvers(onlyAvailable=True)
    for name in ("HiGHS", "PULP_CBC_CMD", "HiGHS_CMD"):
        if name in available:
            return pulp.getSolver(name, msg=False)
    pytest.skip("PuLP has no MILP solver here")


@pytest.mark.parametrize("k", [2, 4])
def test_mclp_covers_what_spopt_covers_on_the_same_cost_matrix(k: int) -> None:
    spopt_locate = pytest.importorskip("spopt.locate")
    rng = np.random.default_rng(9)
    net = network(grid_lines(5, 5))
    res = frame(shapely.points(rng.uniform([X, Y], [X + 500, Y + 500], (70, 2))),
                households=rng.integers(1, 60, 70).astype(float))
    cand = street_candidates(net, spacing_m=100.0)
    existing = points([(50, 50), (450, 250)])
    model = Siting.from_geodataframes(net, res, frame(existing), cand, 160.0)
    ours = model.solve_mclp(k)
    # the same walking distances as spopt's dense cost matrix: residences × (candidates, then existing)
    dm = walking_distances(net, np.r_[cand, existing], np.asarray(res.geometry.values), 160.0)
    dense = np.where(dm.within(160.0).toarray(), dm.distances().toarray(), np.inf).T
    predefined = np.r_[np.zeros(len(cand), int), np.ones(len(existing), int)]
    spopt = spopt_locate.MCLP.from_cost_matrix(dense, model.weight, service_radius=160.0,
                                               p_facilities=k + len(existing), predefined_facilities_arr=predefined)
    spopt.solve(_pulp_solver(), results=False)
    covered = sum(w * (v.value() or 0) for w, v in zip(model.weight, spopt.cli_vars, strict=True))
    assert ours.covered_after == pytest.approx(covered)
    x = np.array([v.value() or 0 for v in spopt.fac_vars])
    assert model.evaluate(np.flatnonzero(x[: len(cand)] > 0.5)).covered_after == pytest.approx(covered)


# ---- distances -----------------------------------------------------------------------------------
def test_walking_distances_agree_with_coverage_and_a_facility_inside_a_compound_serves_it_at_0_m() -> None:
    lines = grid_lines(4, 3)
    net = network(lines)
    compound = box(X + 120, Y + 120, X + 180, Y + 180)  # inside a block: entered where it is nearest a street
    gated = box(X + 220, Y + 20, X + 280, Y + 90)  # entered at its gate on the south street (y = 0)
    # no point is as near two streets (an exact tie is decided by position, which Coverage's WGS84 storage
    # moves by a nanometre)
    homes = [compound, gated, Point(X + 50, Y + 210), Point(X + 330, Y + 150), Point(X + 390, Y + 285)]
    gates = [None, MultiPoint([(X + 250, Y + 20)]), None, None, None]
    types = ["kindergarten", "clinic", "market", "primary_school"]
    fac_xy = [(135, 150), (0, 100), (300, 300), (250, 0)]  # the first inside ``compound``
    res = frame(homes, households=[100, 80, 10, 20, 30])
    fac = frame(points(fac_xy), type=types, id=[f"f{i}" for i in range(4)])
    limit = 260.0
    cov = Coverage(net, res, fac, thresholds(types, overrides=dict.fromkeys(types, limit)),
                   gates=gpd.GeoSeries(gates, crs=CRS)).solve()
    dm = walking_distances(net, np.asarray(fac.geometry.values), np.asarray(res.geometry.values), limit,
                           gates=np.asarray(gates, dtype=object))
    d = dm.distances().toarray()
    within = dm.within(limit).toarray()
    for i, t in enumerate(types):
        part = cov.long[cov.long["type"] == t].sort_values("residence")
        expected = part["distance_m"].to_numpy()
        ours = np.where(within[i], d[i], np.inf)
        assert np.array_equal(within[i], part["covered"].to_numpy()), t
        assert np.allclose(ours[within[i]], expected[within[i]], atol=DISTANCE_TOLERANCE_M), t
    assert d[0, 0] == 0 and within[0, 0] and dm.matrix[0, 0] == ZERO
    assert within.sum() >= 5  # the town has both reached and unreached pairs
    assert not within.all()


def _reference_distances(net: WalkNetwork, sources: np.ndarray, residences: np.ndarray, limit: float) -> np.ndarray:
    """Dense, by one Dijkstra per source over the whole graph (what the chunked search must equal)."""
    entries = net.entries(residences)
    g = ReachGraph.build(net, source_snaps(net, sources), entries.snap, entries.owner, len(residences))
    n, k = net.n_nodes, g.n_sources
    out = dijkstra(g.graph, directed=True, indices=n + np.arange(k), limit=limit + DISTANCE_TOLERANCE_M)[:, n + k:]
    return np.maximum(out, ZERO)


@pytest.mark.parametrize("chunk_cells", [50, 16_000_000])
def test_the_chunked_search_finds_every_pair_the_whole_graph_finds(chunk_cells: int) -> None:
    rng = np.random.default_rng(2)
    net = network(grid_lines(20, 12, block=80.0))  # 1.6 km × 1 km: many cells of the 150 m limit
    res = shapely.points(rng.uniform([X, Y], [X + 1600, Y + 960], (300, 2)))
    src = street_candidates(net, spacing_m=60.0)
    got = walking_distances(net, src, res, 150.0, chunk_cells=chunk_cells).matrix.toarray()
    ref = _reference_distances(net, src, res, 150.0)
    ref[~np.isfinite(ref)] = 0
    assert np.array_equal(got > 0, ref > 0)
    assert np.allclose(got, ref, atol=1e-9)


# ---- the command-line loop on the demo -----------------------------------------------------------
def test_plan_sites_on_the_demo_then_coverage_finds_the_same_households(demo_copy: str, tmp_path: Path) -> None:
    from shequ.cli import main

    out, cov = tmp_path / "sites", tmp_path / "coverage"
    assert main(["--db", demo_copy, "plan", "sites", "--type", "kindergarten", "--add", "3", "--save-as", "k3",
                 "--out", str(out)]) == 0
    with open(out / "summary.csv", encoding="utf-8-sig") as f:
        summary = {r["measure"]: r["value"] for r in csv.DictReader(f)}
    assert summary["status"] == "optimal" and summary["sites"] == "3"
    before, after = float(summary["households_covered_before"]), float(summary["households_covered_after"])
    newly = float(summary["households_newly_covered"])
    assert after - before == newly > 0
    sites = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))
    assert len(sites["features"]) == 3
    assert all("new_households" in f["properties"] for f in sites["features"])
    assert sum(f["properties"]["new_households"] for f in sites["features"]) == pytest.approx(newly)
    assert len(json.loads((out / "candidates.geojson").read_text(encoding="utf-8"))["features"]) > 3
    html = (out / "sites_map.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)

    assert main(["--db", demo_copy, "analyze", "coverage", "--types", "kindergarten", "--scenario", "k3",
                 "--no-save", "--quiet", "--out", str(cov)]) == 0
    with open(cov / "summary.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    whole = next(r for r in rows if r["zone_kind"] == "all" and r["type"] == "kindergarten")
    assert float(whole["households_covered"]) == after
