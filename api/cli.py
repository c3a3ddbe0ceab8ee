"""The ``shequ`` command line: import, export, inspect and serve layers.

Kept thin: each command parses arguments, calls ``shequ.layers`` (or the API), and prints what
happened in plain words. Errors in users' files exit with status 2 and list every problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shequ import __version__

EXIT_INPUT = 2


def _store(args: argparse.Namespace):
    from shequ.layers.store import Store

    return Store(args.db)


def cmd_import(args: argparse.Namespace) -> int:
    from shequ.layers.importing import import_file

    store = _store(args)
    report = import_file(store, args.file, args.layer, mode=args.mode, crs=args.crs, src_layer=args.src_layer,
                         lon=args.lon, lat=args.lat)
    print(f"{report.file}: {report.crs_note}")
    if report.result.deleted:
        print(f"replaced: removed {report.result.deleted} {report.layer}")
    print(f"imported {report.result.inserted} {report.layer} into {store.backend} ({_safe_url(store.url)})")
    if report.extra_columns:
        print(f"kept {len(report.extra_columns)} extra column(s) as attributes: {', '.join(report.extra_columns)}")
    return 0


def cmd_import_osm(args: argparse.Namespace) -> int:
    from shequ.layers.osm import import_osm, load_config

    store = _store(args)
    counts, notes = import_osm(store, args.file, config=load_config(args.config),
                               mode="append" if args.append else "replace", show_progress=not args.quiet)
    for note in notes:
        print(f"note: {note}")
    width = max(len(k) for k in counts)
    for layer, n in counts.items():
        print(f"  {layer:<{width}}  {n:>7,}")
    print("Data © OpenStreetMap contributors, ODbL 1.0")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from shequ.layers.exporting import export_layer
    from shequ.layers.schema import get_layer

    layer = get_layer(args.layer).name
    path, n = export_layer(_store(args), layer, args.output, fmt=args.format, crs=args.crs)
    print(f"exported {n} {layer} to {path} ({args.crs or 'EPSG:4326'})")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from shequ.layers.schema import LAYERS

    store = _store(args)
    counts = store.counts()
    print(f"{store.backend}: {_safe_url(store.url)}")
    for name, layer in LAYERS.items():
        print(f"  {name:<12} {_pad(layer.zh, 10)} {counts[name]:>8,}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from shequ.layers.schema import LAYERS, get_layer, markdown

    if args.markdown:
        print(markdown())
        return 0
    layers = [get_layer(args.layer)] if args.layer else list(LAYERS.values())
    for layer in layers:
        print(f"{layer.name} — {layer.en} ({layer.zh}); geometry {' or '.join(layer.geometry)}; key {layer.key}")
        for f in layer.fields:
            req = "required" if f.required else "optional"
            unit = f" [{f.unit}]" if f.unit else ""
            print(f"  {f.name:<16} {f.describe_type():<28} {req:<9} {f.zh}{unit}")
    return 0


def cmd_types(args: argparse.Namespace) -> int:
    from shequ.layers import catalog

    for code, t in catalog.load_facility_types().items():
        dist = t.service_distance_m
        d = f"{dist.value:g} m ({dist.status})" if dist.value is not None else "—"
        print(f"  {code:<28} {_pad(t.name_zh, 22)} {'/'.join(t.levels.value):<20} {d}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shequ.api.app import create_app
    from shequ.layers.store import database_url

    url = database_url(args.db)
    print(f"shequ {__version__} serving {_safe_url(url)} at http://{args.host}:{args.port}/  (Ctrl-C stops)",
          flush=True)
    uvicorn.run(create_app(url), host=args.host, port=args.port, log_level="info")
    return 0


def _pairs(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise KeyError(f"--distance wants TYPE=METRES, got {item!r}") from None
    return out


def cmd_analyze_coverage(args: argparse.Namespace) -> int:
    from shequ.api.analyze import run_coverage

    types = [t.strip() for t in args.types.split(",")] if args.types else None
    if types:
        from shequ.layers import catalog

        resolved = [catalog.lookup(t) for t in types]
        unknown = [t for t, r in zip(types, resolved, strict=True) if r is None]
        if unknown:
            raise KeyError(catalog.unknown_type_message(unknown[0]))
        types = resolved
    run = run_coverage(_store(args), args.out, types=types, level=args.level, distances=_pairs(args.distance),
                       buffer_m=args.buffer, search_beyond_m=args.search_beyond, save=not args.no_save,
                       show_progress=not args.quiet)
    overall = run.summary[run.summary["zone_kind"] == "all"]
    print(f"{'type':<26} {'distance':>9} {'households':>11} {'covered':>8} {'straight line':>14}")
    for _, r in overall.iterrows():
        print(f"{r['type'] + ' ' + r['name_zh']:<26} {r['distance_m']:>7.0f} m {r['households']:>11,.0f} "
              f"{r['households_rate']:>8.1%} {r['households_rate_straight']:>14.1%}")
    if run.islands is not None and len(run.islands):
        print(f"note: the walking network has {len(run.islands)} islands apart from the main network "
              f"({run.islands['length_m'].sum():,.0f} m of streets): see network_islands.csv")
    print(f"wrote {len(run.files)} files to {run.out}/ (open coverage_map.html in a browser)")
    if run.run_id is not None:
        print(f"saved as analysis run {run.run_id} in the store")
    return 0


def cmd_lifecircle(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from shequ.gis.audit import generate_life_circles
    from shequ.gis.network import WalkNetwork
    from shequ.layers.schema import LAYERS
    from shequ.layers.validate import validate

    try:
        lon, lat = (float(v) for v in args.at.split(","))
    except ValueError:
        raise KeyError(f"--at wants LON,LAT in WGS84, got {args.at!r}") from None
    store = _store(args)
    streets = store.read("streets")
    if streets.empty:
        raise KeyError("the streets layer is empty: import streets first")
    centre = gpd.GeoDataFrame({"code": [args.code], "name": [args.name]}, geometry=gpd.points_from_xy([lon], [lat]),
                              crs=4326)
    circle = generate_life_circles(WalkNetwork.from_streets(streets), centre, args.level, args.buffer)
    store.write("lifecircles", validate(circle, LAYERS["lifecircles"], source="shequ lifecircle"))
    area = circle.to_crs(circle.estimate_utm_crs()).area.iloc[0] / 1e6
    print(f"life circle {args.code} ({args.level}) written: {area:.2f} km² reached on foot from {lon}, {lat}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from shequ.api.demo import build_demo

    build_demo(args.db, force=args.force)
    return 0


def _pad(text: str, width: int) -> str:
    """Left-align text whose CJK characters take two terminal columns."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - used, 0)


