"""Reading users' files into validated WGS84 layers: GeoJSON, GeoPackage, (zipped) Shapefile, CSV.

Source coordinates may be in any EPSG CRS (WGS84, CGCS2000 4490, its Gauss-Krüger zones …) or in
the Chinese web-map systems GCJ-02 (Amap/Tencent) and BD-09 (Baidu), which have no EPSG code and are
converted with ``chinacrs``. A file's own CRS is used unless ``crs`` is given: GCJ-02 data often
arrives labelled as WGS84, so the user's word wins.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from shequ.errors import InvalidInput
from shequ.layers import chinacrs
from shequ.layers.problems import LayerValidationError, Problem
from shequ.layers.schema import Layer, get_layer
from shequ.layers.store import Store, WriteResult
from shequ.layers.validate import validate

LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何")
FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile",
           ".zip": "ESRI Shapefile", ".csv": "CSV"}


class InputError(InvalidInput):
    """A file that cannot be read at all (as opposed to features that fail validation)."""


@dataclass
class SourceCRS:
    """Where the coordinates come from: an EPSG/PROJ CRS or a Chinese web-map system."""

    crs: CRS | None = None
    china: str | None = None  # "gcj02" | "bd09"

    @classmethod
    def parse(cls, text: str | None) -> SourceCRS | None:
        if not text:
            return None
        if chinacrs.is_china_crs_name(text):
            name = chinacrs.normalize_crs_name(text)
            return cls(CRS.from_epsg(4326), None if name == "wgs84" else name)
        try:
            return cls(CRS.from_user_input(text.upper() if text.lower().startswith("epsg:") else text))
        except CRSError as exc:
            raise InputError(f"unknown coordinate system {text!r}: use EPSG:4326, EPSG:4490, EPSG:4544 …, "
                             f"or gcj02 / bd09 ({exc})") from exc

    def describe(self) -> str:
        if self.china:
            return {"gcj02": "GCJ-02 (Amap/Tencent)", "bd09": "BD-09 (Baidu)"}[self.china]
        return f"{self.crs.name} ({self.crs.to_string()})" if self.crs else "unknown"


def _shapefiles_in_zip(path: Path) -> list[str]:
    """The Shapefiles in a zip: one, or one per geometry family of a mixed layer (points + polygons)."""
    with zipfile.ZipFile(path) as zf:
        shps = sorted(n for n in zf.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX"))
    if not shps:
        raise InputError(f"{path.name}: the zip file holds no .shp file")
    return [f"/vsizip/{path.resolve()}/{n}" for n in shps]


def _pick(columns: list[str], names: tuple[str, ...], given: str | None) -> str | None:
    if given:
        return given if given in columns else None
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def read_csv(path: Path, *, lon: str | None = None, lat: str | None = None) -> gpd.GeoDataFrame:
    """A CSV with lon/lat columns (points) or a WKT column (any geometry); codes stay text."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    cols = list(frame.columns)
    lon_col, lat_col = _pick(cols, LON_NAMES, lon), _pick(cols, LAT_NAMES, lat)
    wkt_col = _pick(cols, WKT_NAMES, None)
    problems: list[Problem] = []
    if wkt_col:
        text = frame.pop(wkt_col).str.strip()
        geoms = np.empty(len(frame), dtype=object)
        for i, value in enumerate(text):
            try:
                geoms[i] = shapely.from_wkt(value) if value else None
            except shapely.errors.GEOSException as exc:
                problems.append(Problem(path.name, i + 1, wkt_col, f"unreadable WKT: {exc}", line=i + 2))
        for c in (lon_col, lat_col):  # points exported with both keep lon/lat as a convenience
            if c:
                frame.pop(c)
    elif lon_col and lat_col:
        x = pd.to_numeric(frame[lon_col].str.strip(), errors="coerce")
        y = pd.to_numeric(frame[lat_col].str.strip(), errors="coerce")
        for col, values in ((lon_col, x), (lat_col, y)):
            for i in np.flatnonzero(values.isna().to_numpy()):
                problems.append(Problem(path.name, i + 1, col, f"{frame[col].iloc[i]!r} is not a number",
                                        line=i + 2))
        geoms = shapely.points(x.to_numpy(), y.to_numpy())
        frame = frame.drop(columns=[lon_col, lat_col])
    else:
        raise InputError(f"{path.name}: no coordinates: need lon/lat columns (one of {', '.join(LON_NAMES)} and "
                         f"{', '.join(LAT_NAMES)}; or --lon/--lat) or a WKT column ({', '.join(WKT_NAMES)}); "
                         f"columns are: {', '.join(cols)}")
    if problems:
        raise LayerValidationError(problems)
    frame = frame.replace("", None)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms), crs=None)


