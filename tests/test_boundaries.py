"""Drafted communities and grids: exact tiling, nesting, codes, reasons — on random street layouts."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from shequ.gis.boundaries import draft_communities, draft_grids, reading_order, street_blocks

CRS = 4544  # CGCS2000 Gauss-Krüger CM 105°E, metres
X, Y = 400_000.0, 3_390_000.0


def _frame(geoms: list, crs: int = CRS, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=crs).to_crs(4326)


@st.composite
def towns(draw: st.DrawFn) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, shapely.Geometry]:
    """A town: jittered street grid with some streets missing, and residences with households."""
    nx, ny = draw(st.integers(3, 6)), draw(st.integers(3, 6))
    spacing = draw(st.sampled_from([120.0, 180.0, 250.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    xs = np.arange(nx + 1) * spacing + rng.uniform(-20, 20, nx + 1)
    ys = np.arange(ny + 1) * spacing + rng.uniform(-20, 20, ny + 1)
    lines = []
    for i, x in enumerate(xs):  # north-south streets, some interrupted
        for j in range(ny):
            if 0 < i < nx and rng.random() < 0.15:
                continue
            lines.append(LineString([(X + x, Y + ys[j]), (X + x + rng.uniform(-5, 5), Y + ys[j + 1])]))
    for j, y in enumerate(ys):
        for i in range(nx):
            if 0 < j < ny and rng.random() < 0.15:
                continue
            lines.append(LineString([(X + xs[i], Y + y), (X + xs[i + 1], Y + y + rng.uniform(-5, 5))]))
    n_res = draw(st.integers(5, 40))
    pts = [Point(X + rng.uniform(xs[0] + 60, xs[-1] - 60), Y + rng.uniform(ys[0] + 60, ys[-1] - 60))
           for _ in range(n_res)]
    # about half are compounds (小区) of 30–120 m, which streets and other compounds may cross
    geoms = [p if rng.random() < 0.5 else shapely.buffer(p, rng.uniform(15, 60), cap_style="square") for p in pts]
    hh = rng.integers(20, 400, n_res)
    residences = _frame(geoms, id=[f"r{k}" for k in range(n_res)], households=hh, population=np.round(hh * 2.62))
    streets = _frame(lines, id=[f"s{k}" for k in range(len(lines))], **{"class": "residential"}, walkable=True)
    area = box(X + xs[0] - 30, Y + ys[0] - 30, X + xs[-1] + 30, Y + ys[-1] + 30)
    return streets, residences, gpd.GeoSeries([area], crs=CRS).to_crs(4326).iloc[0]


def _metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(CRS)


def _assert_tiles(parts: np.ndarray, whole: shapely.Geometry, what: str) -> None:
    """``parts`` cover ``whole`` with no gap and no overlap (areas in m², 0.5 m² slack for reprojection)."""
    union = shapely.union_all(parts)
    assert shapely.area(shapely.symmetric_difference(union, whole)) < 0.5, f"{what}: gap or spill"
    assert abs(shapely.area(parts).sum() - shapely.area(union)) < 0.5, f"{what}: overlap"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(town=towns(), split=st.booleans())
def test_drafted_grids_tile_their_communities_exactly(town, split: bool) -> None:
    streets, residences, area = town
    comms = draft_communities(streets, residences, households_range=(800, 1600), area=area, county_code="510104")
    grids = draft_grids(comms, streets, residences, households_range=(300, 500), split_blocks=split)
    c, g = _metric(comms), _metric(grids)
    whole = gpd.GeoSeries([area], crs=4326).to_crs(CRS).iloc[0]
    _assert_tiles(np.asarray(c.geometry.values), whole, "communities")
    assert c["households"].sum() == residences["households"].sum() == g["households"].sum()
    # codes: 12 digits = county + draft street 900 + sequence; grids = community code + 3 digits
    assert c["code"].is_unique and all(re.fullmatch(r"510104900\d{3}", v) for v in c["code"])
    assert g["code"].is_unique and all(code.startswith(cc) and len(code) == 15
                                      for code, cc in zip(g["code"], g["community_code"], strict=True))
    assert set(g.geom_type) <= {"Polygon"} and g.is_valid.all()
    for code, community in zip(c["code"], c.geometry, strict=True):
        mine = g[g["community_code"] == code]
        assert len(mine), f"community {code} has no grid"
        _assert_tiles(np.asarray(mine.geometry.values), community, f"grids of {code}")
        # never crossing into another community
        others = c[c["code"] != code]
        spill = shapely.area(shapely.intersection(shapely.union_all(mine.geometry.values),
                                                  shapely.union_all(others.geometry.values)))
        assert spill < 0.5
        # sequence 001, 002 … in reading order (north→south rows, west→east)
        seq = mine["code"].str[-3:].astype(int).to_numpy()
        assert sorted(seq) == list(range(1, len(mine) + 1))
    for frame, (lo, hi) in ((c, (800, 1600)), (g, (300, 500))):
        outside = ~frame["households"].between(lo, hi)
        assert (frame.loc[outside, "reason"].str.len() > 0).all(), "every unit outside the range says why"
        assert (frame.loc[~outside, "reason"] == "").all()


def test_codes_follow_reading_order() -> None:
    cells = np.array([box(x, y, x + 100, y + 100) for y in (200, 100, 0) for x in (0, 100, 200)])
    order = reading_order(cells[::-1], row_height=100)  # given south-east first
    assert [int(i) for i in order] == list(range(8, -1, -1))  # north-west first, then west→east


def test_a_compound_crossed_by_its_own_footway_stays_one_block() -> None:
    area = box(X, Y, X + 400, Y + 400)
    streets = np.array([LineString([(X + 200, Y), (X + 200, Y + 400)]),  # a public street
                        LineString([(X + 300, Y + 100), (X + 300, Y + 300)]),  # a dangle: not a boundary
                        LineString([(X + 200, Y + 150), (X + 400, Y + 150)])])  # a footway through a compound
    compound = box(X + 210, Y + 10, X + 390, Y + 390)
    faces = street_blocks(area, streets)
    merged = street_blocks(area, streets, np.array([compound]))
    assert len(faces) == 3 and len(merged) == 2
    assert abs(shapely.area(merged).sum() - area.area) < 1e-6


def test_a_block_above_the_range_is_reported_or_split() -> None:
    # Two blocks: a 900-household compound west, 200 households east.
    streets = _frame([LineString([(X + 300, Y - 10), (X + 300, Y + 310)])], id=["s"], walkable=True,
                     **{"class": "residential"})
    residences = _frame([box(X + 20, Y + 20, X + 280, Y + 280), Point(X + 450, Y + 150)], id=["big", "small"],
                        households=[900, 200], population=[2358, 524])
    area = gpd.GeoSeries([box(X, Y, X + 600, Y + 300)], crs=CRS).to_crs(4326).iloc[0]
    community = draft_communities(streets, residences, households_range=(500, 2000), area=area)
    whole = draft_grids(community, streets, residences, households_range=(300, 500))
    assert "one street block alone has 900 households (> 500); blocks are never split" in set(whole["reason"])
    split = draft_grids(community, streets, residences, households_range=(300, 500), split_blocks=True)
    assert split["households"].sum() == 1100 and split["households"].between(200, 500).all()
    assert len(split) >= 3
    _assert_tiles(np.asarray(_metric(split).geometry.values), _metric(community).geometry.iloc[0], "split")


def test_land_without_residents_is_its_own_unit_with_a_reason() -> None:
    # A river (no street crosses it) cuts the area: the east part has nobody.
    streets = _frame([LineString([(X, Y + 150), (X + 300, Y + 150)])], id=["s"], walkable=True,
                     **{"class": "residential"})
    area = shapely.MultiPolygon([box(X, Y, X + 300, Y + 300), box(X + 400, Y, X + 700, Y + 300)])
    residences = _frame([Point(X + 100, Y + 100), Point(X + 100, Y + 200)], id=["a", "b"],
                        households=[400, 400], population=[1000, 1000])
    comms = draft_communities(streets, residences, households_range=(500, 1000),
                              area=gpd.GeoSeries([area], crs=CRS).to_crs(4326).iloc[0])
    assert sorted(comms["households"]) == [0, 800]
    assert comms.loc[comms["households"] == 0, "reason"].iloc[0].startswith("no residents")


@pytest.mark.parametrize("split", [False, True])
def test_chengdu_drafts(split: bool, chengdu_layers) -> None:
    streets, residences = chengdu_layers
    comms = draft_communities(streets, residences, households_range=(1500, 3000), county_code="510104")
    grids = draft_grids(comms, streets, residences, households_range=(300, 500), split_blocks=split)
    assert comms["households"].sum() == grids["households"].sum() == residences["households"].sum()
    assert comms["households"].between(1500, 3000).mean() > 0.8
    share = grids["households"].between(300, 500).mean()
    assert share > (0.8 if split else 0.15), share


@pytest.fixture(scope="module")
def chengdu_layers(chengdu_pbf):
    from shequ.layers.osm import read_osm

    layers = read_osm(chengdu_pbf)
    return layers.streets, layers.residences


def test_draft_and_check_from_the_command_line(db_url: str, chengdu_pbf, tmp_path, capsys) -> None:
    from shequ.api.cli import main
    from shequ.layers.osm import import_osm
    from shequ.layers.store import Store

    store = Store(db_url)
    import_osm(store, chengdu_pbf, show_progress=False)
    assert main(["--db", db_url, "draft", "communities"]) == 2
    assert "profile 'national' states no community_households" in capsys.readouterr().err
    assert main(["--db", db_url, "draft", "communities", "--profile", "zhuji"]) == 0
    printed = capsys.readouterr().out
    assert "of 1,500–3,000 households (profile zhuji:" in printed and "within the range" in printed
    assert "not an official boundary" in printed
    communities = store.read("communities")
    assert len(communities) > 40 and set(communities["boundary"]) == {"draft"}
    assert main(["--db", db_url, "draft", "grids", "--households", "300-500", "--split-blocks"]) == 0
    capsys.readouterr()
    grids = store.read("grids")
    assert set(grids["community_code"]) == set(communities["code"])
    out = tmp_path / "findings.geojson"
    assert main(["--db", db_url, "check", "grids", "--profile", "xingtai", "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "within 300–500 households:" in printed and "no_manager" in printed
    assert "overlap" not in printed and "outside_community" not in printed and "  gap " not in printed
    findings = gpd.read_file(out)
    assert set(findings["check"]) <= {"no_manager", "households_above", "households_below"}
    # redrafting communities replaces the draft grids made for them, in one transaction
    assert main(["--db", db_url, "draft", "communities", "--households", "2000-4000"]) == 0
    capsys.readouterr()
    assert store.count("grids") == 0 and store.read("communities")["households"].max() > 2000
    store.dispose()


def test_a_draft_never_replaces_official_boundaries_unasked(store, tmp_path, capsys) -> None:
    from shequ.api.cli import main
    from shequ.layers.schema import LAYERS
    from shequ.layers.validate import validate

    import samples

    for name in ("communities", "grids", "streets", "residences"):
        store.write(name, validate(samples.SAMPLES[name](), LAYERS[name], source=name))
    before = store.read("communities")
    assert main(["--db", store.url, "draft", "communities", "--households", "100-200"]) == 2
    assert "holds 2 official communities" in capsys.readouterr().err
    after = store.read("communities")
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert store.count("grids") == 2
