"""The commands: argument parsing and printing; the work is the use cases'."""

from __future__ import annotations

import argparse
import os
import sys
import unicodedata

from shequ import __version__
from shequ.cli import access as access_cli
from shequ.cli import planning
from shequ.cli.common import workspace

EXIT_INPUT = 2


def _settings():
    from shequ.settings import from_environment

    return from_environment()


def _pad(text: str, width: int) -> str:
    """Left-align text whose CJK characters take two terminal columns."""
    used = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - used, 0)


def _isna(value: object) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


# ---- data in and out ----------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace) -> int:
    from shequ.layers.store import safe_url
    from shequ.usecases.transfer import import_layer_file

    ws = workspace(args)
    report = import_layer_file(ws, args.file, args.layer, mode=args.mode, crs=args.crs, src_layer=args.src_layer,
                               lon=args.lon, lat=args.lat)
    print(f"{report.file}: {report.crs_note}")
    if report.result.deleted:
        print(f"replaced: removed {report.result.deleted} {report.layer}")
    print(f"imported {report.result.inserted} {report.layer} into {ws.store.backend} ({safe_url(ws.store.url)})")
    if report.extra_columns:
        print(f"kept {len(report.extra_columns)} extra column(s) as attributes: {', '.join(report.extra_columns)}")
    return 0


def cmd_import_osm(args: argparse.Namespace) -> int:
    from shequ.usecases.transfer import import_openstreetmap

    counts, notes = import_openstreetmap(workspace(args), args.file, config=args.config, append=args.append,
                                         show_progress=not args.quiet)
    for note in notes:
        print(f"note: {note}")
    width = max(len(k) for k in counts)
    for layer, n in counts.items():
        print(f"  {layer:<{width}}  {n:>7,}")
    print("Data © OpenStreetMap contributors, ODbL 1.0")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from shequ.usecases.access import LOCAL
    from shequ.usecases.transfer import export

    done = export(workspace(args), args.layer, fmt=args.format, crs=args.crs, user=LOCAL, path=args.output)
    print(f"exported {done.features} {args.layer} to {done.path} ({args.crs or 'EPSG:4326'})")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from shequ.layers.schema import LAYERS
    from shequ.layers.store import safe_url

    ws = workspace(args)
    counts = ws.store.counts()
    print(f"{ws.store.backend}: {safe_url(ws.store.url)}")
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


# ---- the server ---------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shequ.api.app import create_app
    from shequ.layers.store import safe_url

    settings = _settings()
    url = args.db or settings.database_url
    print(f"shequ {__version__} serving {safe_url(url)} at http://{args.host}:{args.port}/  (Ctrl-C stops)",
          flush=True)
    print(f"analyses: {'public' if settings.analyses_access == 'public' else 'need a login'} "
          "(SHEQU_ANALYSES_ACCESS)", flush=True)
    uvicorn.run(create_app(url, settings, warm=True), host=args.host, port=args.port, log_level="info")
    return 0


# ---- analyses -----------------------------------------------------------------------------------
def _pairs(items: list[str] | None) -> dict[str, float]:
    from shequ.errors import InvalidInput

    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise InvalidInput(f"--distance wants TYPE=METRES, got {item!r}") from None
    return out


