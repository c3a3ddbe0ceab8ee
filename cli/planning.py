"""The planning commands: ``shequ scenario …``, ``shequ plan sites`` and ``shequ compare``.

Argument parsing and printing; the work is the use cases'."""

from __future__ import annotations

import argparse

from shequ.cli.common import workspace


def _lonlat(text: str) -> tuple[float, float]:
    from shequ.errors import InvalidInput

    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput(f"--at wants LON,LAT (WGS84 degrees), got {text!r}") from None
    return lon, lat


def _print_scenario(view) -> None:
    print(f"scenario {view.name}: {view.title} (revision {view.revision}, {len(view.changes)} changes"
          + (f", made by {view.created_by}" if view.created_by else "") + ")")
    if view.description:
        print(f"  {view.description}")
    for r in view.table().to_dict("records"):
        what = {"add_facility": f"add {r['type']} {r['name'] or ''}".strip(),
                "remove_facility": f"close facility {r['target_id']}",
                "set_capacity": f"capacity of {r['target_id']} → {r['capacity']}",
                "add_residence": f"new residence, {r['households']} households",
                "build_planned": "count the data's planned facilities as built"}[r["kind"]]
        at = f" at {r['lon']},{r['lat']}" if r["lon"] is not None and r["lon"] == r["lon"] else ""
        cap = f" capacity {int(r['capacity'])}" if r["kind"] == "add_facility" and r["capacity"] == r["capacity"] \
            and r["capacity"] is not None else ""
        print(f"  #{r['id']:<5} {what}{cap}{at}  ({r['made_by'] or 'local'})")


def cmd_scenario(args: argparse.Namespace) -> int:
    from shequ.errors import InvalidInput
    from shequ.usecases import scenarios
    from shequ.usecases.access import LOCAL

    ws = workspace(args)
    action, name = args.action, args.name
    if action == "list":
        found = scenarios.list_scenarios(ws, user=LOCAL)
        if not found:
            print("no scenarios yet: shequ scenario create NAME")
        for s in found:
            print(f"{s['name']:<24} {s['changes']:>5} changes  revision {s['revision']:<4} {s['title'] or ''}")
        return 0
    if not name:
        raise InvalidInput(f"shequ scenario {action} needs a scenario NAME")
    if action == "create":
        view = scenarios.create(ws, name, title=args.title or "", description=args.description or "", user=LOCAL)
    elif action == "show":
        view = scenarios.show(ws, name, user=LOCAL)
    elif action == "delete":
        scenarios.delete(ws, name, user=LOCAL)
        print(f"deleted scenario {name} (the real layers are unchanged)")
        return 0
    elif action == "add-facility":
        if args.file:
            changes = scenarios.facilities_from_file(args.file, type_=args.type)
        else:
            if not (args.type and args.at):
                raise InvalidInput("add-facility needs --type and --at LON,LAT (or --file)")
            lon, lat = _lonlat(args.at)
            changes = [scenarios.facility_change(args.type, lon, lat, capacity=args.capacity, name=args.label or "",
                                                 opening_year=args.opening_year)]
        view = scenarios.add_changes(ws, name, changes, user=LOCAL)
    elif action == "add-residence":
        if not (args.at and args.households):
            raise InvalidInput("add-residence needs --at LON,LAT and --households N")
        import shapely

        lon, lat = _lonlat(args.at)
        props = {"households": args.households, "population": args.population, "children": args.children,
                 "elderly": args.elderly, "name": args.label or ""}
        view = scenarios.add_changes(ws, name, [{"kind": "add_residence", "properties": props,
                                                 "geometry": shapely.Point(lon, lat)}], user=LOCAL)
    elif action in ("close", "set-capacity"):
        if not args.facility:
            raise InvalidInput(f"{action} needs --facility ID")
        change = ({"kind": "remove_facility", "target_id": args.facility} if action == "close" else
                  {"kind": "set_capacity", "target_id": args.facility, "properties": {"capacity": args.capacity}})
        view = scenarios.add_changes(ws, name, [change], user=LOCAL)
    elif action == "build-planned":
        view = scenarios.add_changes(ws, name, [{"kind": "build_planned"}], user=LOCAL)
    elif action == "undo":
        if args.change is None:
            raise InvalidInput("undo needs --change ID (shequ scenario show NAME lists them)")
        view = scenarios.remove_change(ws, name, args.change, user=LOCAL)
    else:  # pragma: no cover - argparse's choices
        raise InvalidInput(f"unknown action {action!r}")
    _print_scenario(view)
    return 0


