"""Small hand-made layers in central Chengdu (real community codes from the NBS 2023 list)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

# 水井坊社区 and 崇德里社区, 锦官驿街道, 锦江区 (codes from data/chengdu/…_nbs2023.csv)
CODE_A, CODE_B = "510104017001", "510104017002"
A = box(104.080, 30.650, 104.086, 30.655)
B = box(104.086, 30.650, 104.092, 30.655)


def communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "code": [CODE_A, CODE_B], "name": ["水井坊社区", "崇德里社区"], "street": ["锦官驿街道"] * 2,
        "district": ["锦江区"] * 2, "urban_rural": ["urban", "城镇"], "households": [2100, 1750],
        "population": [5200, 4300],
    }, geometry=[MultiPolygon([A]), B], crs=4326)


def grids() -> gpd.GeoDataFrame:
    west, east = box(104.080, 30.650, 104.083, 30.655), box(104.083, 30.650, 104.086, 30.655)
    return gpd.GeoDataFrame({
        "code": [CODE_A + "001", CODE_A + "002"], "name": ["一网格", "二网格"], "community_code": [CODE_A] * 2,
        "manager": ["张三", "李四"], "manager_phone": ["13800000001", "13800000002"],
        "party_branch": ["第一支部", "第二支部"], "households": [420, 380], "population": [1030, 960],
    }, geometry=[west, east], crs=4326)


def facilities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "id": ["F1", "F2", "F3"], "type": ["kindergarten", "幼儿园", "community_service_centre"],
        "name": ["水井坊幼儿园", "崇德里幼儿园", "水井坊社区党群服务中心"], "floor_area_m2": [1200.5, 900, 450],
        "capacity": [180, 120, None], "community_code": [CODE_A, CODE_B, CODE_A], "status": ["existing", "规划", None],
    }, geometry=[Point(104.0812, 30.6513), Point(104.0901, 30.6532), Point(104.0835, 30.6525)], crs=4326)


def residences() -> gpd.GeoDataFrame:
    courtyard = Polygon([(104.0805, 30.6505), (104.0825, 30.6505), (104.0825, 30.6520), (104.0805, 30.6520)],
                        [[(104.0810, 30.6510), (104.0815, 30.6510), (104.0815, 30.6515), (104.0810, 30.6515)]])
    return gpd.GeoDataFrame({
        "id": ["R1", "R2"], "name": ["水井坊小区", "12号楼"], "kind": ["area", "楼栋"], "households": [600, 48],
        "population": [1500, 120], "elderly": [300, 25], "children": [200, 15], "estimated": [False, "否"],
        "community_code": [CODE_A, None],
    }, geometry=[courtyard, Point(104.0880, 30.6530)], crs=4326)


def lifecircles() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["LC15-01", "LC5-01"], "name": ["水井坊15分钟生活圈", "水井坊5分钟生活圈"],
                             "level": ["15分钟", "5min"]},
                            geometry=[Point(104.085, 30.652).buffer(0.009), Point(104.083, 30.652).buffer(0.003)],
                            crs=4326)


def streets() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "id": ["S1", "S2", "S3"], "name": ["水井街", None, "二环高架"], "class": ["residential", "footway", "motorway"],
        "walkable": [True, True, False],
    }, geometry=[LineString([(104.080, 30.6525), (104.092, 30.6525)]),
                 LineString([(104.083, 30.650), (104.083, 30.655)]),
                 LineString([(104.079, 30.649), (104.093, 30.656)])], crs=4326)


def subdistricts() -> gpd.GeoDataFrame:
    """锦官驿街道, the street of both sample communities (their codes' first 9 digits), and its neighbour."""
    return gpd.GeoDataFrame({"code": [CODE_A[:9], "510104018"], "name": ["锦官驿街道", "书院街街道"],
                             "district": ["锦江区"] * 2, "kind": ["街道", "街道"], "households": [3850, None]},
                            geometry=[MultiPolygon([box(104.080, 30.650, 104.092, 30.655)]),
                                      MultiPolygon([box(104.080, 30.655, 104.092, 30.660)])], crs=4326)


SAMPLES = {"subdistricts": subdistricts, "communities": communities, "grids": grids, "facilities": facilities,
           "residences": residences, "lifecircles": lifecircles, "streets": streets}


def write(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a frame in the format its suffix names (.geojson, .gpkg, .zip shapefile, .csv)."""
    import zipfile

    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.DataFrame(gdf.drop(columns="geometry"))
        geoms = gdf.geometry.values
        if (gdf.geom_type == "Point").all():
            frame["lon"], frame["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
        else:
            frame["wkt"] = shapely.to_wkt(geoms)
        frame.to_csv(path, index=False)
    elif suffix == ".zip":
        shp_dir = path.with_suffix("")
        shp_dir.mkdir(exist_ok=True)
        for kind, part in gdf.groupby(gdf.geom_type.str.replace("Multi", "")):  # one family per Shapefile
            part.to_file(shp_dir / f"layer_{kind}.shp", engine="pyogrio", encoding="UTF-8")
        with zipfile.ZipFile(path, "w") as zf:
            for part in shp_dir.iterdir():
                zf.write(part, part.name)
    else:
        gdf.to_file(path, engine="pyogrio")
    return path
