"""OGC API – Features conventions shared by the routes: GeoJSON answers, the fields a reader may see,
bbox and CRS parameters (Part 2)."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import geopandas as gpd
import numpy as np
from fastapi.responses import JSONResponse

from shequ.api import crs as ogc_crs
from shequ.errors import InvalidInput
from shequ.layers.exporting import geojson_dict
from shequ.layers.schema import LAYERS
from shequ.layers.users import User

GEOJSON = "application/geo+json"
Collection = Enum("Collection", {name: name for name in LAYERS}, type=str)  # type: ignore[misc]
GEO_OK = {200: {"content": {GEOJSON: {}}, "description": "GeoJSON"}}


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def public_fields(layer: str, user: User | None) -> list[str]:
    """Fields this reader may see: personal ones (a grid manager's name, phone) need a login."""
    return [f.name for f in LAYERS[layer].fields if user is not None or not f.personal]


def features_json(frame: gpd.GeoDataFrame, layer: str, crs: str, user: User | None) -> list[dict]:
    """GeoJSON features of a stored frame, in ``crs``, without the fields this user may not read."""
    spec = LAYERS[layer]
    if frame.empty:
        return []
    frame = frame.copy()
    frame["geometry"] = gpd.GeoSeries(ogc_crs.from_wgs84(np.asarray(frame.geometry.values), crs), index=frame.index)
    doc = geojson_dict(frame, spec)
    hidden = {f.name for f in spec.fields} - set(public_fields(layer, user))
    for feature, version in zip(doc["features"], frame["version"], strict=True):
        for name in hidden:
            feature["properties"].pop(name, None)
        feature["id"] = str(feature["id"])
        feature["properties"]["version"] = int(version)
    return doc["features"]


def parse_crs(value: str | None, param: str) -> str:
    return ogc_crs.parse(value, param)


def parse_bbox(text: str | None, bbox_crs: str) -> tuple[float, float, float, float] | None:
    """minx,miny,maxx,maxy (or a 3D bbox, heights ignored) in ``bbox_crs``, as a WGS84 lon/lat box."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise InvalidInput(f"bbox {text!r}: four numbers, comma separated",
                           zh=f"bbox {text!r}：应为逗号分隔的四个数") from None
    if len(values) == 6:  # 3D bbox: the heights do not matter here
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise InvalidInput(f"bbox {text!r}: four numbers, minx,miny,maxx,maxy",
                           zh=f"bbox {text!r}：应为四个数（最小经度,最小纬度,最大经度,最大纬度）")
    box = ogc_crs.bbox_to_wgs84(tuple(values), bbox_crs)
    if box[0] > box[2] or box[1] > box[3]:
        raise InvalidInput(f"bbox {text!r}: the lower corner comes first",
                           zh=f"bbox {text!r}：应先写左下角")
    return box


def to_crs84(feature: Any, content_crs: str) -> Any:
    """A GeoJSON Feature (or partial one) whose geometry is in ``content_crs``, with it in CRS84."""
    if content_crs == ogc_crs.CRS84 or not isinstance(feature, dict) or not feature.get("geometry"):
        return feature
    import shapely

    from shequ.usecases.editing import geometry

    geom = ogc_crs.to_wgs84(np.array([geometry(feature["geometry"])]), content_crs)[0]
    return {**feature, "geometry": json.loads(shapely.to_geojson(geom))}
