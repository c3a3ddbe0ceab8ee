"""Compound (小区) entry as people walk in: street crossings, the compound's own gates, a fallback.

Hand-built towns in CGCS2000 Gauss-Krüger CM 105°E (EPSG:4544) metres near Chengdu, where every
distance is known exactly, and an export → import round trip of the real Chengdu extract.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

from shequ.gis.coverage import Coverage, thresholds
from shequ.gis.network import WalkNetwork
from shequ.layers.exporting import export_layer
from shequ.layers.importing import import_file
from shequ.layers.osm import import_osm, read_osm
from shequ.layers.store import Store

CRS = 4544
X, Y = 400_000.0, 3_390_000.0


def at(x: float, y: float) -> tuple[float, float]:
    return X + x, Y + y


def streets(*lines: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    geoms = [LineString([at(*p) for p in line]) for line in lines]
    return gpd.GeoDataFrame({"id": [f"s{i}" for i in range(len(geoms))], "walkable": True}, geometry=geoms, crs=CRS)


def compound(*xy: tuple[float, float]) -> Polygon:
    return Polygon([at(*p) for p in xy])


def rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return box(*at(x0, y0), *at(x1, y1))


def residences(*geoms) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({"id": [f"r{i}" for i in range(n)], "households": [100] * n}, geometry=list(geoms),
                            crs=CRS)


def kindergartens(*xy: tuple[float, float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [f"k{i}" for i in range(len(xy))], "type": "kindergarten"},
                            geometry=[Point(at(*p)) for p in xy], crs=CRS)


def solve(st: gpd.GeoDataFrame, res: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, limit: float = 2000,
          **kw) -> pd.DataFrame:
    net = WalkNetwork.from_streets(st, crs=CRS)
    th = thresholds(["kindergarten"], overrides={"kindergarten": limit})
    return Coverage(net, res, fac, th, **kw).solve().long.set_index("residence_id")


def entry_xy(st: gpd.GeoDataFrame, geom: Polygon) -> set[tuple[float, float]]:
    net = WalkNetwork.from_streets(st, crs=CRS)
    points, _ = net.entry_points(np.array([geom]))
    return {(round(p.x - X, 6), round(p.y - Y, 6)) for p in points}


def test_a_street_ending_inside_a_compound_enters_it_where_it_crosses_the_boundary() -> None:
    # Main street along y=0; a side street (drawn from its dead end) from (500, 0) north into the
    # compound, ending 150 m inside. People enter where it crosses the south side, (500, 100), not
    # at the street piece inside the compound that used to be chosen, (500, 150).
    st = streets([(0, 0), (500, 0), (1000, 0)], [(480, 250), (500, 150), (500, 0)])
    home = rect(400, 100, 600, 300)
    assert entry_xy(st, home) == {(500, 100)}
    got = solve(st, residences(home), kindergartens((100, -10)))
    assert got.loc["r0", "distance_m"] == pytest.approx(10 + 400 + 100, abs=1e-6)
    assert not got.loc["r0", "island"]


def test_a_street_through_a_compound_enters_it_on_both_sides_and_the_better_counts() -> None:
    # The street runs straight through the compound (x 300–500): entries at (300, 0) and (500, 0).
    st = streets([(0, 0), (350, 0), (450, 0), (1000, 0)])
    home = rect(300, -100, 500, 100)
    assert entry_xy(st, home) == {(300, 0), (500, 0)}
    got = solve(st, residences(home), kindergartens((900, 10)))
    assert got.loc["r0", "distance_m"] == pytest.approx(400 + 10, abs=1e-6)  # from the east side
    got = solve(st, residences(home), kindergartens((20, -10)))
    assert got.loc["r0", "distance_m"] == pytest.approx(280 + 10, abs=1e-6)  # from the west side


def test_internal_roads_on_an_island_do_not_cut_the_compound_off_from_a_public_street() -> None:
    # Compound 200–500 × 100–400. Its internal roads (a loop and a service road crossing the south
    # side at (300, 100) and stopping 5 m outside) are an island; a public spur from the main street
    # ends on the south side at (350, 100).
    loop = [(250, 150), (300, 150), (450, 150), (450, 350), (250, 350), (250, 150)]
    service = [(300, 150), (300, 95)]
    st = streets([(0, 0), (350, 0), (1000, 0)], [(350, 0), (350, 100)], loop, service)
    home = rect(200, 100, 500, 400)
    assert entry_xy(st, home) == {(300, 100), (350, 100)}
    got = solve(st, residences(home), kindergartens((700, 10)))
    assert got.loc["r0", "distance_m"] == pytest.approx(100 + 350 + 10, abs=1e-6)  # via the public spur
    assert not got.loc["r0", "island"]
    # A kindergarten on the internal roads serves its own compound directly.
    got = solve(st, residences(home), kindergartens((255, 250)))
    assert got.loc["r0", "distance_m"] == 0 and got.loc["r0", "facility_id"] == "k0"


def test_internal_roads_that_reach_no_boundary_are_not_where_people_come_from() -> None:
    # The same internal loop without a service road: 50 m inside the boundary, while the main street
    # is 100 m from the compound's south-west corner. The compound is entered from the main street.
    loop = [(250, 150), (450, 150), (450, 350), (250, 350), (250, 150)]
    st = streets([(0, 0), (1000, 0)], loop)
    home = compound((200, 100), (500, 110), (500, 400), (200, 400))
    assert entry_xy(st, home) == {(200, 100)}
    got = solve(st, residences(home), kindergartens((700, 10)))
    assert got.loc["r0", "distance_m"] == pytest.approx(100 + 500 + 10, abs=1e-6)
    assert not got.loc["r0", "island"]


@pytest.mark.parametrize(("main_x", "expected"), [(406, 5 + 10 + 1), (420, np.inf)])
def test_the_fallback_prefers_the_main_network_within_five_metres(main_x: float, expected: float) -> None:
    # No street meets the compound. An isolated path runs 3 m south of it; the main street runs
    # north–south east of it, nearest the corner (401, 300), where a side street leaves east.
    # Within 3 + 5 m the main street wins; 19 m away it does not, and the compound is on the island.
    st = streets([(main_x, -100), (main_x, 300), (main_x, 500)], [(main_x, 300), (main_x + 50, 300)],
                 [(250, 97), (350, 97)])
    home = compound((200, 100), (400, 100), (401, 300), (200, 300))
    got = solve(st, residences(home), kindergartens((main_x + 10, 301)))
    assert got.loc["r0", "distance_m"] == pytest.approx(expected, abs=1e-6)  # access, along the side street, 1 m
    assert bool(got.loc["r0", "island"]) == np.isinf(expected)


def _gate_town() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, list]:
    """Compounds A and B side by side between a south and a north street, sharing the gate G on
    their common corner (300, 250), 50 m from the north street; B has a second gate on its east
    side, (500, 240), 8 m from compound C, which lists no gate."""
    st = streets([(0, 0), (1000, 0)], [(0, 0), (0, 300)], [(0, 300), (1000, 300)])
    a, b = rect(100, 50, 300, 250), rect(300, 50, 500, 250)
    c = compound((508, 40), (700, 45), (700, 240), (508, 240))
    gate_g, gate_b = at(300, 250), at(500, 240)
    gates = [MultiPoint([gate_g]), MultiPoint([gate_g, gate_b]), None]
    return st, residences(a, b, c), kindergartens((300, 310)), gates


#: kindergarten on the north street at x=300: A and B through their shared gate, 50 + 10 m; C from its
#: own nearest corner (508, 40): 40 to the south street, 508 west, 300 north, 300 east, 10
GATE_EXPECTED = {"r0": 50 + 10, "r1": 50 + 10, "r2": 40 + 508 + 300 + 300 + 10}


def test_two_compounds_sharing_a_gate_both_use_it_and_a_neighbours_gate_is_not_an_entry() -> None:
    st, res, fac, gates = _gate_town()
    got = solve(st, res, fac, gates=gpd.GeoSeries(gates, crs=CRS))
    for rid, expected in GATE_EXPECTED.items():
        assert got.loc[rid, "distance_m"] == pytest.approx(expected, abs=1e-6), rid
    # Without gates A would walk round by the south street: its fallback is its south-west corner.
    got = solve(st, res, fac)
    assert got.loc["r0", "distance_m"] == pytest.approx(50 + 100 + 300 + 300 + 10, abs=1e-6)


@pytest.mark.parametrize("given", ["wkt list", "gates column", "geometries column"])
def test_gates_given_as_wgs84_wkt_or_as_a_column_of_the_residences(given: str) -> None:
    st, res, fac, gates = _gate_town()
    wgs84 = gpd.GeoSeries(gates, crs=CRS).to_crs(4326)
    wkt = [None if g is None else shapely.to_wkt(g, rounding_precision=10) for g in wgs84]
    if given == "wkt list":
        got = solve(st, res, fac, gates=wkt)
    else:
        res = res.assign(gates=wkt if given == "gates column" else wgs84.to_numpy())
        got = solve(st, res, fac)
    for rid, expected in GATE_EXPECTED.items():
        assert got.loc[rid, "distance_m"] == pytest.approx(expected, abs=1e-4), rid


def test_gates_must_be_one_item_per_residence() -> None:
    st, res, fac, gates = _gate_town()
    with pytest.raises(ValueError, match="one item per residence"):
        solve(st, res, fac, gates=gates[:2])


# ---- the same data stored differently gives the same distances --------------------------------
def _town_wgs84(stored: bool = True) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Every kind of entry, and sides parallel to streets (ties) on purpose; ``stored``: at 7 decimals."""
    loop = [(250, 150), (300, 150), (450, 150), (450, 350), (250, 350), (250, 150)]
    st = streets([(0, 0), (350, 0), (500, 0), (1000, 0)], [(350, 0), (350, 100)], loop, [(300, 150), (300, 95)],
                 [(500, 0), (500, 150), (480, 250)], [(0, 0), (0, 600)], [(0, 600), (1000, 600)],
                 [(1000, 0), (1000, 600)], [(700, 545), (900, 545)])
    res = residences(
        rect(200, 100, 400, 400),  # a public spur, the service road and the loop of an island
        rect(450, 100, 650, 300),  # a dead end inside; the island loop runs along its west side
        rect(700, 100, 900, 300),  # 100 m from the south and the east street: a tie along two sides
        rect(100, 450, 300, 500),  # 100 m from the west and the north street
        rect(700, 450, 900, 540),  # an island path 5 m north
        rect(550, 480, 650, 570),  # a gate on its north side
        Point(at(20, 30)),  # a point residence
    )
    gates = gpd.GeoSeries([None] * 5 + [MultiPoint([at(600, 570)]), None], crs=CRS).to_crs(4326)
    res["gates"] = [None if g is None else shapely.to_wkt(g, rounding_precision=12) for g in gates]
    fac = kindergartens((100, -10), (990, 300), (10, 585), (850, 550))
    frames = st.to_crs(4326), res.to_crs(4326), fac.to_crs(4326)
    return tuple(_rounded(f) for f in frames) if stored else frames