def read_file(path: str | Path, *, src_layer: str | None = None, lon: str | None = None,
              lat: str | None = None) -> gpd.GeoDataFrame:
    """Read any supported file into a GeoDataFrame in its own CRS (``crs`` None when it has none)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path.name}: unsupported format {suffix!r}; use "
                         ".geojson, .gpkg, .zip (zipped Shapefile), .shp or .csv")
    if suffix == ".csv":
        return read_csv(path, lon=lon, lat=lat)
    sources = _shapefiles_in_zip(path) if suffix == ".zip" else [str(path)]
    try:
        if src_layer is None and suffix == ".gpkg":
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                raise InputError(f"{path.name} has several layers ({', '.join(layers[:, 0])}); choose one "
                                 "with --src-layer")
        # Shapefiles without a .cpg are read as UTF-8: what Chinese GIS software writes today.
        kwargs = {"encoding": "UTF-8"} if suffix in (".zip", ".shp") and not _has_cpg(path) else {}
        frames = [pyogrio.read_dataframe(s, layer=src_layer, **kwargs) for s in sources]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(f"{path.name}: cannot read: {exc}") from exc
    if len(frames) == 1:
        return frames[0]
    crs = {str(f.crs) for f in frames}
    if len(crs) > 1:
        raise InputError(f"{path.name}: its Shapefiles are in different coordinate systems; zip one layer per file")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _has_cpg(path: Path) -> bool:
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            return any(n.lower().endswith(".cpg") for n in zf.namelist())
    return path.with_suffix(".cpg").exists()


def to_wgs84(gdf: gpd.GeoDataFrame, source: SourceCRS | None, name: str) -> tuple[gpd.GeoDataFrame, str]:
    """Reproject to WGS84; returns the frame and a sentence saying what was assumed or done."""
    if source is None:
        if gdf.crs is None:
            b = shapely.bounds(np.asarray(gdf.geometry.values))
            # > 180 on either axis cannot be degrees (a latitude of 104 may be a swapped pair: validation says so)
            if np.nanmax(np.abs(b), initial=0) > 180:
                raise InputError(f"{name} has no coordinate system and its coordinates are not degrees; "
                                 "give it with --crs (e.g. EPSG:4544: CGCS2000 3-degree Gauss-Krüger, CM 105°E, "
                                 "which covers Chengdu)")
            note = "no coordinate system in the file: assumed WGS84 (EPSG:4326); pass --crs if that is wrong"
            return gdf.set_crs(4326), note
        source = SourceCRS(gdf.crs)
    gdf = gdf.set_crs(source.crs, allow_override=True)
    if not gdf.crs.equals(CRS.from_epsg(4326)):
        gdf = gdf.to_crs(4326)
    if source.china:
        gdf = gdf.set_geometry(chinacrs.transform_geometries(gdf.geometry, source.china, "wgs84"))
    return gdf, f"coordinates read as {source.describe()}, stored as WGS84"


@dataclass
class ImportReport:
    layer: str
    file: str
    result: WriteResult
    crs_note: str
    extra_columns: list[str]


def load(path: str | Path, layer: str | Layer, *, crs: str | None = None, src_layer: str | None = None,
         lon: str | None = None, lat: str | None = None) -> tuple[gpd.GeoDataFrame, str]:
    """Read, reproject and validate a file for a layer, without writing it."""
    spec = layer if isinstance(layer, Layer) else get_layer(layer)
    path = Path(path)
    raw = read_file(path, src_layer=src_layer, lon=lon, lat=lat)
    raw, note = to_wgs84(raw, SourceCRS.parse(crs), path.name)
    return validate(raw, spec, source=path.name, csv=path.suffix.lower() == ".csv"), note


def import_file(store: Store, path: str | Path, layer: str | Layer, *, mode: str = "append",
                **kwargs: object) -> ImportReport:
    """Import one file into one layer; all or nothing."""
    spec = layer if isinstance(layer, Layer) else get_layer(layer)
    gdf, note = load(path, spec, **kwargs)
    result = store.write(spec.name, gdf, mode=mode)
    extras = sorted({k for e in gdf["extra"] for k in e})
    return ImportReport(spec.name, Path(path).name, result, note, extras)
