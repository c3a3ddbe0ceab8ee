"""``shequ analyze access``: capacity-aware access (2SFCA, E2SFCA). Argument parsing and printing; the
work is ``usecases/catchment.py``'s."""

from __future__ import annotations

import argparse

from shequ.cli.common import workspace


def cmd_analyze_access(args: argparse.Namespace) -> int:
    from shequ.usecases.access import LOCAL
    from shequ.usecases.catchment import AccessQuery, access_analysis, write_files

    ws = workspace(args)
    query = AccessQuery.parse(args.type, args.method, args.distance, args.area, args.scenario, args.assume_capacity,
                              args.demand)
    outcome = access_analysis(ws, query, user=LOCAL)
    files = write_files(outcome, args.out)
    v = outcome.value
    q = outcome.query
    print(f"{q.method.upper()} for {q.type} within {outcome.distance_m:g} m, demand {q.demand}, "
          f"{outcome.area_label[1]}: {v('residences'):,} residences, {v('demand_total'):,.0f} {q.demand}")
    print(f"facilities within reach: {v('facilities')}; capacity in the data {v('facilities_with_capacity')}, "
          f"assumed {v('facilities_assumed_capacity')}, left out for lack of one {v('facilities_excluded')}")
    if q.assume_capacity is not None:
        print(f"ASSUMPTION: {q.assume_capacity} places for every facility without a capacity (not data)")
    if outcome.measured:
        line = (f"places per 1000 {q.demand}: {v('access_per_1000'):,.1f} (demand-weighted mean); "
                f"with no place within reach: {v('zero_access_demand'):,.0f} ({v('zero_access_share'):.1%})")
        if outcome.norm is not None:
            line += f"; {v('ratio_to_norm'):.0%} of the norm of {outcome.norm.per_1000:g}"
        print(line)
    else:
        print("not measured: no facility within reach has a capacity (see the first note)")
    for _zh, en in outcome.notes:
        print(f"note: {en}")
    print(f"wrote {len(files.files)} files to {files.out}/")
    return 0


def add_parser(analyses) -> None:
    """``access`` under ``shequ analyze``."""
    a = analyses.add_parser("access", help="capacity-aware access: places per 1000 children, elderly or residents "
                            "within a walk (two-step floating catchment, 2SFCA or E2SFCA)")
    a.add_argument("--type", required=True, help="facility type (code or Chinese/English name)")
    a.add_argument("--method", choices=["2sfca", "e2sfca"], default="2sfca",
                   help="2sfca: every place within the catchment counts alike; e2sfca: nearer thirds weigh more "
                   "(1.00/0.68/0.22, Luo & Qi 2009)")
    a.add_argument("--distance", type=float, help="walking catchment, metres (default: the type's service distance)")
    a.add_argument("--area", help="only the residences of one community (12-digit code) or street (9 digits)")
    a.add_argument("--scenario", help="the layers as this scenario would make them (shequ scenario list)")
    a.add_argument("--assume-capacity", type=int, metavar="N",
                   help="assume N places for every facility without a capacity (labelled as an assumption)")
    a.add_argument("--demand", choices=["children", "elderly", "population", "households"],
                   help="whose figures share the places (default: children for kindergartens and schools, elderly "
                   "for elderly care, else population)")
    a.add_argument("--out", default="out/access", help="output folder (default out/access)")
    a.set_defaults(func=cmd_analyze_access)
