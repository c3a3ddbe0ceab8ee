"""Export: RFC 7946 GeoJSON, GeoPackage, zipped Shapefile, CSV; WGS84 and CGCS2000; lossless round trips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from shequ.layers.exporting import ExportError, export_layer
from shequ.layers.importing import import_file
from shequ.layers.schema import LAYERS, WRITE_ORDER
from shequ.layers.store import Store

import samples


@pytest.fixture
def loaded(store: Store, tmp_path: Path) -> Store:
    for name in WRITE_ORDER:
        frame = samples.SAMPLES[name]()
        if name == "facilities":  # a user's own column must survive the round trip too
            frame["备注"] = ["新建", None, "与居委会合署"]
        import_file(store, samples.write(frame, tmp_path / f"in_{name}.geojson"), name)
    return store


def _comparable(store: Store, layer: str) -> list:
    frame = store.read(layer).drop(columns=["fid"]).sort_values(LAYERS[layer].key).reset_index(drop=True)
    return [frame.drop(columns="geometry").astype(str).values.tolist(), list(frame.geometry.values)]


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".zip", ".csv"])
def test_export_then_import_loses_nothing(loaded: Store, tmp_path: Path, suffix: str) -> None:
    # Into a second database (SpatiaLite): from PostGIS this is also a cross-backend round trip.
    target = Store(f"sqlite:///{tmp_path / 'second.db'}")
    for name in WRITE_ORDER:
        path, n = export_layer(loaded, name, tmp_path / f"out_{name}{suffix}")
        assert n == len(samples.SAMPLES[name]())
        import_file(target, path, name)
    for name in WRITE_ORDER:
        (attrs_a, geoms_a), (attrs_b, geoms_b) = _comparable(loaded, name), _comparable(target, name)
        assert attrs_a == attrs_b, name
        tolerance = 0.6e-7 if suffix == ".geojson" else 1e-12  # GeoJSON keeps 7 decimals (≈1 cm)
        for a, b in zip(geoms_a, geoms_b, strict=True):
            assert a.geom_type == b.geom_type and shapely.get_num_coordinates(a) == shapely.get_num_coordinates(b)
            assert a.hausdorff_distance(b) <= tolerance, (name, a, b)
    extra = target.read("facilities").set_index("id")["extra"]
    assert extra["F1"] == {"备注": "新建"} and extra["F2"] == {}
    target.dispose()


def test_geojson_follows_rfc7946(loaded: Store, tmp_path: Path) -> None:
    path, _ = export_layer(loaded, "residences", tmp_path / "r.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc
    assert doc["type"] == "FeatureCollection"
    courtyard = doc["features"][0]
    assert courtyard["id"] == "R1" and courtyard["properties"]["name"] == "水井坊小区"
    exterior, hole = (np.array(r) for r in courtyard["geometry"]["coordinates"])
    assert shapely.LinearRing(exterior).is_ccw  # right-hand rule: exterior counter-clockwise
    assert not shapely.LinearRing(hole).is_ccw  # holes clockwise
    coords = [c for f in doc["features"] for c in np.array(f["geometry"]["coordinates"], dtype=object).ravel()
              if isinstance(c, float)]
    text = path.read_text(encoding="utf-8")
    assert all(len(repr(c).split(".")[1]) <= 7 for c in coords if "." in repr(c))
    assert "104.0805" in text and "水井坊" in text  # UTF-8, not \\u escapes


def test_clockwise_input_is_reoriented(store: Store, tmp_path: Path) -> None:
    cw = shapely.Polygon([(104.080, 30.650), (104.080, 30.655), (104.086, 30.655), (104.086, 30.650)])
    assert not cw.exterior.is_ccw
    frame = samples.lifecircles().iloc[:1].set_geometry([cw])
    import_file(store, samples.write(frame, tmp_path / "cw.gpkg"), "lifecircles")
    path, _ = export_layer(store, "lifecircles", tmp_path / "lc.geojson")
    ring = json.loads(path.read_text())["features"][0]["geometry"]["coordinates"][0]
    assert shapely.LinearRing(ring).is_ccw


@pytest.mark.parametrize("suffix", [".gpkg", ".zip", ".csv"])
def test_cgcs2000_export(loaded: Store, tmp_path: Path, suffix: str) -> None:
    path, _ = export_layer(loaded, "facilities", tmp_path / f"f{suffix}", crs="EPSG:4490")
    if suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        assert abs(frame["lon"].iloc[0] - 104.0812) < 1e-6
        return
    source = f"/vsizip/{path}/facilities.shp" if suffix == ".zip" else str(path)
    info = pyogrio.read_info(source)
    assert "4490" in info["crs"]
    if suffix == ".zip":
        names = zipfile.ZipFile(path).namelist()
        assert {"facilities.shp", "facilities.dbf", "facilities.prj", "facilities.cpg"} <= set(names)
        fields = list(info["fields"])
        assert "floor_m2" in fields and "comm_code" in fields and "备注" in fields


def test_geojson_in_cgcs2000_says_so_with_a_crs_member(loaded: Store, tmp_path: Path) -> None:
    path, _ = export_layer(loaded, "grids", tmp_path / "g.geojson", crs="EPSG:4490")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4490"
    back = gpd.read_file(path)
    assert back.crs.to_epsg() == 4490
    x, y = doc["features"][0]["geometry"]["coordinates"][0][0]  # longitude first, as GDAL reads it
    assert 104 < x < 105 and 30 < y < 31
    stored = loaded.read("grids").to_crs(4490)
    assert back.geometry.iloc[0].equals_exact(stored.geometry.iloc[0], 1e-7)


def test_unknown_crs_and_format_are_refused(loaded: Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="export CRS 'EPSG:3857' not offered"):
        export_layer(loaded, "grids", tmp_path / "g.gpkg", crs="EPSG:3857")
    with pytest.raises(ExportError, match="unknown export format"):
        export_layer(loaded, "grids", tmp_path / "g.kml")


def test_mixed_geometry_layer_to_shapefile_zip(store: Store, tmp_path: Path) -> None:
    """Residences mix compounds (multi)polygons and building points: one Shapefile per family, one zip."""
    frame = samples.residences()
    two_blocks = shapely.MultiPolygon([shapely.box(104.084, 30.651, 104.085, 30.652),
                                       shapely.box(104.0855, 30.651, 104.0865, 30.652)])
    extra = frame.iloc[[0]].assign(id="R3", name="双楼小区").set_geometry([two_blocks])
    frame = samples.pd.concat([frame, extra], ignore_index=True)
    frame = frame.set_geometry(frame.geometry).set_crs(4326, allow_override=True)
    frame["community_code"] = None
    import_file(store, samples.write(frame, tmp_path / "r.gpkg"), "residences")
    path, _ = export_layer(store, "residences", tmp_path / "r.zip")
    assert sorted(n for n in zipfile.ZipFile(path).namelist() if n.endswith(".shp")) == [
        "residences_point.shp", "residences_polygon.shp"]
    target = Store(f"sqlite:///{tmp_path / 'back.db'}")
    import_file(target, path, "residences")
    back = target.read("residences").set_index("id")
    assert back.loc["R3"].geometry.geom_type == "MultiPolygon" and back.loc["R2"].geometry.geom_type == "Point"
    assert back.loc["R3", "households"] == 600
    target.dispose()
