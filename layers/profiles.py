"""Policy profiles: the rules of one city's (or the national) documents, as data, with their sources.

Every city sets its own standards (community size 1 000–2 000 households in one document, 1 500–3 000
in another; 20, 30 or 35 m² of service premises per 100 households …), so no such number lives in
code. A profile is a JSON file in ``data/profiles/`` (or anywhere, for a user's own): each rule has
its value, unit, the document and clause it comes from, a verbatim quote where the document states
it, and a status (verified / secondary / unverified / derived / assumption). A city profile
``extends`` another (normally ``national``); rules it does not state are inherited and every report
says from where. ``docs/profiles.md`` explains how to write one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from shequ.errors import InvalidInput
from shequ.layers import catalog

RuleKind = Literal["range", "number", "bool", "types", "facilities", "formula", "funding", "targets", "file"]

#: The rule vocabulary: key → (kind, what it means). Profiles may state any subset.
RULES: dict[str, tuple[RuleKind, str]] = {
    "community_households": ("range", "households per community"),
    "new_community_households": ("range", "households per newly established community"),
    "service_centre_m2_per_100_households": ("number", "service-centre floor area per 100 households, m²"),
    "service_centre_types": ("types", "facility types whose floor area counts as the community service centre"),
    "service_centre_min_m2": ("number", "minimum service-centre floor area per community, m²"),
    "new_community_service_centre_min_m2": ("number", "minimum service-centre floor area of a new community, m²"),
    "one_stop_min_m2": ("number", "minimum floor area of the one-stop service hall, m²"),
    "street_centre_min_m2": ("number", "minimum floor area of the street-level (街道) centre, m²"),
    "required_facilities": ("facilities", "facility types every community should have"),
    "grid_households": ("range", "households per grid"),
    "grid_manager_required": ("bool", "every grid has a grid manager"),
    "grid_party_branch_required": ("bool", "every grid has a party branch or group"),
    "grids_nest_in_communities": ("bool", "every grid lies inside one community"),
    "staff_per_households": ("number", "households per community worker"),
    "staff_formula": ("formula", "full-time workers: a base, plus more above a household count"),
    "social_workers_min": ("number", "minimum social workers per community"),
    "party_workers_min": ("number", "minimum full-time party workers per community"),
    "funding": ("funding", "funding per community (shown, not mapped)"),
    "targets": ("targets", "shares of communities meeting a rule, by year"),
    "life_circles": ("file", "life-circle levels and requirements (a data file)"),
}

STATUSES = ("verified", "secondary", "unverified", "local", "derived", "assumption")
RULE_FIELDS = ("value", "unit", "applies_to", "source", "clause", "status")


class ProfileError(InvalidInput):
    """A profile file that cannot be used, with the file, rule and reason."""


@dataclass(frozen=True)
class Rule:
    """One rule of a profile, with where it comes from."""

    key: str
    value: Any
    unit: str
    applies_to: str
    source: str  # key into the sources of the profile that states it
    source_title: str
    clause: str
    status: str
    profile: str  # the profile that states it (the one read, or one it extends)
    quote: str | None = None
    note: str | None = None

    @property
    def citation(self) -> str:
        """'Title clause (status)', for reports."""
        clause = f" {self.clause}" if self.clause else ""
        return f"{self.source_title}{clause} ({self.status})"


@dataclass(frozen=True)
class Profile:
    name: str
    title_zh: str
    title_en: str
    about: str
    extends: str | None
    rules: dict[str, Rule]
    sources: dict[str, dict]
    path: str
    lineage: tuple[str, ...] = field(default=())

    def get(self, key: str) -> Rule | None:
        if key not in RULES:
            raise KeyError(f"unknown rule {key!r}")
        return self.rules.get(key)

    def value(self, key: str, default: Any = None) -> Any:
        rule = self.get(key)
        return default if rule is None else rule.value

    def size_rule(self) -> Rule | None:
        """The community size to hold communities to: one this profile states itself (for all
        communities, else for new ones) before one it inherits — a city that sizes only its new
        communities is not held to the national range instead."""
        rules = [r for r in (self.get("community_households"), self.get("new_community_households")) if r]
        own = [r for r in rules if r.profile == self.name]
        return (own or rules or [None])[0]

    def inherited(self, key: str) -> bool:
        rule = self.rules.get(key)
        return rule is not None and rule.profile != self.name


def shipped() -> list[str]:
    """Names of the profiles that come with shequ."""
    folder = resources.files("shequ.data").joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def _read(name_or_path: str) -> tuple[dict, str]:
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        text, where = path.read_text(encoding="utf-8"), str(path)
    else:
        res = resources.files("shequ.data").joinpath("profiles", f"{name_or_path}.json")
        if not res.is_file():
            raise ProfileError(f"no profile {name_or_path!r}: shipped profiles are {', '.join(shipped())}, "
                               "or give the path of your own .json file (see docs/profiles.md)")
        text, where = res.read_text(encoding="utf-8"), f"data/profiles/{name_or_path}.json"
    try:
        return json.loads(text), where
    except json.JSONDecodeError as exc:
        raise ProfileError(f"{where}: not valid JSON: {exc}") from None


def load_profile(name_or_path: str = "national", _seen: tuple[str, ...] = ()) -> Profile:
    """A profile by shipped name or file path, with the rules of the profiles it extends."""
    doc, where = _read(name_or_path)
    name = doc.get("name") or Path(where).stem
    if name in _seen:
        raise ProfileError(f"{where}: 'extends' goes round in a circle: {' → '.join((*_seen, name))}")
    parent = load_profile(doc["extends"], (*_seen, name)) if doc.get("extends") else None
    sources = {**(parent.sources if parent else {}), **doc.get("sources", {})}
    rules = dict(parent.rules) if parent else {}
    problems = []
    for key, body in (doc.get("rules") or {}).items():
        try:
            rules[key] = _rule(key, body, sources, name)
        except ProfileError as exc:
            problems.append(f"rule {key!r}: {exc}")
    if problems:
        raise ProfileError(f"{where}: " + "; ".join(problems))
    return Profile(name=name, title_zh=doc.get("title_zh", name), title_en=doc.get("title_en", name),
                   about=doc.get("about", ""), extends=doc.get("extends"), rules=rules, sources=sources,
                   path=where, lineage=(name, *(parent.lineage if parent else ())))


def _rule(key: str, body: dict, sources: dict[str, dict], profile: str) -> Rule:
    if key not in RULES:
        raise ProfileError(f"unknown rule; the rules are: {', '.join(RULES)}")
    missing = [f for f in RULE_FIELDS if f not in body]
    if missing:
        raise ProfileError(f"missing {', '.join(missing)}")
    if body["status"] not in STATUSES:
        raise ProfileError(f"status {body['status']!r} is not one of {', '.join(STATUSES)}")
    if body["source"] not in sources:
        raise ProfileError(f"source {body['source']!r} is not among the profile's sources ({', '.join(sources)})")
    _check_value(RULES[key][0], body["value"])
    return Rule(key=key, value=body["value"], unit=body["unit"], applies_to=body["applies_to"],
                source=body["source"], source_title=sources[body["source"]].get("title", body["source"]),
                clause=body["clause"], status=body["status"], profile=profile, quote=body.get("quote"),
                note=body.get("note"))


def _check_value(kind: RuleKind, value: Any) -> None:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    known = catalog.load_facility_types()
    if kind == "range" and not (isinstance(value, list) and len(value) == 2 and all(map(number, value))
                                and value[0] <= value[1]):
        raise ProfileError(f"value must be [low, high], got {value!r}")
    if kind == "number" and not number(value):
        raise ProfileError(f"value must be a number, got {value!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise ProfileError(f"value must be true or false, got {value!r}")
    if kind == "types":
        for t in value:
            if t not in known:
                raise ProfileError(catalog.unknown_type_message(t))
    if kind == "facilities":
        for item in value:
            if item.get("type") not in known:
                raise ProfileError(catalog.unknown_type_message(str(item.get("type"))))
    if kind == "formula":
        ok = (isinstance(value, dict) and isinstance(value.get("base"), list) and len(value["base"]) == 2
              and number(value.get("above_households")) and isinstance(value.get("extra_per_households"), list))
        if not ok:
            raise ProfileError("value must be {base: [min, max], above_households: N, extra_per_households: [a, b]}")
    if kind in ("funding", "targets") and not isinstance(value, list):
        raise ProfileError("value must be a list")
