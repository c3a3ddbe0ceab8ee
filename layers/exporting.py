"""Writing layers out: GeoJSON (RFC 7946), GeoPackage, zipped Shapefile and CSV, in WGS84 or CGCS2000.

GeoJSON follows RFC 7946 to the letter in WGS84: longitude/latitude, exterior rings counter-clockwise
(right-hand rule), at most 7 decimals (≈1 cm), no ``crs`` member. Asked for CGCS2000, it is the
"prior arrangement" RFC 7946 §4 allows: longitude/latitude in EPSG:4490 with the GeoJSON 2008 ``crs``
member (``urn:ogc:def:crs:EPSG::4490``), which GDAL, QGIS and ArcGIS honour. The extra columns a user's file
had are written back as ordinary columns, so import → export → import loses nothing.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from shequ.errors import InvalidInput
from shequ.layers.schema import LAYERS, STORAGE_SRID, Layer
from shequ.layers.store import Store

GEOJSON_DECIMALS = 7
EXPORT_CRS = {"EPSG:4326": "WGS84", "EPSG:4490": "CGCS2000"}
FORMATS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".zip": "shapefile", ".csv": "csv"}
ATTRIBUTION = "© OpenStreetMap contributors (ODbL) where the data came from OpenStreetMap"


class ExportError(InvalidInput):
    """An export that cannot be made as asked (format, CRS)."""


def _flat(gdf: gpd.GeoDataFrame, spec: Layer) -> gpd.GeoDataFrame:
    """Schema fields then the extra columns, as plain columns (no internal fid)."""
    out = gdf[[*spec.field_names, "geometry"]].copy()
    extras = pd.DataFrame(list(gdf["extra"]), index=gdf.index) if len(gdf) else pd.DataFrame(index=gdf.index)
    for col in extras.columns:
        if col not in out.columns:
            out[col] = extras[col]
    return out[[c for c in out.columns if c != "geometry"] + ["geometry"]]


def _json_safe(v: object) -> object:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def geojson_dict(gdf: gpd.GeoDataFrame, spec: Layer) -> dict:
    """An RFC 7946 FeatureCollection of a layer frame (WGS84)."""
    flat = _flat(gdf, spec)
    geoms = shapely.orient_polygons(np.asarray(flat.geometry.values), exterior_cw=False)
    features = []
    props = flat.drop(columns="geometry")
    records = props.astype(object).where(props.notna(), None).to_dict("records")
    for rec, geom in zip(records, geoms, strict=True):
        gj = json.loads(shapely.to_geojson(geom))
        features.append({"type": "Feature", "id": _json_safe(rec[spec.key]),
                         "properties": {k: _json_safe(v) for k, v in rec.items()},
                         "geometry": _round(gj)})
    return {"type": "FeatureCollection", "name": spec.name, "features": features}


def _round(obj: dict) -> dict:
    def r(c: list) -> list:
        if c and isinstance(c[0], (int, float)):
            return [round(float(v), GEOJSON_DECIMALS) for v in c]
        return [r(x) for x in c]
    if obj.get("type") == "GeometryCollection":
        return {"type": obj["type"], "geometries": [_round(g) for g in obj["geometries"]]}
    return {"type": obj["type"], "coordinates": r(obj["coordinates"])}


def target_crs(crs: str | None) -> str:
    """The export CRS named by ``crs`` (EPSG:4326 by default; WGS84/CGCS2000 aliases accepted)."""
    key = (crs or "EPSG:4326").upper()
    if key in ("WGS84", "CRS84", "OGC:CRS84", "4326"):
        key = "EPSG:4326"
    if key in ("CGCS2000", "4490"):
        key = "EPSG:4490"
    if key not in EXPORT_CRS:
        raise ExportError(f"export CRS {crs!r} not offered: use EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000)",
                          zh=f"不支持导出坐标系 {crs!r}：可选 EPSG:4326（WGS84）或 EPSG:4490（CGCS2000）")
    return key


#: the GeoJSON 2008 ``crs`` names of the other export CRS (lon/lat order, as GDAL reads them)
LEGACY_CRS = {"EPSG:4490": "urn:ogc:def:crs:EPSG::4490"}


def export_frame(gdf: gpd.GeoDataFrame, layer: str, path: str | Path, *, fmt: str | None = None,
                 crs: str | None = None) -> Path:
    """Write a layer frame (as ``Store.read`` returns it) to ``path``."""
    spec = LAYERS[layer]
    path = Path(path)
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt not in set(FORMATS.values()):
        raise ExportError(f"{path.name}: unknown export format; use .geojson, .gpkg, .zip (Shapefile) or .csv",
                          zh=f"{path.name}：未知的导出格式；可用 .geojson、.gpkg、.zip（Shapefile）或 .csv")
    target = target_crs(crs)
    if fmt == "geojson":
        doc = geojson_dict(gdf if target == "EPSG:4326" else gdf.to_crs(target), spec)
        if target != "EPSG:4326":
            doc = {"type": doc.pop("type"), "crs": {"type": "name", "properties": {"name": LEGACY_CRS[target]}}, **doc}
        path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        return path
    flat = _flat(gdf, spec)
    if target != f"EPSG:{STORAGE_SRID}":
        # CGCS2000 and WGS84 differ by centimetres; pyproj applies the (null) datum transformation.
        flat = flat.to_crs(CRS.from_user_input(target))
    if fmt == "gpkg":
        pyogrio.write_dataframe(flat, path, layer=spec.name, driver="GPKG")
    elif fmt == "shapefile":
        _write_shapefile_zip(flat, spec, path)
    else:
        _write_csv(flat, spec, path)
    return path


def analysis_geojson(gdf: gpd.GeoDataFrame) -> dict:
    """RFC 7946 GeoJSON of an analysis frame (free columns, unlike a layer's; infinities become null,
    exteriors counter-clockwise)."""
    frame = gdf.to_crs(4326).copy()
    for c in frame.columns:
        if c != frame.geometry.name and frame[c].dtype.kind == "f":
            frame[c] = frame[c].where(np.isfinite(frame[c]), None).astype(object)
    geoms = shapely.orient_polygons(np.asarray(frame.geometry.values), exterior_cw=False)
    props = frame.drop(columns=frame.geometry.name).astype(object)
    props = props.where(props.notna(), None).to_dict("records")
    feats = []
    for p, g in zip(props, geoms, strict=True):
        p = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in p.items()}
        feats.append({"type": "Feature", "properties": p, "geometry": json.loads(shapely.to_geojson(g))})
    return {"type": "FeatureCollection", "features": feats}


def write_analysis_geojson(gdf: gpd.GeoDataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(analysis_geojson(gdf), ensure_ascii=False, separators=(",", ":"), default=str),
                    encoding="utf-8")
    return path


def export_layer(store: Store, layer: str, path: str | Path, **kwargs: object) -> tuple[Path, int]:
    gdf = store.read(layer)
    return export_frame(gdf, layer, path, **kwargs), len(gdf)


def _write_shapefile_zip(flat: gpd.GeoDataFrame, spec: Layer, path: Path) -> None:
    renames = {f.name: f.dbf_name for f in spec.fields}
    taken = set(renames.values())
    for col in flat.columns:
        if col not in renames and col != "geometry":
            short = col[:10]
            if short in taken:
                raise ExportError(f"extra column {col!r} clashes with another name when cut to Shapefile's "
                                  "10 characters; export GeoPackage instead",
                                  zh=f"附加列 {col!r} 截为 Shapefile 的 10 个字符后与其他列重名："
                                     "请导出 GeoPackage 或改名")
            taken.add(short)
    flat = flat.rename(columns=renames)
    # A Shapefile holds one geometry family; a layer mixing points and polygons (residences) is
    # written as one Shapefile per family in the same zip, which ``import`` reads back as one layer.
    families = np.array(["point", "line", "line", "polygon", "point", "line", "polygon"])  # by GEOS type id
    family = families[shapely.get_type_id(np.asarray(flat.geometry.values))]
    groups = sorted(set(family))
    with tempfile.TemporaryDirectory() as tmp:
        for group in groups:
            name = spec.name if len(groups) == 1 else f"{spec.name}_{group}"
            part = flat[family == group]
            pyogrio.write_dataframe(part, Path(tmp) / f"{name}.shp", driver="ESRI Shapefile", encoding="UTF-8")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)


def _write_csv(flat: gpd.GeoDataFrame, spec: Layer, path: Path) -> None:
    frame = pd.DataFrame(flat.drop(columns="geometry"))
    geoms = np.asarray(flat.geometry.values)
    if spec.geometry == ("Point",):
        frame["lon"] = shapely.get_x(geoms)
        frame["lat"] = shapely.get_y(geoms)
    frame["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1)
    for column in frame.columns:
        if pd.api.types.is_object_dtype(frame[column]) or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(defuse_formula)
    frame.to_csv(path, index=False, encoding="utf-8")


#: what a spreadsheet reads as the start of a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse_formula(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=HYPERLINK(…)``) gets a leading apostrophe, which
    Excel and WPS show as text; numbers written as text (``-12.5``) are left alone."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