def _safe_url(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shequ", description="社区 shequ — community layers, coverage and grids")
    p.add_argument("--version", action="version", version=f"shequ {__version__}")
    p.add_argument("--db", help="database URL (default: $SHEQU_DATABASE_URL, else sqlite:///shequ.db); "
                   "postgresql+psycopg://… selects PostGIS")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("import", help="import a file into a layer (GeoJSON, GeoPackage, zipped Shapefile, CSV)")
    s.add_argument("layer", help="communities, grids, facilities, residences, lifecircles or streets")
    s.add_argument("file")
    s.add_argument("--crs", help="source coordinate system when the file has none or it is wrong: EPSG:4326, "
                   "EPSG:4490, EPSG:4544 … or gcj02 (Amap/Tencent) / bd09 (Baidu)")
    s.add_argument("--mode", choices=["append", "replace"], default="append",
                   help="append to the layer (default) or replace its features")
    s.add_argument("--src-layer", help="layer inside a GeoPackage holding several")
    s.add_argument("--lon", help="CSV longitude column (default: lon/lng/longitude/x/经度)")
    s.add_argument("--lat", help="CSV latitude column (default: lat/latitude/y/纬度)")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("import-osm", help="import streets, facilities and residences from an .osm.pbf file")
    s.add_argument("file")
    s.add_argument("--config", help="import rules (default: data/osm_import.json)")
    s.add_argument("--append", action="store_true", help="append instead of replacing the three layers")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_import_osm)

    s = sub.add_parser("export", help="export a layer to GeoJSON, GeoPackage, zipped Shapefile or CSV")
    s.add_argument("layer")
    s.add_argument("-o", "--output", required=True, help="file name; its extension picks the format "
                   "(.geojson, .gpkg, .zip, .csv)")
    s.add_argument("--format", choices=["geojson", "gpkg", "shapefile", "csv"])
    s.add_argument("--crs", help="EPSG:4326 (WGS84, default) or EPSG:4490 (CGCS2000)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("layers", help="list the layers and how many features each holds")
    s.set_defaults(func=cmd_layers)
    s = sub.add_parser("schema", help="print the layer schemas")
    s.add_argument("layer", nargs="?")
    s.add_argument("--markdown", action="store_true", help="as Markdown (docs/layers.md)")
    s.set_defaults(func=cmd_schema)
    s = sub.add_parser("types", help="list the facility-type catalog")
    s.set_defaults(func=cmd_types)

    s = sub.add_parser("serve", help="run the web API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("analyze", help="run an analysis on the stored layers")
    analyses = s.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    a = analyses.add_parser("coverage", help="walking coverage of residences by facility types, gaps, "
                            "service areas and life-circle audit")
    a.add_argument("--types", help="comma-separated facility types (codes or Chinese names); "
                   "default: kindergarten, primary school, health station, market, elderly day care present")
    a.add_argument("--level", choices=["5min", "10min", "15min"],
                   help="use the life-circle level's walking distance for every type instead of the catalog's")
    a.add_argument("--distance", action="append", metavar="TYPE=METRES", help="override one type's distance")
    a.add_argument("--buffer", type=float, default=25.0, help="service-area corridor half-width, metres")
    a.add_argument("--search-beyond", type=float, default=0.0,
                   help="also report nearest distances up to this many metres beyond the limit")
    a.add_argument("--out", default="out/coverage", help="output folder (default out/coverage)")
    a.add_argument("--no-save", action="store_true", help="do not record the run in the store")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_analyze_coverage)

    s = sub.add_parser("lifecircle", help="draw a life circle as the walking area around a centre")
    s.add_argument("--at", required=True, metavar="LON,LAT", help="centre, WGS84")
    s.add_argument("--level", required=True, choices=["5min", "10min", "15min"])
    s.add_argument("--code", required=True)
    s.add_argument("--name")
    s.add_argument("--buffer", type=float, default=25.0, help="corridor half-width along streets, metres")
    s.set_defaults(func=cmd_lifecircle)

    s = sub.add_parser("demo", help="build the central-Chengdu demo database from data/")
    s.add_argument("--force", action="store_true", help="rebuild even if the database has data")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from shequ.layers.exporting import ExportError
    from shequ.layers.importing import InputError
    from shequ.layers.problems import LayerValidationError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LayerValidationError as exc:
        print(f"error: {exc.summary(limit=50)}", file=sys.stderr)
    except (InputError, ExportError, KeyError, FileNotFoundError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
    except BrokenPipeError:  # `shequ types | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["Path", "build_parser", "main"]
