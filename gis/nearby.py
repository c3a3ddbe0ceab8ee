"""What can matter to an area within a walking distance: the one candidate search, in metres.

A walk of ``d`` metres never leaves the disc of radius ``d`` around where it starts, so the facilities
and streets that can serve an area's residences all lie within ``d`` of the residences' extent.
The search is done in a metric CRS, not with a box padded in degrees: a degree of longitude shrinks
with latitude (111 km at the equator, 79 km at 45° N, 56 km at 60° N), so a degree-padded box drops
facilities that are within reach in Harbin or Hohhot.
"""

from __future__ import annotations

import numpy as np
import shapely


def within_reach(geoms_m: np.ndarray, targets_m: np.ndarray, distance_m: float) -> np.ndarray:
    """Which ``geoms_m`` lie within ``distance_m`` of the bounding box of ``targets_m`` (both in one
    metric CRS). A superset of what is within ``distance_m`` of the targets themselves: enough to
    keep, cheap to test (one box)."""
    geoms_m = np.asarray(geoms_m)
    if not len(geoms_m) or not len(targets_m):
        return np.zeros(len(geoms_m), dtype=bool)
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(targets_m))
    box = shapely.box(minx - distance_m, miny - distance_m, maxx + distance_m, maxy + distance_m)
    return shapely.intersects(geoms_m, box)
