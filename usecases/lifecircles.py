"""Life circles (生活圈): drawing one as the walk around a centre, and auditing every one against its
level's required facilities (GB 50180-2018 levels are not inclusive: each is audited on its own)."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from shequ.errors import InvalidInput, NoData
from shequ.gis.audit import audit, generate_life_circles
from shequ.layers.schema import LAYERS
from shequ.layers.users import User
from shequ.layers.validate import validate
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.scenarios import snapshot_for
from shequ.usecases.workspace import Workspace

LEVELS = ("5min", "10min", "15min")


@dataclass
class DrawnCircle:
    frame: gpd.GeoDataFrame  # one row, WGS84
    area_km2: float


def draw(ws: Workspace, lon: float, lat: float, level: str, code: str, name: str | None = None, *,
         buffer_m: float = 25.0) -> DrawnCircle:
    """A life circle drawn as the walking area around (lon, lat) at the level's distance, and stored."""
    if level not in LEVELS:
        raise InvalidInput(f"unknown level {level!r}: use {', '.join(LEVELS)}",
                           zh=f"未知的生活圈层级 {level!r}：可选 {'、'.join(LEVELS)}")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"({lon}, {lat}) is not a longitude, latitude in degrees (WGS84)",
                           zh=f"({lon}, {lat}) 不是经纬度（WGS84，单位：度）")
    snap = ws.snapshot()
    if not snap.walkable:
        raise NoData("the streets layer has no walkable street: import streets first",
                     zh="道路图层中没有可步行的道路：请先导入道路")
    centre = gpd.GeoDataFrame({"code": [code], "name": [name]}, geometry=gpd.points_from_xy([lon], [lat]), crs=4326)
    with timed("draw life circle", code=code, level=level):
        circle = generate_life_circles(snap.network, centre, level, buffer_m)
        ws.store.write("lifecircles", validate(circle, LAYERS["lifecircles"], source="shequ lifecircle"))
    area = float(circle.to_crs(snap.metric_crs).area.iloc[0]) / 1e6
    return DrawnCircle(circle, area)


def audit_all(ws: Workspace, *, user: User | None, scenario: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every life circle against its level's required facilities, on the real layers or a scenario's:
    (findings, one row per circle)."""
    require(user, Action.LIFECIRCLES, ws.settings)
    snap = snapshot_for(ws, scenario)
    if snap.lifecircles.empty:
        raise NoData("no life circles: import them or draw one (shequ lifecircle)",
                     zh="没有生活圈：请导入或绘制（shequ lifecircle）")
    if not snap.walkable:
        raise NoData("no walkable streets: import them first (shequ import-osm or shequ import streets)",
                     zh="没有可步行的道路：请先导入（shequ import-osm 或 shequ import streets）")
    return ws.cached(snap, ("life circles",), lambda: audit(snap.network, snap.lifecircles, snap.residences,
                                                            snap.serving, gates=snap.gates))
