"""Data in and out: importing files and OpenStreetMap extracts, exporting layers in the formats and
coordinate systems bureaus use. Every import is all or nothing, and logged (what, how many, how long).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from shequ.errors import InvalidInput
from shequ.layers.exporting import FORMATS as BY_SUFFIX
from shequ.layers.exporting import export_frame, target_crs
from shequ.layers.importing import ImportReport, import_file
from shequ.layers.osm import import_osm, load_config
from shequ.layers.schema import get_layer
from shequ.layers.store import Prefix
from shequ.layers.users import User
from shequ.logs import timed
from shequ.usecases.access import Action, require
from shequ.usecases.workspace import Workspace

#: export formats: name → (media type, file suffix)
FORMATS = {"geojson": ("application/geo+json", ".geojson"), "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
           "shapefile": ("application/zip", ".zip"), "csv": ("text/csv", ".csv")}


def import_layer_file(ws: Workspace, path: str | Path, layer: str, *, mode: str = "append", crs: str | None = None,
                      src_layer: str | None = None, lon: str | None = None, lat: str | None = None,
                      user: User | None = None) -> ImportReport:
    """One file into one layer; all or nothing, every problem named."""
    spec = get_layer(layer)
    with timed("import", layer=spec.name, file=Path(path).name, mode=mode, user=_who(user)) as log:
        report = import_file(ws.store, path, spec, mode=mode, crs=crs, src_layer=src_layer, lon=lon, lat=lat)
        log.update(inserted=report.result.inserted, deleted=report.result.deleted)
    return report


def import_openstreetmap(ws: Workspace, path: str | Path, *, config: str | None = None, append: bool = False,
                         show_progress: bool = True, user: User | None = None) -> tuple[dict[str, int], list[str]]:
    """Streets, facilities and residences from an OpenStreetMap extract, in one transaction."""
    with timed("import osm", file=Path(path).name, append=append, user=_who(user)) as log:
        counts, notes = import_osm(ws.store, path, config=load_config(config), mode="append" if append else "replace",
                                   show_progress=show_progress)
        log.update(**counts)
    return counts, notes


def _who(user: User | None) -> str:
    """Who did it, for the log: the user, or the operating-system account running the command."""
    if user is not None and user.name != "local":
        return user.name
    import getpass

    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local"


@dataclass
class Export:
    path: Path
    features: int
    filename: str  # what to call it when downloaded
    media_type: str
    folder: Path | None = None  # a temporary folder to remove once the file is sent

    def cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def select(ws: Workspace, layer: str, *, bbox: tuple[float, float, float, float] | None = None,
           area: str | None = None) -> gpd.GeoDataFrame:
    """The features of ``layer`` in ``bbox`` and/or ``area`` (a community, street or county code): by
    their community code, or by the area's outline for layers without one and for features whose
    community code is empty (facilities and residences from OpenStreetMap have none)."""
    spec = get_layer(layer)
    where = None
    if area:
        if ws.store.count("communities", where={"code": Prefix(area)}) == 0:
            raise InvalidInput(f"area {area!r}: no community has that code or prefix",
                               zh=f"范围 {area}：没有以此代码开头的社区")
        if spec.name == "communities":
            where = {"code": Prefix(area)}
        elif "community_code" in spec.field_names:
            where = {"community_code": Prefix(area)}
    frame = ws.store.read(spec.name, bbox=bbox, where=where)
    if not area or spec.name == "communities":
        return frame
    outline = ws.store.read("communities", where={"code": Prefix(area)}).union_all()
    if where is None:
        return frame[frame.intersects(outline)]
    # features without a community code: inside the outline (read through the spatial index)
    box = outline.bounds if bbox is None else _overlap(outline.bounds, bbox)
    if box is None:
        return frame
    loose = ws.store.read(spec.name, bbox=box, where={"community_code": None})
    loose = loose[loose.intersects(outline)]
    return pd.concat([frame, loose]).sort_values("fid") if len(loose) else frame


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float] | None:
    """The overlap of two boxes (minx, miny, maxx, maxy), or None."""
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] <= box[2] and box[1] <= box[3] else None


def export(ws: Workspace, layer: str, *, fmt: str | None = "geojson", crs: str | None = "EPSG:4326",
           bbox: tuple[float, float, float, float] | None = None, area: str | None = None,
           user: User | None, path: str | Path | None = None) -> Export:
    """A layer (or its part in ``bbox`` / ``area``) as a file, WGS84 or CGCS2000. Without ``path`` it
    goes to a temporary folder the caller removes with ``Export.cleanup``."""
    require(user, Action.EXPORT, ws.settings)
    if path is not None and fmt is None:
        fmt = BY_SUFFIX.get(Path(path).suffix.lower())
        if fmt is None:
            raise InvalidInput(f"{Path(path).name}: unknown export format; use .geojson, .gpkg, .zip (Shapefile) "
                               "or .csv",
                               zh=f"{Path(path).name}：未知的导出格式；可用 .geojson、.gpkg、.zip（Shapefile）或 .csv")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}",
                           zh=f"未知的导出格式 {fmt!r}：可选 {'、'.join(FORMATS)}")
    crs = target_crs(crs)
    spec = get_layer(layer)
    media, suffix = FORMATS[fmt]
    folder = None
    if path is None:
        folder = Path(tempfile.mkdtemp(prefix="shequ-export-"))
        path = folder / f"{spec.name}{suffix}"
    with timed("export", layer=spec.name, format=fmt, crs=crs, user=_who(user)) as log:
        frame = select(ws, spec.name, bbox=bbox, area=area)
        try:
            export_frame(frame, spec.name, path, fmt=fmt, crs=crs)
        except Exception:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        log.update(features=len(frame))
    tag = "" if crs == "EPSG:4326" else "_cgcs2000"
    return Export(Path(path), len(frame), f"{spec.name}{tag}{suffix}", media, folder)
