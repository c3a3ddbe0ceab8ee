"""The walking engine on small hand-built networks, where every distance is known exactly.

Coordinates are metres in CGCS2000 Gauss-Krüger CM 105°E (EPSG:4544), near Chengdu.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, box

from shequ.gis.coverage import Coverage, thresholds
from shequ.gis.isochrones import service_areas
from shequ.gis.network import WalkNetwork

CRS = 4544
X, Y = 400_000.0, 3_390_000.0


def streets(*lines: list[tuple[float, float]], walkable: list[bool] | None = None) -> gpd.GeoDataFrame:
    geoms = [LineString([(X + x, Y + y) for x, y in line]) for line in lines]
    return gpd.GeoDataFrame({"id": [f"s{i}" for i in range(len(geoms))], "class": "residential",
                             "walkable": walkable or [True] * len(geoms)}, geometry=geoms, crs=CRS)


def points(*xy: tuple[float, float], **cols: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=[Point(X + x, Y + y) for x, y in xy], crs=CRS)


def residences(geoms: list, households: list[int] | None = None) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({"id": [f"r{i}" for i in range(n)], "households": households or [100] * n,
                             "population": [262] * n, "elderly": [49] * n, "children": [47] * n},
                            geometry=geoms, crs=CRS)


def kindergartens(*xy: tuple[float, float]) -> gpd.GeoDataFrame:
    return points(*xy, id=[f"k{i}" for i in range(len(xy))], type=["kindergarten"] * len(xy))


def solve(st: gpd.GeoDataFrame, res: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, limit: float = 300, **kw):
    net = WalkNetwork.from_streets(st, crs=CRS)
    cov = Coverage(net, res, fac, thresholds(["kindergarten"], overrides={"kindergarten": limit}), **kw)
    return cov.solve().long.set_index("residence_id")


def test_junctions_split_streets_and_crossings_without_a_shared_vertex_do_not() -> None:
    # A cross sharing its centre vertex, and a bridge over it sharing none.
    st = streets([(0, 0), (100, 0), (200, 0)], [(100, -100), (100, 0), (100, 100)], [(150, -100), (150, 100)])
    net = WalkNetwork.from_streets(st, crs=CRS)
    assert net.n_edges == 5  # 4 arms of the cross + the bridge
    assert sorted(np.round(net.edge_length).astype(int).tolist()) == [100, 100, 100, 100, 200]
    assert len(net.islands()) == 1  # the bridge is its own component, reported
    edges = net.edges_geodataframe()
    assert np.allclose(edges.length, edges["length_m"])


def test_non_walkable_streets_are_dropped() -> None:
    st = streets([(0, 0), (500, 0)], [(0, 10), (500, 10)], walkable=[True, False])
    assert WalkNetwork.from_streets(st, crs=CRS).n_edges == 1


def test_exact_distance_along_the_same_edge_with_access_legs() -> None:
    st = streets([(0, 0), (1000, 0)])
    got = solve(st, residences([Point(X + 400, Y - 20)]), kindergartens((100, 10)), limit=400)
    assert got.loc["r0", "distance_m"] == pytest.approx(300 + 20 + 10, abs=1e-6)
    assert got.loc["r0", "facility_id"] == "k0"
    assert got.loc["r0", "straight_m"] == pytest.approx(np.hypot(300, 30), abs=1e-6)


def test_partial_segment_takes_the_shorter_way_round() -> None:
    # A square block 200 × 200; facility at a corner, residence on the far side, 50 m from corner (200, 200).
    st = streets([(0, 0), (200, 0), (200, 200), (0, 200), (0, 0)])
    got = solve(st, residences([Point(X + 150, Y + 200)]), kindergartens((0, 0)), limit=1000)
    assert got.loc["r0", "distance_m"] == pytest.approx(min(200 + 200 + 50, 200 + 150), abs=1e-6)


def test_snapping_to_segments_not_nodes() -> None:
    # Nodes are 1 000 m apart; both points sit mid-edge, 50 m apart along the street.
    st = streets([(0, 0), (1000, 0)], [(1000, 0), (2000, 0)])
    got = solve(st, residences([Point(X + 520, Y + 5)]), kindergartens((470, -5)))
    assert got.loc["r0", "distance_m"] == pytest.approx(60, abs=1e-6)
    assert bool(got.loc["r0", "covered"])


def test_facility_on_a_dead_end() -> None:
    # Main street along y=0, a 120 m cul-de-sac north from x=300, kindergarten at its closed end.
    st = streets([(0, 0), (300, 0), (600, 0)], [(300, 0), (300, 120)])
    got = solve(st, residences([Point(X + 50, Y)]), kindergartens((300, 120)), limit=400)
    assert got.loc["r0", "distance_m"] == pytest.approx(250 + 120, abs=1e-6)


def test_residence_exactly_at_the_limit_is_covered_and_one_metre_more_is_not() -> None:
    st = streets([(0, 0), (1000, 0)])
    res = residences([Point(X + 300, Y), Point(X + 301, Y)])
    got = solve(st, res, kindergartens((0, 0)), limit=300)
    assert got.loc["r0", "distance_m"] == pytest.approx(300, abs=1e-6) and bool(got.loc["r0", "covered"])
    assert not bool(got.loc["r1", "covered"]) and np.isinf(got.loc["r1", "distance_m"])
    assert pd.isna(got.loc["r1", "facility_id"])


def test_island_is_flagged_and_reported() -> None:
    st = streets([(0, 0), (200, 0)], [(0, 500), (200, 500)])  # two unconnected streets
    net = WalkNetwork.from_streets(st, crs=CRS)
    res = residences([Point(X + 100, Y + 505), Point(X + 150, Y + 5)])
    cov = Coverage(net, res, kindergartens((10, 0)), thresholds(["kindergarten"], overrides={"kindergarten": 300}))
    result = cov.solve()
    got = result.long.set_index("residence_id")
    assert bool(got.loc["r0", "island"]) and not bool(got.loc["r1", "island"])
    assert np.isinf(got.loc["r0", "distance_m"])  # straight line says 500 m, the network says never
    assert got.loc["r0", "straight_m"] == pytest.approx(np.hypot(90, 505))
    assert len(result.islands) == 1 and result.islands["length_m"].iloc[0] == pytest.approx(200)


def test_compound_is_entered_from_the_boundary_point_nearest_the_street() -> None:
    st = streets([(0, 0), (1000, 0)])
    diamond = shapely.Polygon([(X + 300, Y + 30), (X + 400, Y + 130), (X + 300, Y + 230), (X + 200, Y + 130)])
    got = solve(st, residences([diamond]), kindergartens((600, -10)), limit=400)
    # entered at its southern tip (300, 30): 30 m to the street, 300 m along it, 10 m to the facility
    assert got.loc["r0", "distance_m"] == pytest.approx(30 + 300 + 10, abs=1e-6)
    # a straight line from the compound's edge is shorter: that is what circles on a map overstate
    assert got.loc["r0", "straight_m"] < got.loc["r0", "distance_m"]


def test_facility_inside_the_compound_serves_it_directly() -> None:
    # The Chengdu case: a kindergarten 36 m inside a compound is far by street from the centre point.
    st = streets([(0, 0), (1000, 0)], [(0, 0), (0, 600)])
    compound = box(X + 100, Y + 100, X + 500, Y + 500)
    got = solve(st, residences([compound]), kindergartens((136, 300)))
    assert got.loc["r0", "distance_m"] == 0 and got.loc["r0", "facility_id"] == "k0"


def test_gates_are_used_when_given() -> None:
    # A compound between two unconnected streets: 80 m to the south one, 50 m to the north one.
    st = streets([(0, -30), (1000, -30)], [(0, 400), (1000, 400)])
    compound = box(X + 100, Y + 50, X + 300, Y + 350)
    net = WalkNetwork.from_streets(st, crs=CRS)
    th = thresholds(["kindergarten"], overrides={"kindergarten": 500})
    south_kindergarten = kindergartens((200, -40))
    without = Coverage(net, residences([compound]), south_kindergarten, th).solve().long
    assert np.isinf(without["distance_m"].iloc[0])  # entered from the north (nearest street): no way south
    # Gates are per residence (one item per residence row), here in the streets' metric CRS.
    gate = gpd.GeoSeries([Point(X + 200, Y + 50)], crs=CRS)  # the compound's real gate is on the south side
    with_gate = Coverage(net, residences([compound]), south_kindergarten, th, gates=gate).solve().long
    assert with_gate["distance_m"].iloc[0] == pytest.approx(80 + 10, abs=1e-6)
    far_gate = gpd.GeoSeries([Point(X + 200, Y + 200)], crs=CRS)  # not on the boundary: ignored
    ignored = Coverage(net, residences([compound]), south_kindergarten, th, gates=far_gate).solve().long
    assert np.isinf(ignored["distance_m"].iloc[0])


def test_a_compound_with_two_gates_takes_the_better_one() -> None:
    # Gates on the west (20 m from the street x=0) and east (10 m from x=700) sides; a kindergarten
    # on each street. Each gate reaches its own street only: the compound's distance is the best.
    st = streets([(0, -500), (0, 500)], [(700, -500), (700, 500)])
    compound = box(X + 20, Y - 100, X + 690, Y + 100)
    gates = gpd.GeoSeries([MultiPoint([(X + 20, Y), (X + 690, Y)])], crs=CRS)  # the compound's two gates
    net = WalkNetwork.from_streets(st, crs=CRS)
    th = thresholds(["kindergarten"], overrides={"kindergarten": 500})
    got = Coverage(net, residences([compound]), kindergartens((-5, 200), (705, -100)), th,
                   gates=gates).solve().long
    assert got["distance_m"].iloc[0] == pytest.approx(min(20 + 200 + 5, 10 + 100 + 5), abs=1e-6)
    assert got["facility_id"].iloc[0] == "k1"


def test_a_loop_street_walks_directly_or_round_whichever_is_shorter() -> None:
    # A closed 400 m ring met by a spur at its single junction (0, 0). Facility and residences sit
    # on the ring's one edge: one 50 m along it, one 390 m along it (10 m the other way round).
    ring = [(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)]
    st = streets(ring, [(0, 0), (-200, 0)])
    res = residences([Point(X + 60, Y - 1), Point(X, Y + 10)])
    got = solve(st, res, kindergartens((10, 1)), limit=400)
    assert got.loc["r0", "distance_m"] == pytest.approx(50 + 1 + 1, abs=1e-6)
    assert got.loc["r1", "distance_m"] == pytest.approx(10 + 10 + 1, abs=1e-6)


def test_the_nearest_of_several_facilities_is_named() -> None:
    st = streets([(0, 0), (500, 0), (1000, 0)])
    res = residences([Point(X + 100, Y), Point(X + 900, Y), Point(X + 480, Y)])
    got = solve(st, res, kindergartens((0, 0), (1000, 0), (520, 0)), limit=300)
    assert got.loc["r0", "facility_id"] == "k0" and got.loc["r0", "distance_m"] == pytest.approx(100)
    assert got.loc["r1", "facility_id"] == "k1" and got.loc["r1", "distance_m"] == pytest.approx(100)
    # across a junction, the same edge does not matter
    assert got.loc["r2", "facility_id"] == "k2" and got.loc["r2", "distance_m"] == pytest.approx(40)


def test_isochrone_includes_partial_segments_and_is_sane() -> None:
    st = streets([(0, 0), (500, 0), (1000, 0)], [(500, 0), (500, 1000)])
    net = WalkNetwork.from_streets(st, crs=CRS)
    origin = Point(X + 300, Y + 5)
    (area,) = service_areas(net, np.array([origin]), 300, buffer_m=10)
    assert area.contains(origin) and area.area <= np.pi * 300**2
    # Reached: x from 0 to 600 along y=0 (5 m access leaves 295 m each way; 200 m to the junction,
    # then 95 m up the side street).
    assert area.contains(Point(X + 590, Y)) and not area.contains(Point(X + 610, Y))
    assert area.contains(Point(X + 500, Y + 90)) and not area.contains(Point(X + 500, Y + 110))
    assert area.contains(Point(X + 10, Y))


def test_isochrone_of_a_point_far_from_any_street() -> None:
    st = streets([(0, 0), (100, 0)])
    net = WalkNetwork.from_streets(st, crs=CRS)
    origin = Point(X + 50, Y + 800)
    (area,) = service_areas(net, np.array([origin]), 300, buffer_m=25)
    assert area.contains(origin) and area.area <= np.pi * 300**2


def test_coverage_summary_counts_people() -> None:
    st = streets([(0, 0), (1000, 0)])
    res = residences([Point(X + 100, Y), Point(X + 900, Y)], households=[300, 500])
    net = WalkNetwork.from_streets(st, crs=CRS)
    result = Coverage(net, res, kindergartens((0, 0)), thresholds(["kindergarten"])).solve()
    row = result.summary().iloc[0]
    assert (row["households"], row["households_covered"]) == (800, 300)
    assert row["households_rate"] == pytest.approx(300 / 800)
    assert row["distance_m"] == 300 and row["distance_status"] == "secondary"
    gaps = result.gaps()
    assert len(gaps) == 1 and gaps["households"].iloc[0] == 500 and gaps.crs.to_epsg() == 4326


def test_thresholds_by_level_and_catalog() -> None:
    assert thresholds(["kindergarten"])["kindergarten"].distance_m == 300
    by_level = thresholds(["kindergarten", "market"], level="15min")
    assert by_level["market"].distance_m == 1000 and "800–1000" in by_level["market"].note
    assert thresholds(["market"], level="10min")["market"].status == "verified"
    with pytest.raises(ValueError, match="unknown facility type"):
        thresholds(["kindergarden"])


def test_isochrone_fills_the_blocks_it_walks_around() -> None:
    # A 100 m square block; from a corner, 450 m walks all the way round it.
    st = streets([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)], [(0, 0), (-300, 0)])
    net = WalkNetwork.from_streets(st, crs=CRS)
    origin = Point(X, Y)
    (filled,) = service_areas(net, np.array([origin]), 450, buffer_m=10)
    (hollow,) = service_areas(net, np.array([origin]), 450, buffer_m=10, fill_holes=False)
    assert filled.contains(Point(X + 50, Y + 50)) and not hollow.contains(Point(X + 50, Y + 50))
    assert filled.area <= np.pi * 450**2
