"""Coordinate reference systems of the OGC API (Part 2): CRS84, EPSG:4326 and EPSG:4490 (CGCS2000).

Storage is WGS84 longitude/latitude (CRS84 order). EPSG:4326 and EPSG:4490 are, by their EPSG
definitions, latitude first: a client asking ``crs=…/EPSG/0/4490`` gets lat, lon, as GDAL and
QGIS expect. CGCS2000 and WGS84 differ by centimetres; pyproj applies the datum transformation.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer

from shequ.errors import InvalidInput

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
SUPPORTED = (CRS84, EPSG4326, EPSG4490)
_ALIASES = {"crs84": CRS84, "ogc:crs84": CRS84, "epsg:4326": EPSG4326, "4326": EPSG4326, "epsg:4490": EPSG4490,
            "4490": EPSG4490, "cgcs2000": EPSG4490, "wgs84": CRS84,
            "http://www.opengis.net/def/crs/epsg/0/4326": EPSG4326,
            "http://www.opengis.net/def/crs/epsg/0/4490": EPSG4490,
            "http://www.opengis.net/def/crs/ogc/1.3/crs84": CRS84,
            "[ogc:crs84]": CRS84, "[epsg:4326]": EPSG4326, "[epsg:4490]": EPSG4490}
_TO_4490 = Transformer.from_crs("EPSG:4326", "EPSG:4490", always_xy=True)
_FROM_4490 = Transformer.from_crs("EPSG:4490", "EPSG:4326", always_xy=True)


class CRSError(InvalidInput):
    """A CRS the service does not offer (HTTP 400)."""


def parse(value: str | None, param: str = "crs") -> str:
    """The canonical URI of a requested CRS; CRS84 when none is given."""
    if value is None or value == "":
        return CRS84
    uri = _ALIASES.get(value.strip().lower())
    if uri is None:
        raise CRSError(f"{param} {value!r} is not offered; use one of {', '.join(SUPPORTED)}",
                       zh=f"不支持 {param} {value!r}：可选 {'、'.join(SUPPORTED)}")
    return uri


def _apply(geoms: np.ndarray, fn) -> np.ndarray:
    return shapely.transform(np.asarray(geoms), fn)


def from_wgs84(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Stored lon/lat geometries in the requested CRS and its axis order."""
    if crs == CRS84:
        return np.asarray(geoms)
    if crs == EPSG4326:
        return _apply(geoms, lambda xy: xy[:, ::-1])
    return _apply(geoms, lambda xy: np.column_stack(_TO_4490.transform(xy[:, 0], xy[:, 1]))[:, ::-1])


def to_wgs84(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Geometries given in ``crs`` (its axis order) as lon/lat WGS84."""
    if crs == CRS84:
        return np.asarray(geoms)
    if crs == EPSG4326:
        return _apply(geoms, lambda xy: xy[:, ::-1])
    return _apply(geoms, lambda xy: np.column_stack(_FROM_4490.transform(xy[:, 1], xy[:, 0])))


def bbox_to_wgs84(bbox: tuple[float, float, float, float], crs: str) -> tuple[float, float, float, float]:
    """A bbox given in ``crs`` (lower corner, upper corner in its axis order) as lon/lat."""
    a, b, c, d = bbox
    if crs == CRS84:
        return a, b, c, d
    lat0, lon0, lat1, lon1 = a, b, c, d
    if crs == EPSG4490:
        lon0, lat0 = _FROM_4490.transform(lon0, lat0)
        lon1, lat1 = _FROM_4490.transform(lon1, lat1)
    return lon0, lat0, lon1, lat1
