"""Capacity-aware access (2SFCA, E2SFCA): by hand on a tiny town, and against PySAL ``access`` on a grid town.

Coordinates are metres in CGCS2000 Gauss-Krüger CM 105°E (EPSG:4544), near Chengdu.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_matrix
from shapely.geometry import LineString, Point, box

from shequ.gis.catchment import Catchment, decay, zone_edges
from shequ.gis.costs import DISTANCE_TOLERANCE_M, ZERO, DistanceMatrix, walking_distances
from shequ.gis.network import WalkNetwork

CRS = 4544
X, Y = 400_000.0, 3_390_000.0


# ---- the tiny town: one street, three kindergartens, four residences on it ------------------------
#
#   x (m):  100      250      400      600  650        1000 1050
#           R1 ───── K1 ───── R2 ───── R3 ─ K2 ─────── R4 ─ K3      (one street, y = 0)
#   children 120     90 pl.    60       80  60 pl.      40   no capacity
#
# Catchment 300 m. Walking distances within it (the residences and kindergartens stand on the street):
#   K1 (x 250): R1 150 m, R2 150 m            (R3 350 m: beyond)
#   K2 (x 650): R2 250 m, R3  50 m            (R4 350 m: beyond)
#   K3 (x 1050): R4 50 m — but K3 has no capacity: excluded, counted
def tiny_town() -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    street = gpd.GeoDataFrame({"id": ["s0"], "class": ["residential"], "walkable": [True]},
                              geometry=[LineString([(X, Y), (X + 1200, Y)])], crs=CRS)
    net = WalkNetwork.from_streets(street, crs=CRS)
    fac = gpd.GeoDataFrame({"id": ["K1", "K2", "K3"], "capacity": [90, 60, None]},
                           geometry=[Point(X + 250, Y), Point(X + 650, Y), Point(X + 1050, Y)], crs=CRS)
    res = gpd.GeoDataFrame({"id": ["R1", "R2", "R3", "R4"], "children": [120, 60, 80, 40],
                            "community": ["west", "west", "east", "east"]},
                           geometry=[Point(X + x, Y) for x in (100, 400, 600, 1000)], crs=CRS)
    return net, fac, res


def test_the_tiny_town_by_hand_2sfca() -> None:
    net, fac, res = tiny_town()
    model = Catchment.from_geodataframes(net, fac, res, 300, supply="capacity", demand="children")
    assert np.allclose(model.distances.distances().toarray(),
                       [[150, 150, 0, 0], [0, 250, 50, 0], [0, 0, 0, 50]])
    r = model.solve()
    # step 1: K1's catchment holds R1 and R2: 120 + 60 = 180 children, 90 places → 0.5 a child
    #         K2's holds R2 and R3: 60 + 80 = 140 children, 60 places → 60/140 = 0.428571… a child
    assert r.facility_demand[:2].tolist() == [180, 140]
    assert np.allclose(r.ratio[:2], [0.5, 60 / 140])
    assert np.isnan(r.ratio[2]) and r.excluded.tolist() == [False, False, True]
    # step 2: R1 reaches K1 → 0.5; R2 reaches K1 and K2 → 0.5 + 0.428571 = 0.928571; R3 reaches K2 →
    # 0.428571; R4 reaches only K3, which has no capacity → 0, and says so (uncounted 1)
    assert np.allclose(r.access, [0.5, 0.5 + 60 / 140, 60 / 140, 0.0])
    assert np.allclose(r.per_1000, [500, 928.571428571, 428.571428571, 0])
    assert r.reached.tolist() == [1, 2, 1, 0] and r.uncounted.tolist() == [0, 0, 0, 1]
    assert r.zero_access.tolist() == [False, False, False, True]
    # no place is created or lost: Σ children · access = 120·0.5 + 60·0.928571 + 80·0.428571 = 150 = 90 + 60
    assert np.isclose((res["children"] * r.access).sum(), 150)
    # per zone, the children-weighted mean: west (120·0.5 + 60·0.928571) / 180 = 0.642857 → 642.857 per 1 000;
    # east (80·0.428571 + 40·0) / 120 = 0.285714 → 285.714; R4's 40 children have none (40/120 of the east),
    # all of them beside a kindergarten without a capacity
    z = r.aggregate(res["community"]).set_index("zone")
    assert np.allclose(z.loc[["east", "west"], "access_per_1000"], [285.714285714, 642.857142857])
    assert z.loc["east", "zero_access_demand"] == 40 and np.isclose(z.loc["east", "zero_access_share"], 1 / 3)
    assert z.loc["east", "zero_access_uncounted_demand"] == 40 and z.loc["west", "zero_access_demand"] == 0
    whole = r.aggregate().iloc[0]  # (60 + 55.714 + 34.286) / 300 = 0.5 → 500 per 1 000; 40 of 300 with none
    assert np.isclose(whole["access_per_1000"], 500) and np.isclose(whole["zero_access_share"], 40 / 300)


def test_the_tiny_town_by_hand_e2sfca() -> None:
    net, fac, res = tiny_town()
    r = Catchment.from_geodataframes(net, fac, res, 300, demand="children", method="e2sfca").solve()
    # zones of 300 m: ≤ 100 m weighs 1.00, ≤ 200 m 0.68, ≤ 300 m 0.22 (Luo & Qi 2009)
    # step 1: K1: R1 at 150 m and R2 at 150 m weigh 0.68: 0.68·120 + 0.68·60 = 122.4 → 90/122.4 = 0.735294
    #         K2: R2 at 250 m weighs 0.22, R3 at 50 m 1.00: 0.22·60 + 80 = 93.2 → 60/93.2 = 0.643777
    assert np.allclose(r.facility_demand[:2], [122.4, 93.2])
    assert np.allclose(r.ratio[:2], [90 / 122.4, 60 / 93.2])
    # step 2: R1 = 0.68·0.735294 = 0.5; R2 = 0.68·0.735294 + 0.22·0.643777 = 0.5 + 0.141631 = 0.641631;
    #         R3 = 1.00·0.643777; R4 = 0
    assert np.allclose(r.access, [0.5, 0.5 + 0.22 * 60 / 93.2, 60 / 93.2, 0.0])
    # still 150 places shared: 120·0.5 + 60·0.641631 + 80·0.643777 = 60 + 38.498 + 51.502
    assert np.isclose((res["children"] * r.access).sum(), 150)


def test_zone_edges_belong_to_their_zone() -> None:
    assert zone_edges(300).tolist() == [100, 200, 300]
    d = np.array([0, 100, 100.001, 200, 250, 300, 300 + DISTANCE_TOLERANCE_M / 2, 301])
    assert decay(d, 300, "e2sfca").tolist() == [1, 1, 0.68, 0.68, 0.22, 0.22, 0.22, 0]
    assert decay(d, 300, "2sfca").tolist() == [1, 1, 1, 1, 1, 1, 1, 0]
    with pytest.raises(ValueError, match="method"):
        decay(d, 300, "3sfca")


def matrix(rows: list[list[float]], limit: float = 300) -> DistanceMatrix:
    """A DistanceMatrix from a dense table (inf: beyond; 0: stored as ZERO, as ``walking_distances`` does)."""
    d = np.asarray(rows, dtype=float)
    r, c = np.nonzero(np.isfinite(d))
    return DistanceMatrix(csr_matrix((np.maximum(d[r, c], ZERO), (r, c)), shape=d.shape), limit)


def test_a_facility_inside_a_compound_idle_places_and_missing_figures() -> None:
    inf = np.inf
    # F0 stands inside R0's compound (0 m); F1 reaches only R2, which has no children; F2 reaches R1
    dm = matrix([[0, 120, inf], [inf, inf, 80], [inf, 200, inf]])
    r = Catchment(dm, [50, 30, 40], [100, np.nan, 0]).solve()
    # F0: 100 children (R1's figure is missing: it counts as none) → 0.5; F1: no demand → idle, no ratio;
    # F2: R1 alone, no figure → idle too
    assert np.allclose(r.facility_demand, [100, 0, 0]) and np.isclose(r.ratio[0], 0.5)
    assert np.isnan(r.ratio[1:]).all() and r.idle.tolist() == [False, True, True]
    assert np.allclose(r.access, [0.5, 0.5, 0.0])
    assert r.aggregate().iloc[0]["missing_demand"] == 1
    # a catchment shorter than the matrix's limit drops the pairs beyond it
    short = Catchment(dm, [50, 30, 40], [100, 10, 5], distance_m=100).solve()
    assert np.allclose(short.facility_demand, [100, 5, 0])
    with pytest.raises(ValueError, match="beyond the distances measured"):
        Catchment(dm, [50, 30, 40], [100, 10, 5], distance_m=400)


def test_without_any_capacity_nothing_is_measured_and_nothing_is_zero() -> None:
    r = Catchment(matrix([[50, 100]]), [np.nan], [10, 20]).solve()
    assert not r.measured and np.isnan(r.access).all() and not r.zero_access.any()
    assert r.uncounted.tolist() == [1, 1] and r.excluded.tolist() == [True]
    assert np.isnan(r.aggregate().iloc[0]["access_per_1000"])
    # no facility at all is measured: nobody has access
    none = Catchment(DistanceMatrix(csr_matrix((0, 2)), 300), np.empty(0), [10, 20]).solve()
    assert none.measured and none.access.tolist() == [0, 0] and none.zero_access.all()


# ---- against PySAL access -------------------------------------------------------------------------
def grid_town(seed: int = 7) -> tuple[WalkNetwork, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A 1.2 km grid of streets every 100 m; 160 residences (points inside blocks and compounds, a few
    with their own gate); 24 facilities, four of them inside compounds and five without a capacity."""
    rng = np.random.default_rng(seed)
    ticks = np.arange(0, 1201, 100.0)
    # a vertex at every crossing: streets meet only where they share one
    lines = ([LineString([(X + u, Y + t) for u in ticks]) for t in ticks]
             + [LineString([(X + t, Y + u) for u in ticks]) for t in ticks])
    streets = gpd.GeoDataFrame({"id": [f"s{i}" for i in range(len(lines))], "class": "residential",
                                "walkable": True}, geometry=lines, crs=CRS)
    net = WalkNetwork.from_streets(streets, crs=CRS)
    blocks = rng.choice(144, size=20, replace=False)
    compounds = [box(X + (b % 12) * 100 + 10, Y + (b // 12) * 100 + 10, X + (b % 12) * 100 + 90,
                     Y + (b // 12) * 100 + 90) for b in blocks]
    pts = [Point(X + x, Y + y) for x, y in rng.uniform(5, 1195, size=(140, 2))]
    res = gpd.GeoDataFrame({"id": [f"r{i}" for i in range(160)],
                            "children": rng.integers(1, 200, size=160)}, geometry=compounds + pts, crs=CRS)
    inside = [shapely.centroid(c) for c in compounds[:4]]
    fac_pts = inside + [Point(X + x, Y + y) for x, y in rng.uniform(0, 1200, size=(20, 2))]
    capacity = rng.integers(30, 300, size=24).astype(float)
    capacity[[3, 8, 11, 17, 20]] = np.nan
    fac = gpd.GeoDataFrame({"id": [f"f{i}" for i in range(24)], "capacity": capacity}, geometry=fac_pts, crs=CRS)
    return net, fac, res


def pysal_access(dm: DistanceMatrix, fac: gpd.GeoDataFrame, res: gpd.GeoDataFrame, distance: float,
                 method: str) -> np.ndarray:
    """PySAL access's 2SFCA / E2SFCA on the same pairs (its cost table: origin = residence, dest = facility)."""
    from access import Access, weights

    d = dm.distances().tocoo()
    cost = pd.DataFrame({"origin": res["id"].to_numpy()[d.col], "dest": fac["id"].to_numpy()[d.row],
                         "cost": d.data})
    counted = fac[fac["capacity"].notna()]  # ours excludes facilities without a capacity: so does the reference
    cost = cost[cost["dest"].isin(counted["id"])]
    a = Access(demand_df=pd.DataFrame({"id": res["id"], "children": res["children"].astype(float)}),
               demand_index="id", demand_value="children",
               supply_df=pd.DataFrame({"id": counted["id"], "capacity": counted["capacity"]}), supply_index="id",
               supply_value="capacity", cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    limit = distance + DISTANCE_TOLERANCE_M  # our engine's slack at the catchment's edge
    if method == "2sfca":
        out = a.two_stage_fca(max_cost=limit)  # raw (normalize=False): places per person, as ours
    else:
        e1, e2, _ = zone_edges(distance)
        out = a.enhanced_two_stage_fca(max_cost=limit, weight_fn=weights.step_fn({e1: 1.0, e2: 0.68, limit: 0.22}))
    # residences no facility reaches are missing from PySAL's answer (NaN after its join): no access
    return out.iloc[:, 0].reindex(res["id"]).fillna(0.0).to_numpy()


@pytest.mark.filterwarnings("ignore:The inplace keyword")  # PySAL's own use of pandas
@pytest.mark.parametrize("method", ["2sfca", "e2sfca"])
def test_agrees_with_pysal_access_per_residence(method: str) -> None:
    net, fac, res = grid_town()
    distance = 300.0
    res_m = np.asarray(res.geometry.values)
    gates = np.array([None] * len(res), dtype=object)
    gates[2] = shapely.MultiPoint([(X + (shapely.bounds(res_m[2])[0]), shapely.centroid(res_m[2]).y)])
    dm = walking_distances(net, np.asarray(fac.geometry.values), res_m, distance, gates=gates)
    inside = dm.within(0.0).toarray()  # the four facilities inside compounds serve them at 0 m
    assert inside[np.arange(4), np.arange(4)].all()
    ours = Catchment(dm, fac["capacity"].to_numpy(), res["children"].to_numpy(), method=method).solve()
    theirs = pysal_access(dm, fac, res, distance, method)
    assert (theirs > 0).sum() > 100 and (ours.access == 0).sum() >= 1  # a real mix of served and not
    np.testing.assert_allclose(ours.access, theirs, rtol=1e-9, atol=0)
    # and the model built from the frames measures the same distances
    again = Catchment.from_geodataframes(net, fac, res, distance, demand="children", gates=gates, method=method)
    np.testing.assert_allclose(again.solve().access, ours.access, rtol=1e-12, atol=0)
    # every counted place with demand in reach is shared out, none made up
    counted = ~ours.idle & ~ours.excluded
    assert np.isclose((res["children"] * ours.access).sum(), fac["capacity"].to_numpy()[counted].sum())
