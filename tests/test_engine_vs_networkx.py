"""The engine against an independent networkx oracle on the real Chengdu streets.

The oracle is written the plain way: a networkx graph with one node per street vertex, points
inserted into the street piece they are nearest to, and networkx's multi-source Dijkstra. It shares
nothing with the engine but the rule of where a compound is entered (``WalkNetwork.entries``: each
entry's point on the street and its access leg; a compound's gates come from its ``gates`` column).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from shequ.gis.coverage import Coverage, thresholds
from shequ.gis.network import WalkNetwork
from shequ.layers.osm import read_osm

TYPES = ["kindergarten", "primary_school", "market", "police_room", "bus_stop"]


@pytest.fixture(scope="module")
def chengdu(chengdu_pbf: Path):
    layers = read_osm(chengdu_pbf)
    return layers.streets, layers.residences, layers.facilities


def oracle(streets, residences, facilities, net: WalkNetwork, limit: float) -> dict[str, np.ndarray]:
    walk = streets[streets["walkable"]].to_crs(net.crs)
    g = nx.Graph()
    pieces = []
    for line in walk.geometry:
        xy = [tuple(np.round(c, 2)) for c in line.coords]
        for a, b in pairwise(xy):
            if a != b:
                w = float(np.hypot(b[0] - a[0], b[1] - a[1]))
                if not g.has_edge(a, b) or g[a][b]["length"] > w:
                    g.add_edge(a, b, length=w)
                pieces.append((a, b))
    tree = shapely.STRtree([shapely.LineString(p) for p in pieces])
    on_piece: dict[int, list] = defaultdict(list)

    def insert(name: tuple, point: shapely.Point, access: float = 0.0) -> None:
        k = int(tree.query_nearest(point, all_matches=False)[0])
        a, b = pieces[k]
        seg = shapely.LineString([a, b])
        t = seg.project(point)
        p = seg.interpolate(t)
        g.add_edge(name, ("on", name), length=point.distance(p) + access)
        g.add_edge(("on", name), a, length=t)
        g.add_edge(("on", name), b, length=seg.length - t)
        for other, t_other in on_piece[k]:
            g.add_edge(("on", name), ("on", other), length=abs(t - t_other))
        on_piece[k].append((name, t))

    res_m = np.asarray(residences.to_crs(net.crs).geometry.values)
    fac_m = facilities.to_crs(net.crs)
    gates = gpd.GeoSeries.from_wkt(residences["gates"], crs=4326).to_crs(net.crs).to_numpy()
    entries = net.entries(res_m, gates)
    owner = entries.owner
    for i, (xy, access, o) in enumerate(zip(entries.snap.xy, entries.snap.access, owner, strict=True)):
        insert(("entry", i, int(o)), shapely.Point(xy), access)  # where the entry joins the street
    for j, f in enumerate(fac_m.geometry):
        insert(("fac", j), f)
    out = {}
    for t in TYPES:
        sources = [("fac", j) for j in np.flatnonzero(fac_m["type"].to_numpy() == t)]
        dist = nx.multi_source_dijkstra_path_length(g, sources, cutoff=limit, weight="length") if sources else {}
        best = np.full(len(res_m), np.inf)
        for i, o in enumerate(owner):
            best[o] = min(best[o], dist.get(("entry", i, int(o)), np.inf))
        # a facility inside the compound serves it directly
        inside = shapely.STRtree(fac_m.geometry.values[[s[1] for s in sources]]).query(res_m, predicate="contains") \
            if sources else np.empty((2, 0), dtype=int)
        best[inside[0]] = 0
        out[t] = best
    return out


def test_engine_agrees_with_networkx_on_chengdu(chengdu) -> None:
    streets, residences, facilities = chengdu
    limit = 500.0
    net = WalkNetwork.from_streets(streets)
    result = Coverage(net, residences, facilities, thresholds(TYPES, overrides=dict.fromkeys(TYPES, limit))).solve()
    truth = oracle(streets, residences, facilities, net, limit)
    checked = 0
    for t in TYPES:
        got = result.long[result.long["type"] == t].sort_values("residence")
        engine = got["distance_m"].to_numpy()
        assert np.array_equal(np.isfinite(engine), np.isfinite(truth[t])), t
        finite = np.isfinite(engine)
        assert np.allclose(engine[finite], truth[t][finite], atol=0.02), t  # oracle rounds vertices to 1 cm
        assert (got["covered"].to_numpy() == (truth[t] <= limit)).all(), t
        checked += int(finite.sum())
    assert checked > 100  # the comparison covers real reached residences, not only misses


def test_snapping_to_edges_differs_from_snapping_to_nodes(chengdu) -> None:
    """Node snapping changes results: the reason the engine snaps to segments."""
    streets, residences, facilities = chengdu
    net = WalkNetwork.from_streets(streets)
    th = thresholds(["bus_stop"], overrides={"bus_stop": 300.0})
    exact = Coverage(net, residences, facilities, th).solve().long
    pts = shapely.points(net.node_xy)
    res_m = residences.to_crs(net.crs)
    node_of = shapely.STRtree(pts).query_nearest(shapely.point_on_surface(res_m.geometry.values), all_matches=False)
    node_res = res_m.set_geometry(pts[node_of[1]])
    fac_m = facilities.to_crs(net.crs)
    fac_nodes = shapely.STRtree(pts).query_nearest(fac_m.geometry.values, all_matches=False)
    node_fac = fac_m.set_geometry(pts[fac_nodes[1]])
    by_node = Coverage(net, node_res, node_fac, th).solve().long
    changed = (exact["covered"].to_numpy() != by_node["covered"].to_numpy()).mean()
    assert changed > 0.02
