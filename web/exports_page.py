"""The exports page (``/exports``) for bureaus: pick layers, an area, a format and a CRS; download.
Downloads go through ``/exports/{layer}`` with the user's token (exports need a login). The markup is
``web/templates/exports.html``."""

from __future__ import annotations

from shequ.layers.schema import LAYERS
from shequ.web.render import render

FORMATS = [("geojson", "GeoJSON", "GeoJSON"), ("gpkg", "GeoPackage", "GeoPackage"),
           ("shapefile", "Shapefile（zip）", "Shapefile (zip)"), ("csv", "CSV（表格）", "CSV (table)")]
CRS = [("EPSG:4326", "WGS84（EPSG:4326）", "WGS84 (EPSG:4326)"), ("EPSG:4490", "CGCS2000（EPSG:4490）",
                                                                  "CGCS2000 (EPSG:4490)")]


def exports_page(counts: dict[str, int]) -> str:
    return render("exports.html", title="数据导出 Exports – shequ", active="/exports", layers=LAYERS.items(),
                  counts=counts, formats=FORMATS, crs=CRS)