def cmd_analyze_coverage(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from shequ.usecases.access import LOCAL
    from shequ.usecases.coverage import CoverageQuery, coverage, write_files

    ws = workspace(args)
    query = CoverageQuery.parse(args.types.split(",") if args.types else None, args.level, _pairs(args.distance),
                                args.area, search_beyond_m=args.search_beyond,
                                max_types=ws.settings.max_facility_types, scenario=args.scenario)
    bar = tqdm(total=3, desc="coverage", unit="step", disable=args.quiet)
    bar.set_postfix_str("network and distances")
    outcome = coverage(ws, query, user=LOCAL)
    bar.update(1)
    bar.set_postfix_str("service areas and files")
    files = write_files(ws, outcome, args.out, save=not args.no_save, buffer_m=args.buffer, user=LOCAL)
    bar.update(2)
    bar.close()
    print(f"{'type':<26} {'distance':>9} {'households':>11} {'covered':>8} {'straight line':>14}")
    for r in outcome.summary.to_dict("records"):
        print(f"{_pad(r['type'] + ' ' + r['name_zh'], 26)} {r['distance_m']:>7.0f} m {r['households']:>11,.0f} "
              f"{r['households_rate']:>8.1%} {r['households_rate_straight']:>14.1%}")
    islands = outcome.result.islands
    if len(islands):
        print(f"note: the walking network has {len(islands)} islands apart from the main network "
              f"({islands['length_m'].sum():,.0f} m of streets): see network_islands.csv")
    print(f"wrote {len(files.files)} files to {files.out}/ (open coverage_map.html in a browser)")
    if files.run_id is not None:
        print(f"saved as analysis run {files.run_id} in the store")
    return 0


def cmd_lifecircle(args: argparse.Namespace) -> int:
    from shequ.errors import InvalidInput
    from shequ.usecases.lifecircles import draw

    try:
        lon, lat = (float(v) for v in args.at.split(","))
    except ValueError:
        raise InvalidInput(f"--at wants LON,LAT in WGS84, got {args.at!r}") from None
    drawn = draw(workspace(args), lon, lat, args.level, args.code, args.name, buffer_m=args.buffer)
    print(f"life circle {args.code} ({args.level}) written: {drawn.area_km2:.2f} km² reached on foot from "
          f"{lon}, {lat}")
    return 0


# ---- boundaries ---------------------------------------------------------------------------------
def cmd_draft(args: argparse.Namespace) -> int:
    import geopandas as gpd

    from shequ.usecases.drafting import DRAFT_NOTE, draft_communities, draft_grids, draft_subdistricts

    ws = workspace(args)
    if args.what == "subdistricts":
        run = draft_subdistricts(ws, replace_official=args.replace_official)
        print(f"drafted {len(run.units)} streets and towns from the communities' codes"
              + (f"; replaced {run.replaced}" if run.replaced else ""))
        for u in run.units.head(args.show).itertuples():
            print(f"  {u.code}  {u.name}  {getattr(u, 'households', 0):>8,} households")
        print(f"note: {DRAFT_NOTE}; marked boundary = draft")
        return 0
    if args.what == "communities":
        districts = gpd.read_file(args.districts) if args.districts else None
        run = draft_communities(ws, profile=args.profile, households=args.households, districts=districts,
                                split_blocks=args.split_blocks, replace_official=args.replace_official)
    else:
        run = draft_grids(ws, profile=args.profile, households=args.households, split_blocks=args.split_blocks,
                          replace_official=args.replace_official)
    units, inside = run.units, run.in_range
    lo, hi = run.households_range
    print(f"drafted {len(units)} {run.layer} of {lo:,.0f}–{hi:,.0f} households ({run.range_source})"
          + (f"; replaced {run.replaced}" if run.replaced else ""))
    print(f"  {int(inside.sum())} of {len(units)} ({inside.mean():.0%}) within the range, "
          f"{int((units['households'] < lo).sum())} below, {int((units['households'] > hi).sum())} above")
    for _, u in units[~inside].head(args.show).iterrows():
        print(f"  {u['code']}  {u['households']:>7,}  {u['reason']}")
    if (~inside).sum() > args.show:
        print(f"  … {(~inside).sum() - args.show} more "
              f"(shequ export {run.layer} -o {run.layer}.csv lists every reason)")
    print(f"note: {DRAFT_NOTE}; marked boundary = draft")
    return 0


def cmd_check_grids(args: argparse.Namespace) -> int:
    from shequ.usecases.drafting import CHECKS, check, write_findings

    result = check(workspace(args), profile=args.profile, households=args.households)
    rules, grids, findings = result.rules, result.grids, result.findings
    print(f"{len(grids)} grids in {result.communities} communities, checked against profile "
          f"{result.profile.name}" + (f" ({rules.households[0]:,.0f}–{rules.households[1]:,.0f} households"
                                      f"{', grid manager required' if rules.manager_required else ''}"
                                      f"{', party branch required' if rules.party_branch_required else ''})"
                                      if rules.households else ""))
    if rules.households:
        lo, hi = rules.households
        inside = grids["households"].astype(float).between(lo, hi)
        print(f"  within {lo:,.0f}–{hi:,.0f} households: {int(inside.sum())} of {len(grids)} ({inside.mean():.1%})")
    counts = findings["check"].value_counts()
    for name, meaning in CHECKS.items():
        if name in counts:
            print(f"  {name:<18} {counts[name]:>5}  {meaning}")
    for _, f in findings.head(args.show).iterrows():
        print(f"    {f['message']}")
    if len(findings) > args.show:
        print(f"    … {len(findings) - args.show} more" + ("" if args.out else " (--out FILE writes them all)"))
    if args.out:
        print(f"wrote {len(findings)} findings with their geometry to {write_findings(findings, args.out)}")
    if findings.empty:
        print("no violations")
        return 0
    return 1


# ---- reports and rules --------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    from shequ.usecases.access import LOCAL
    from shequ.usecases.scorecards import write_report

    done = write_report(workspace(args), args.profile, args.out, user=LOCAL, local=True, scenario=args.scenario)
    card, prof = done.outcome.card, done.outcome.profile
    print(f"scorecard of {len(card.communities)} communities against profile {prof.name} "
          f"({' → '.join(prof.lineage)})")
    for r in card.rules.to_dict("records"):
        if _isna(r.get("meeting")) or str(r["rule"]).startswith("required:"):
            continue
        target = r.get("target")
        goal = "" if _isna(target) else \
            f"  target {target:.0%}" + ("" if _isna(r.get("target_year")) else f" by {int(r['target_year'])}")
        share = "    —" if _isna(r.get("share")) else f"{r['share']:>5.0%}"
        counts = (("not_applicable", "not applicable"), ("not_in_data", "not in the data"))
        aside = [f"{int(r[c])} {w}" for c, w in counts if not _isna(r.get(c)) and r.get(c)]
        print(f"  {int(r['meeting']):>4} / {int(r['communities']):<4} {share}  {str(r['label']).strip()}  "
              f"[{r['status']}]{goal}" + (f"  ({', '.join(aside)})" if aside else ""))
    print("wrote " + ", ".join(str(f) for f in done.files))
    return 0


def cmd_progress(args: argparse.Namespace) -> int:
    from shequ.usecases.access import LOCAL
    from shequ.usecases.progress import write_progress

    done = write_progress(workspace(args), args.profile, args.out, user=LOCAL, local=True)
    o, prof = done.outcome, done.outcome.profile
    print(f"progress of {o.communities} communities towards the targets of profile {prof.name} "
          f"({' → '.join(prof.lineage)}) on {o.today.isoformat()}; "
          + (f"{len(o.runs)} earlier run(s), the first on {o.runs[0]}" if o.runs else "no earlier run saved")
          + ("; today's run saved" if o.recorded is not None else ""))

    def pct(share: float | None) -> str:
        return "—" if share is None else f"{share:.0%}"

    if o.measured:
        print(f"  {_pad('target (whom it counts)', 56)} {'year':>4} {'left':>4}  {'now':<16} {'gap':>4}  trend")
    for p in o.measured:
        now = f"{p.meeting}/{p.communities} {pct(p.share)}/{pct(p.target)}"
        trend = " → ".join([pct(point.share) for point in p.trend] + [pct(p.share)]) if p.trend else "—"
        left = "" if p.years_left is None else str(p.years_left)
        label = p.label if len(p.label) <= 32 else p.label[:31] + "…"
        label = f"{label} ({p.scope})" if p.scope else label
        label = label if len(label) <= 56 else label[:55] + "…"
        missing = "—" if p.gap is None else str(p.gap)
        print(f"  {_pad(label, 56)} {p.year or '':>4} {left:>4}  {now:<16} {missing:>4}  {trend}"
              + ("" if p.state in ("met", "behind") else f"  ({p.state_en}" + (f": {p.reason})" if p.reason else ")")))
    if o.not_measured:
        print("not measured:")
    for p in o.not_measured:
        goal = f"{pct(p.target)} by {p.year}" if p.target is not None else f"by {p.year}"
        print(f"  {p.rule} {goal}: {p.reason}")
    print("wrote " + ", ".join(str(f) for f in done.files))
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    from shequ.layers.profiles import RULES, load_profile, markdown_table, shipped

    if args.markdown:  # the section of docs/profiles.md: every rule, clause, scope, how it is applied, status
        print(markdown_table([args.name] if args.name else None), end="")
        return 0
    if not args.name:
        for name in shipped():
            p = load_profile(name)
            print(f"  {name:<10} {_pad(p.title_zh[:30], 62)} {len(p.rules):>3} rules")
        print("shequ profiles NAME shows one; your own: a .json file (docs/profiles.md)")
        return 0
    p = load_profile(args.name)
    print(f"{p.name}: {p.title_zh}\n  {p.title_en}\n  {p.about}\n")
    for key in RULES:
        r = p.rules.get(key)
        if r is None:
            continue
        items = isinstance(r.value, list) and r.value and isinstance(r.value[0], dict)
        value = f"{len(r.value)} item{'s' if len(r.value) > 1 else ''}" if items else r.value
        inherited = f"  [from {r.profile}]" if r.profile != p.name else ""
        scope = "" if r.scope.everyone else f"  — {r.scope.describe()[1]}"
        print(f"  {key:<38} {value!s:<22} {r.unit:<18} {r.citation}{inherited}{scope}")
    return 0


# ---- users and the demo -------------------------------------------------------------------------
def cmd_user(args: argparse.Namespace) -> int:
    import getpass
    import os

    from shequ.usecases import accounts
    from shequ.usecases.access import LOCAL

    ws = workspace(args)

    def password() -> str:
        given = os.environ.get("SHEQU_PASSWORD") or args.password
        return given if given else getpass.getpass(f"password for {args.name}: ")

    if args.action == "add":
        user = accounts.add(ws, args.name, password(), args.role, args.area, user=LOCAL)
        print(f"added {user.name} ({user.role}" + (f", {', '.join(user.areas)}" if user.areas else "") + ")")
    elif args.action == "password":
        accounts.set_password(ws, args.name, password(), user=LOCAL)
        print(f"password of {args.name} changed; their tokens are revoked")
    elif args.action == "remove":
        accounts.remove(ws, args.name, user=LOCAL)
        print(f"removed {args.name}")
    else:
        for user in accounts.everyone(ws, user=LOCAL):
            print(f"  {user.name:<20} {user.role:<13} {', '.join(user.areas)}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from shequ.usecases.demo import build

    build(workspace(args), force=args.force)
    return 0


# ---- the parser ---------------------------------------------------------------------------------
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

    s = sub.add_parser("serve", help="run the web API and pages")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("analyze", help="run an analysis on the stored layers")
    analyses = s.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    a = analyses.add_parser("coverage", help="walking coverage of residences by facility types, gaps, "
                            "service areas and life-circle audit")
    a.add_argument("--types", help="comma-separated facility types (codes or Chinese names); default: "
                   "kindergarten, primary school, health station, market, elderly day care, those present")
    a.add_argument("--level", choices=["5min", "10min", "15min"],
                   help="use the life-circle level's walking distance for every type instead of the catalog's")
    a.add_argument("--distance", action="append", metavar="TYPE=METRES", help="override one type's distance")
    a.add_argument("--area", help="only the residences of one community (12-digit code) or street (9 digits)")
    a.add_argument("--buffer", type=float, default=25.0, help="service-area corridor half-width, metres")
    a.add_argument("--search-beyond", type=float, default=0.0,
                   help="also report nearest distances up to this many metres beyond the limit")
    a.add_argument("--out", default="out/coverage", help="output folder (default out/coverage)")
    a.add_argument("--scenario", help="the layers as this scenario would make them (shequ scenario list)")
    a.add_argument("--no-save", action="store_true", help="do not record the run in the store")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_analyze_coverage)
    access_cli.add_parser(analyses)

    s = sub.add_parser("lifecircle", help="draw a life circle as the walking area around a centre")
    s.add_argument("--at", required=True, metavar="LON,LAT", help="centre, WGS84")
    s.add_argument("--level", required=True, choices=["5min", "10min", "15min"])
    s.add_argument("--code", required=True)
    s.add_argument("--name")
    s.add_argument("--buffer", type=float, default=25.0, help="corridor half-width along streets, metres")
    s.set_defaults(func=cmd_lifecircle)

    s = sub.add_parser("draft", help="draft community or grid boundaries from streets and residences, or streets "
                       "and towns (街道/乡镇) from the communities")
    s.add_argument("what", choices=["communities", "grids", "subdistricts"])
    s.add_argument("--households", metavar="LOW-HIGH", help="target households per unit, e.g. 1500-3000 "
                   "(default: the profile's community_households or grid_households)")
    s.add_argument("--profile", default="national", help="policy profile (name or .json file)")
    s.add_argument("--districts", help="district polygons with adcode and name (communities get county codes)")
    s.add_argument("--split-blocks", action="store_true",
                   help="cut a street block whose households alone exceed the range into strips")
    s.add_argument("--replace-official", action="store_true", help="allow replacing official boundaries")
    s.add_argument("--show", type=int, default=10, help="how many units outside the range to list")
    s.set_defaults(func=cmd_draft)

    s = sub.add_parser("check", help="check layers against topology and profile rules")
    checks = s.add_subparsers(dest="check", required=True, metavar="LAYER")
    c = checks.add_parser("grids", help="every grid inside one community, no overlaps or gaps, profile rules; "
                          "exits 1 on any finding")
    c.add_argument("--profile", default="national", help="policy profile (name or .json file)")
    c.add_argument("--households", metavar="LOW-HIGH", help="override the profile's grid_households")
    c.add_argument("--out", help="write every finding with its geometry (.geojson or .gpkg)")
    c.add_argument("--show", type=int, default=10, help="how many findings to print")
    c.set_defaults(func=cmd_check_grids)

    s = sub.add_parser("report", help="reports on the stored layers")
    reports = s.add_subparsers(dest="report", required=True, metavar="REPORT")
    r = reports.add_parser("communities", help="community scorecard against a policy profile: HTML, CSV, XLSX")
    r.add_argument("--profile", default="national", help="policy profile (name or .json file)")
    r.add_argument("--out", default="out/report", help="output folder (default out/report)")
    r.add_argument("--scenario", help="score the layers as this scenario would make them")
    r.set_defaults(func=cmd_report)
    r = reports.add_parser("progress", help="progress towards the profile's dated targets (gap in communities, "
                           "years left, trend of the saved runs): HTML, CSV, XLSX; saves today's run")
    r.add_argument("--profile", default="national", help="policy profile (name or .json file)")
    r.add_argument("--out", default="out/progress", help="output folder (default out/progress)")
    r.set_defaults(func=cmd_progress)

    s = sub.add_parser("profiles", help="list the policy profiles, or show one's rules with their sources")
    s.add_argument("name", nargs="?")
    s.add_argument("--markdown", action="store_true", help="print every rule with its clause, scope, how shequ "
                   "applies it and status, as Markdown (the table of docs/profiles.md)")
    s.set_defaults(func=cmd_profiles)

    s = sub.add_parser("user", help="add, list or remove users of the API (roles: planner, grid_manager, bureau, "
                       "admin)")
    s.add_argument("action", choices=["add", "list", "remove", "password"])
    s.add_argument("name", nargs="?", default="")
    s.add_argument("--role", choices=["planner", "grid_manager", "bureau", "admin"], default="planner")
    s.add_argument("--area", action="append", help="a community (12-digit) or street (9-digit) code a grid "
                   "manager looks after; repeat for several")
    s.add_argument("--password", help="the password (default: asked, or $SHEQU_PASSWORD)")
    s.set_defaults(func=cmd_user)

    planning.add_parsers(sub)

    s = sub.add_parser("demo", help="build the central-Chengdu demo database from data/")
    s.add_argument("--force", action="store_true", help="rebuild even if the database has data")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    from shequ.errors import ShequError
    from shequ.layers.problems import LayerValidationError
    from shequ.logs import configure

    args = build_parser().parse_args(argv)
    settings = _settings()
    # the server logs what it does; a command prints its own account, and logs only when asked
    # (SHEQU_LOG_LEVEL=INFO shows the timings of imports, analyses and drafts)
    asked = "SHEQU_LOG_LEVEL" in os.environ
    configure(settings.log_level if args.command == "serve" or asked else "WARNING", settings.log_json)
    try:
        return args.func(args)
    except LayerValidationError as exc:
        print(f"error: {exc.summary(limit=50)}", file=sys.stderr)
    except (ShequError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except BrokenPipeError:  # `shequ types | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