def cmd_plan_sites(args: argparse.Namespace) -> int:
    from shequ.usecases import scenarios, siting
    from shequ.usecases.access import LOCAL

    ws = workspace(args)
    if args.save_as:
        scenarios.check_name(args.save_as)  # before the work, not after it
    query = siting.SitingQuery.parse(args.type, add=args.add, model=args.model, weight=args.weight,
                                     distance_m=args.distance, area=args.area, scenario=args.scenario,
                                     spacing_m=args.spacing,
                                     candidates_file=None if args.candidates == "streets" else args.candidates,
                                     time_limit_s=args.time_limit)
    outcome = siting.plan_sites(ws, query, user=LOCAL)
    files = siting.write_files(ws, outcome, args.out)
    r, w = outcome.result, query.weight
    summary = dict(zip(outcome.summary["measure"], outcome.summary["value"], strict=True))
    print(f"{query.model.upper()} for {query.type} within {outcome.distance_m:g} m, weighed by {w}: "
          f"{len(outcome.candidates):,} candidate sites, {len(outcome.existing)} existing facilities kept")
    print(f"solver: {r.status}" + (f", gap ≤ {r.gap:.2%}" if r.status == "time limit" else "")
          + f", {r.seconds:.1f} s")
    print(f"{len(outcome.sites)} new site(s)" + (" (the first 20 below; all in sites.geojson)"
                                                  if len(outcome.sites) > 20 else ""))
    for row in outcome.sites.head(20).to_dict("records"):
        print(f"  site {row['rank']}: {row['lon']:.6f},{row['lat']:.6f}  newly covers "
              f"{row.get('new_households', 0):,.0f} households, {row.get('new_population', 0):,.0f} people"
              + (f", {row['new_children']:,.0f} children" if "new_children" in row else ""))
    for c in ("households", "population", w):
        if f"{c}_total" in summary:
            print(f"{c}: {summary[f'{c}_covered_before']:,.0f} → {summary[f'{c}_covered_after']:,.0f} covered "
                  f"of {summary[f'{c}_total']:,.0f} ({summary[f'{c}_rate_before']:.1%} → "
                  f"{summary[f'{c}_rate_after']:.1%}); newly covered {summary[f'{c}_newly_covered']:,.0f}")
    for _zh, en in outcome.notes:
        print(f"note: {en}")
    if args.save_as:
        view = siting.save_as_scenario(ws, outcome, args.save_as, user=LOCAL, capacity=args.capacity)
        print(f"kept as scenario {view.name} (revision {view.revision}): shequ analyze coverage --scenario "
              f"{view.name}, shequ compare real {view.name}")
    print(f"wrote {len(files.files)} files to {files.out}/ (open sites_map.html in a browser)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from shequ.usecases import compare
    from shequ.usecases.access import LOCAL

    ws = workspace(args)
    c = compare.compare(ws, args.base, args.scenario, types=args.types.split(",") if args.types else None,
                        level=args.level, area=args.area, profile=args.profile, user=LOCAL)
    files = compare.write_files(ws, c, args.out)
    print(f"{c.label('base')[1]} → {c.label('scenario')[1]}")
    print(f"{'type':<26} {'households before':>18} {'after':>10} {'change':>9} {'newly':>8} {'lost':>6}")
    for r in c.totals.to_dict("records"):
        print(f"{r['type'] + ' ' + r['name_zh']:<24} {r['households_before']:>14,.0f} "
              f"({r['households_rate_before']:>5.1%}) {r['households_after']:>10,.0f} {r['households_change']:>+9,.0f} "
              f"{r['households_newly_covered']:>8,.0f} {r['households_lost']:>6,.0f}")
    if args.profile:
        print(f"scorecard ({args.profile}): {len(c.verdicts)} verdicts change")
        for r in c.verdicts.head(20).to_dict("records"):
            print(f"  {r['code']} {str(r.get('label_en') or r['rule']).strip()}: {r['before']} → {r['after']}")
    for _zh, en in c.notes:
        print(f"note: {en}")
    print(f"wrote {len(files)} files to {args.out}/ (compare_map_<type>.html, compare.xlsx)")
    return 0


def add_parsers(sub) -> None:
    s = sub.add_parser("scenario", help="planning scenarios: named changes on top of the real layers "
                       "(planned facilities, closures, capacities, new developments); the real layers never change")
    s.add_argument("action", choices=["create", "list", "show", "delete", "add-facility", "add-residence", "close",
                                      "set-capacity", "build-planned", "undo"])
    s.add_argument("name", nargs="?", default="")
    s.add_argument("--title")
    s.add_argument("--description")
    s.add_argument("--type", help="facility type (code or Chinese/English name)")
    s.add_argument("--at", metavar="LON,LAT", help="where, WGS84")
    s.add_argument("--capacity", type=int, help="places, beds or persons")
    s.add_argument("--label", help="a name for the new facility or residence")
    s.add_argument("--opening-year", type=int)
    s.add_argument("--file", help="add-facility: a file of planned sites (GeoJSON, GPKG, zipped SHP, CSV lon/lat)")
    s.add_argument("--facility", help="close / set-capacity: the facility's id")
    s.add_argument("--households", type=int)
    s.add_argument("--population", type=int)
    s.add_argument("--children", type=int)
    s.add_argument("--elderly", type=int)
    s.add_argument("--change", type=int, help="undo: the change's id")
    s.set_defaults(func=cmd_scenario)

    s = sub.add_parser("plan", help="plan new facilities")
    plans = s.add_subparsers(dest="plan", required=True, metavar="PLAN")
    p = plans.add_parser("sites", help="where the next facilities of a type should go, on the walking network "
                         "(existing ones stay): MCLP (the best K) or LSCP (how many to cover everyone), solved exactly")
    p.add_argument("--type", required=True, help="facility type (code or Chinese/English name)")
    p.add_argument("--add", type=int, default=3, help="mclp: how many new sites (default 3)")
    p.add_argument("--model", choices=["mclp", "lscp"], default="mclp")
    p.add_argument("--weight", choices=["households", "population", "children", "elderly"],
                   help="what to cover (default: children for kindergartens and schools, elderly for elderly care, "
                   "else households)")
    p.add_argument("--distance", type=float, help="walking metres (default: the type's service distance)")
    p.add_argument("--area", help="only the residences of one community (12 digits) or street (9 digits)")
    p.add_argument("--scenario", help="on top of this scenario")
    p.add_argument("--candidates", default="streets",
                   help="'streets' (points along walkable streets, outside compounds) or a file of available lots")
    p.add_argument("--spacing", type=float, default=100.0, help="metres between street candidates (default 100)")
    p.add_argument("--time-limit", type=float, default=60.0, help="solver time limit, seconds (default 60)")
    p.add_argument("--save-as", metavar="SCENARIO", help="keep the proposed sites as (or in) this scenario")
    p.add_argument("--capacity", type=int, help="with --save-as: the capacity of each new site")
    p.add_argument("--out", default="out/sites", help="output folder (default out/sites)")
    p.set_defaults(func=cmd_plan_sites)

    s = sub.add_parser("compare", help="what a scenario changes: coverage per community, grid and type before → "
                       "after, scorecard verdicts that change, a difference map per type; CSV, XLSX, GeoJSON, HTML")
    s.add_argument("base", help="'real' for the real layers, or a scenario")
    s.add_argument("scenario", help="a scenario (or 'real')")
    s.add_argument("--types", help="comma-separated facility types (default: the coverage defaults)")
    s.add_argument("--level", choices=["5min", "10min", "15min"])
    s.add_argument("--area", help="one community (12 digits) or street (9 digits)")
    s.add_argument("--profile", help="also compare the scorecard against this profile")
    s.add_argument("--out", default="out/compare", help="output folder (default out/compare)")
    s.set_defaults(func=cmd_compare)
