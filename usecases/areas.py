"""The areas a user can choose (for an export, a report): streets and towns, and communities — codes and
names only, read without geometry, so a page that fills a list does not download every outline.

A street's name comes from the ``subdistricts`` layer; a street that has none there (communities
imported without their streets) is named by its communities' ``street`` field, else by its code.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from shequ.usecases.workspace import Workspace


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    parent: str = ""  # a community's street code; a street's district name

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "parent": self.parent}


@dataclass
class Areas:
    streets: list[Area]
    communities: list[Area]

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"streets": [a.as_dict() for a in self.streets],
                "communities": [a.as_dict() for a in self.communities]}


def _text(value: object) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()


def areas(ws: Workspace) -> Areas:
    """Every street (9-digit code) that has communities (an area is where communities are), and every
    community, by code."""
    store = ws.store
    comm = store.attributes("communities", ["code", "name", "street"])
    subs = store.attributes("subdistricts", ["code", "name", "district"])
    named = {str(c): (_text(n), _text(d)) for c, n, d in zip(subs["code"], subs["name"], subs["district"], strict=True)}
    communities = [Area(str(c), _text(n) or str(c), str(c)[:9])
                   for c, n in zip(comm["code"], comm["name"], strict=True)]
    streets: dict[str, Area] = {}
    for code, street in zip(comm["code"].astype(str).str[:9], comm["street"], strict=True):
        if code in streets:
            continue
        name, district = named.get(code, ("", ""))
        streets[code] = Area(code, name or _text(street) or code, district)
    return Areas(sorted(streets.values(), key=lambda a: a.code), communities)