def _rounded(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """WGS84 coordinates at 7 decimals (about 1 cm), as GeoJSON exports and OSM have them."""
    frame = frame.set_geometry(shapely.transform(np.asarray(frame.geometry.values), lambda xy: np.round(xy, 7)),
                               crs=4326)
    if "gates" in frame:
        frame["gates"] = [shapely.to_wkt(shapely.from_wkt(g), rounding_precision=7) if isinstance(g, str) else None
                          for g in frame["gates"]]
    return frame


def _restored(frame: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """As an export → import might return it: other row order, CCW rings starting elsewhere, 7 decimals."""
    frame = frame.iloc[np.random.default_rng(seed).permutation(len(frame))].copy()
    geoms = shapely.orient_polygons(np.asarray(frame.geometry.values), exterior_cw=False)
    is_poly = shapely.get_type_id(geoms) == 3
    rings = [shapely.get_coordinates(shapely.get_exterior_ring(g))[:-1] for g in geoms[is_poly]]
    geoms[is_poly] = [Polygon(np.roll(r, 2, axis=0)) for r in rings]
    is_line = shapely.get_type_id(geoms) == 1
    geoms[is_line] = shapely.reverse(geoms[is_line])
    return _rounded(frame.set_geometry(geoms, crs=4326))


def _distances(st: gpd.GeoDataFrame, res: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, **kw) -> pd.Series:
    kw.setdefault("distances", {"kindergarten": 3000.0})
    result = Coverage.from_geodataframes(st, res, fac, **kw).solve()
    return result.long.set_index(["residence_id", "type"])["distance_m"].sort_index()


def _assert_same(before: pd.Series, after: pd.Series, tolerance: float = 0.01) -> None:
    after = after.reindex(before.index)
    assert (np.isfinite(before) == np.isfinite(after)).all()
    finite = np.isfinite(before)
    assert finite.sum() > 0
    assert np.abs(before[finite] - after[finite]).max() < tolerance


def test_order_ring_orientation_and_rounding_do_not_change_distances() -> None:
    st, res, fac = _town_wgs84()
    before = _distances(st, res, fac)
    assert np.isfinite(before).all()
    expected = {"r0": 100 + 250 + 10, "r1": 100 + 400 + 10, "r2": 100 + 200 + 100 + 300 + 10,
                "r3": 100 + 135 + 10, "r4": 5 + 150 + 5, "r5": 30 + 600 + 15 + 10, "r6": 20 + 30 + 100 + 10}
    for rid, d in expected.items():
        assert before.loc[(rid, "kindergarten")] == pytest.approx(d, abs=0.02), rid
    for seed in range(3):
        _assert_same(before, _distances(_restored(st, seed), _restored(res, seed + 10), _restored(fac, seed)))
    # Rounding itself moves every vertex by up to 0.6 cm, so distances move by a few centimetres;
    # an entry chosen elsewhere (a tie decided differently, a touch lost) would move them by metres.
    _assert_same(_distances(*_town_wgs84(stored=False)), before, tolerance=0.05)


def test_an_export_import_round_trip_of_the_chengdu_extract_gives_the_same_distances(
        chengdu_pbf: Path, tmp_path: Path) -> None:
    types = ["kindergarten", "primary_school", "market", "police_room", "bus_stop"]
    distances = dict.fromkeys(types, 1000.0)
    layers = read_osm(chengdu_pbf)
    before = _distances(layers.streets, layers.residences, layers.facilities, types=types, distances=distances)
    # (``_distances`` passes the residences' ``gates`` column; the store keeps it in ``extra``.)
    first, second = Store(f"sqlite:///{tmp_path}/a.db"), Store(f"sqlite:///{tmp_path}/b.db")
    try:
        import_osm(first, chengdu_pbf, show_progress=False)
        for layer in ("streets", "facilities", "residences"):
            path, _ = export_layer(first, layer, tmp_path / f"{layer}.geojson")
            import_file(second, path, layer)
        st, res, fac = (second.read(k) for k in ("streets", "residences", "facilities"))
    finally:
        first.dispose()
        second.dispose()
    rng = np.random.default_rng(7)  # another database may return the rows in another order
    st, res = st.iloc[rng.permutation(len(st))], res.iloc[rng.permutation(len(res))]
    gates = [e.get("gates") for e in res["extra"]]
    assert sum(g is not None for g in gates) == layers.residences["gates"].notna().sum()
    _assert_same(before, _distances(st, res, fac, types=types, distances=distances, gates=gates))
