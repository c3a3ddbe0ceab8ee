"""Import: every format, every source CRS, and every kind of bad input — with its message and an
unchanged database — on both backends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from shequ.layers import chinacrs
from shequ.layers.importing import InputError, import_file, load
from shequ.layers.problems import LayerValidationError
from shequ.layers.store import Store

import samples


def _seed(store: Store, tmp_path: Path) -> dict[str, int]:
    """Communities and grids already in the database, so 'nothing written' is a real check."""
    import_file(store, samples.write(samples.communities(), tmp_path / "communities.geojson"), "communities")
    import_file(store, samples.write(samples.grids(), tmp_path / "grids.geojson"), "grids")
    return store.counts()


def _snapshot(store: Store) -> dict[str, list]:
    return {n: store.read(n).drop(columns="geometry").astype(str).values.tolist() for n in store.counts()}


def _expect_rejected(store: Store, path: Path, layer: str, *fragments: str, **kwargs: object) -> str:
    before = _snapshot(store)
    with pytest.raises(LayerValidationError) as info:
        import_file(store, path, layer, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "nothing was written" in message
    assert _snapshot(store) == before
    return message


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".zip", ".csv"])
def test_every_layer_imports_from_every_format(store: Store, tmp_path: Path, suffix: str) -> None:
    for name in ["communities", "grids", "lifecircles", "streets", "facilities", "residences"]:
        path = samples.write(samples.SAMPLES[name](), tmp_path / f"{name}{suffix}")
        report = import_file(store, path, name)
        assert report.result.inserted == len(samples.SAMPLES[name]())
    grids = store.read("grids")
    assert list(grids["community_code"]) == [samples.CODE_A] * 2
    assert list(grids["manager"]) == ["张三", "李四"]
    expected = shapely.normalize(samples.grids().geometry.iloc[1])
    assert shapely.normalize(grids.geometry.iloc[1]).equals_exact(expected, 1e-9)
    assert list(store.read("communities")["code"]) == [samples.CODE_A, samples.CODE_B]  # codes stay text


def test_csv_codes_keep_leading_zeros_and_extra_columns_are_kept(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    csv = tmp_path / "facilities.csv"
    csv.write_text("id,type,name,经度,纬度,备注\n007,幼儿园,小星星幼儿园,104.0812,30.6513,新建\n", encoding="utf-8")
    import_file(store, csv, "facilities")
    row = store.read("facilities").iloc[0]
    assert (row["id"], row["type"], row["extra"]) == ("007", "kindergarten", {"备注": "新建"})


def test_gbk_encoded_csv_from_excel(store: Store, tmp_path: Path) -> None:
    csv = tmp_path / "facilities_gbk.csv"
    csv.write_bytes("id,type,name,lon,lat\nK1,幼儿园,小太阳幼儿园,104.08,30.65\n".encode("gb18030"))
    import_file(store, csv, "facilities")
    assert store.read("facilities")["name"].iloc[0] == "小太阳幼儿园"


# ---- coordinate systems --------------------------------------------------------------------------

def test_cgcs2000_and_gauss_kruger_sources_land_on_the_same_spot(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    pts = samples.facilities()
    samples.write(pts.to_crs(4490), tmp_path / "cgcs2000.gpkg")
    import_file(store, tmp_path / "cgcs2000.gpkg", "facilities")
    gk = pts.assign(id=["G1", "G2", "G3"]).to_crs(4544)  # CGCS2000 3-degree Gauss-Krüger, CM 105°E
    gk_csv = tmp_path / "gk.csv"
    frame = gk.drop(columns="geometry").assign(x=gk.geometry.x, y=gk.geometry.y)
    frame.to_csv(gk_csv, index=False)
    with pytest.raises(InputError, match="coordinates are not degrees; give it with --crs"):
        import_file(store, gk_csv, "facilities")
    import_file(store, gk_csv, "facilities", crs="EPSG:4544")
    got = store.read("facilities").set_index("id").geometry
    for a, b in (("F1", "G1"), ("F2", "G2"), ("F3", "G3")):
        assert got[a].distance(got[b]) < 1e-7
        assert got[a].distance(pts.set_index("id").geometry[a]) < 1e-7


@pytest.mark.parametrize("system,forward", [("gcj02", chinacrs.wgs84_to_gcj02), ("bd09", chinacrs.wgs84_to_bd09)])
def test_gcj02_and_bd09_are_converted_to_wgs84(store: Store, tmp_path: Path, system: str, forward) -> None:
    _seed(store, tmp_path)
    truth = samples.facilities()
    lon, lat = forward(truth.geometry.x.to_numpy(), truth.geometry.y.to_numpy())
    shifted = truth.set_geometry(shapely.points(lon, lat))
    path = samples.write(shifted, tmp_path / f"{system}.csv")
    report = import_file(store, path, "facilities", crs=system)
    assert "GCJ-02" in report.crs_note or "BD-09" in report.crs_note
    got = store.read("facilities").geometry
    offset_m = np.hypot(lon - truth.geometry.x, lat - truth.geometry.y).min() * 96_000
    assert offset_m > 100  # the shift really is hundreds of metres …
    assert np.allclose(got.x, truth.geometry.x, atol=1e-8)  # … and the import undoes it
    assert np.allclose(got.y, truth.geometry.y, atol=1e-8)


def test_gcj02_polygons_are_converted_vertex_by_vertex(tmp_path: Path) -> None:
    truth = samples.residences().iloc[:1]
    shifted = truth.set_geometry(chinacrs.transform_geometries(truth.geometry, "wgs84", "gcj02"))
    gdf, _ = load(samples.write(shifted, tmp_path / "r.geojson"), "residences", crs="gcj02")
    assert gdf.geometry.iloc[0].equals_exact(truth.geometry.iloc[0], 1e-8)


def test_unknown_crs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown coordinate system 'EPSG:999999'"):
        load(samples.write(samples.facilities(), tmp_path / "f.csv"), "facilities", crs="EPSG:999999")


# ---- bad input: each names file, feature, field and reason; nothing is written ---------------------

def _with(gdf: gpd.GeoDataFrame, row: int, **values: object) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    for k, v in values.items():
        if k == "geometry":
            gdf.geometry.values[row] = v
        else:
            gdf[k] = gdf[k].astype(object)
            gdf.loc[gdf.index[row], k] = v
    return gdf


def test_self_intersecting_polygon(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    bowtie = Polygon([(104.081, 30.651), (104.084, 30.654), (104.084, 30.651), (104.081, 30.654)])
    path = samples.write(_with(samples.residences(), 1, geometry=bowtie), tmp_path / "residences.geojson")
    _expect_rejected(store, path, "residences", "residences.geojson, feature 2, field 'geometry': "
                     "invalid geometry: self-intersection at (104.082500, 30.652500)")


def test_invalid_ring_too_few_points(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    spike = shapely.from_wkt("POLYGON ((104.081 30.651, 104.082 30.652, 104.081 30.651, 104.081 30.651))")
    path = samples.write(_with(samples.lifecircles(), 0, geometry=spike), tmp_path / "lc.gpkg")
    _expect_rejected(store, path, "lifecircles", "lc.gpkg, feature 1, field 'geometry': invalid geometry")


def test_wrong_geometry_type(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(_with(samples.facilities(), 2, geometry=box(104.08, 30.65, 104.081, 30.651)),
                         tmp_path / "facilities.gpkg")
    _expect_rejected(store, path, "facilities",
                     "feature 3, field 'geometry': wrong geometry type Polygon: facilities must be Point")


def test_multi_part_grid_is_refused(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    two = shapely.MultiPolygon([box(104.080, 30.650, 104.081, 30.651), box(104.082, 30.650, 104.083, 30.651)])
    frame = _with(samples.grids(), 0, geometry=two).assign(code=["X1", "X2"])
    path = samples.write(frame, tmp_path / "grids.geojson")
    _expect_rejected(store, path, "grids", "feature 1, field 'geometry': grids need one Polygon per feature; "
                     "this MultiPolygon has 2 parts")


def test_missing_required_field(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(samples.facilities().drop(columns="type"), tmp_path / "facilities.geojson")
    _expect_rejected(store, path, "facilities", "facilities.geojson, field 'type': missing required field "
                     "'type' (设施类型（目录代码，导入时可用中文名）)")


def test_missing_required_value(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(_with(samples.residences(), 1, households=None), tmp_path / "r.csv")
    _expect_rejected(store, path, "residences", "r.csv, row 2 (line 3), field 'households': required value missing")


def test_non_numeric_households(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(_with(samples.residences(), 0, households="六百"), tmp_path / "residences.csv")
    _expect_rejected(store, path, "residences",
                     "residences.csv, row 1 (line 2), field 'households': '六百' is not a number")


def test_fractional_and_negative_counts(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    frame = _with(_with(samples.residences(), 0, households=12.5), 1, population=-3)
    message = _expect_rejected(store, samples.write(frame, tmp_path / "r.geojson"), "residences",
                               "feature 1, field 'households': '12.5' is not a whole number")
    assert "feature 2, field 'population': '-3' is below the minimum 0" in message


def test_lat_lon_swapped(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    csv = tmp_path / "facilities.csv"
    csv.write_text("id,type,lon,lat\nA,kindergarten,104.0812,30.6513\nB,kindergarten,30.6532,104.0901\n",
                   encoding="utf-8")
    _expect_rejected(store, csv, "facilities", "facilities.csv, row 2 (line 3), field 'geometry': coordinates "
                     "(30.653200, 104.090100) look like latitude/longitude swapped")


def test_points_outside_china(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(_with(samples.facilities(), 0, geometry=Point(2.3522, 48.8566)), tmp_path / "f.geojson")
    _expect_rejected(store, path, "facilities",
                     "f.geojson, feature 1, field 'geometry': coordinates (2.352200, 48.856600) are outside China")


def test_unknown_facility_type_suggests_the_right_one(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    path = samples.write(_with(samples.facilities(), 1, type="kindergarden"), tmp_path / "f.geojson")
    _expect_rejected(store, path, "facilities", "feature 2, field 'type': unknown facility type 'kindergarden'; "
                     "did you mean kindergarten")


def test_duplicate_codes_in_the_file(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    frame = samples.facilities().assign(id=["D1", "D2", "D1"])
    _expect_rejected(store, samples.write(frame, tmp_path / "f.geojson"), "facilities",
                     "feature 3, field 'id': duplicate id 'D1' (also feature 1)")


def test_duplicate_codes_against_the_database(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    frame = samples.grids().assign(code=[samples.CODE_A + "009", samples.CODE_A + "002"])
    _expect_rejected(store, samples.write(frame, tmp_path / "g.geojson"), "grids",
                     f"g.geojson, feature 2, field 'code': duplicate code '{samples.CODE_A}002': "
                     "already in the database")


def test_grid_of_a_community_that_does_not_exist(store: Store, tmp_path: Path) -> None:
    _seed(store, tmp_path)
    frame = samples.grids().assign(code=["N1", "N2"], community_code=[samples.CODE_A, "510104017099"])
    _expect_rejected(store, samples.write(frame, tmp_path / "g.gpkg"), "grids",
                     "g.gpkg, feature 2, field 'community_code': communities '510104017099' does not exist")


def test_bad_community_code_format(store: Store, tmp_path: Path) -> None:
    frame = _with(samples.communities(), 0, code="5101040170")
    path = samples.write(frame, tmp_path / "c.geojson")
    _expect_rejected(store, path, "communities", "feature 1, field 'code': '5101040170' is not a valid code: 12 digits")


def test_every_problem_is_reported_at_once(store: Store, tmp_path: Path) -> None:
    frame = _with(_with(samples.residences(), 0, households="abc"), 1, geometry=Point(30.65, 104.08))
    message = _expect_rejected(store, samples.write(frame, tmp_path / "r.geojson"), "residences", "2 problems")
    assert "feature 1" in message and "feature 2" in message


def test_unreadable_inputs_are_clear(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_file(store, tmp_path / "nope.geojson", "facilities")
    (tmp_path / "x.kml").write_text("<kml/>")
    with pytest.raises(InputError, match=re.escape("unsupported format '.kml'")):
        import_file(store, tmp_path / "x.kml", "facilities")
    (tmp_path / "nocoords.csv").write_text("id,type\nA,kindergarten\n")
    with pytest.raises(InputError, match="no coordinates: need lon/lat columns"):
        import_file(store, tmp_path / "nocoords.csv", "facilities")
    (tmp_path / "broken.geojson").write_text("{not json")
    with pytest.raises(InputError, match=re.escape("broken.geojson: cannot read")):
        import_file(store, tmp_path / "broken.geojson", "facilities")
    with pytest.raises(KeyError, match="unknown layer 'parks'"):
        import_file(store, tmp_path / "broken.geojson", "parks")
    assert sum(store.counts().values()) == 0


def test_single_part_multilinestring_streets_are_accepted(tmp_path: Path) -> None:
    line = LineString([(104.08, 30.65), (104.09, 30.65)])
    frame = samples.streets().iloc[:1].set_geometry([shapely.MultiLineString([line])])
    gdf, _ = load(samples.write(frame, tmp_path / "s.geojson"), "streets")
    assert gdf.geometry.iloc[0].geom_type == "LineString"


def test_geojson_from_a_gis_with_a_legacy_crs_member(tmp_path: Path) -> None:
    """Old GeoJSON (pre RFC 7946) may declare urn:ogc:def:crs:EPSG::4490; GDAL honours it."""
    fc = json.loads(samples.facilities().to_json())
    fc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    path = tmp_path / "legacy.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    gdf, note = load(path, "facilities")
    assert "4490" in note
    assert gdf.geometry.iloc[0].distance(samples.facilities().geometry.iloc[0]) < 1e-7
