"""Facility-type catalog and life-circle levels, read from ``data/*.json``.

Why data files: facility names, life-circle levels and service distances differ between national
standards and local policies, and many values are not yet verified against the official texts. So
every value lives in JSON with its source, clause and verification status, and code only reads it
here. Loading also checks the files (unknown source/status keys, duplicate codes or names) so a
hand edit fails early instead of silently mis-typing facilities.
"""

from __future__ import annotations

import difflib
import functools
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from shequ.errors import InvalidInput

FACILITY_FILE = "facility_types.json"
LEVELS_FILE = "life_circle_levels.json"
LEVELS: tuple[str, ...] = ("15min", "10min", "5min", "block")
CATEGORIES: tuple[str, ...] = ("governance", "health", "education", "elderly", "culture_sports", "commerce",
                               "safety", "transport", "environment", "other")


class CatalogError(InvalidInput):
    """A catalog data file is inconsistent (bad key, unknown source, duplicate name …)."""


@dataclass(frozen=True)
class Sourced:
    """A value together with where it comes from and how sure we are of it.

    ``status`` is a key of the file's ``statuses`` (verified / secondary / unverified / local /
    derived / assumption); ``via`` lists the reference keys ([S#]) through which it was read.
    """

    value: Any
    source: str
    clause: str
    status: str
    via: tuple[str, ...] = ()
    note: str = ""
    #: how shequ read the value (the project's reference files): kept, never shown as the source
    provenance: str = ""


@dataclass(frozen=True)
class SourceRef:
    """A document and clause that names a facility type."""

    source: str
    clause: str


@dataclass(frozen=True)
class FacilityType:
    """One kind of facility; ``levels.value`` and ``service_distance_m.value`` drive coverage checks."""

    code: str
    name_zh: str
    name_en: str
    category: str
    levels: Sourced
    service_distance_m: Sourced
    named_in: tuple[SourceRef, ...]
    aliases_zh: tuple[str, ...]
    osm_tags: tuple[tuple[str, str], ...]
    note: str = ""

    @property
    def label(self) -> str:
        """``code (中文名)`` — for messages."""
        return f"{self.code} ({self.name_zh})"


@dataclass(frozen=True)
class LifeCircleLevel:
    """A GB 50180-2018 life-circle level; ranges are ``(min, max)`` tuples.

    ``extras`` holds further sourced attributes a level may have (e.g. ``land_area_ha``);
    ``walk_distance_variants`` other published walking distances for the same level.
    """

    code: str
    name_zh: str
    name_en: str
    walk_distance_m: Sourced
    population: Sourced
    dwellings: Sourced
    bounded_by: Sourced | None = None
    extras: tuple[tuple[str, Sourced], ...] = ()
    walk_distance_variants: tuple[Sourced, ...] = ()

    def extra(self, name: str) -> Sourced | None:
        """The sourced attribute ``name`` from ``extras``, or None."""
        return dict(self.extras).get(name)


# ------------------------------------------------------------------ reading


def _data_dir() -> Traversable:
    """``shequ.data`` when the package is installed; the repository's ``data/`` folder otherwise."""
    try:
        return resources.files("shequ.data")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "data"


@functools.cache
def _read(name: str) -> dict[str, Any]:
    return json.loads(_data_dir().joinpath(name).read_text(encoding="utf-8"))


def _freeze(value: Any) -> Any:
    """Lists → tuples, so loaded values cannot be changed by a caller and are hashable."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _sourced(obj: Mapping[str, Any], doc: Mapping[str, Any], where: str) -> Sourced:
    missing = {"value", "source", "clause", "status"} - set(obj)
    if missing:
        raise CatalogError(f"{where}: missing {sorted(missing)}")
    if obj["source"] not in doc["sources"]:
        raise CatalogError(f"{where}: unknown source {obj['source']!r}")
    if obj["status"] not in doc["statuses"]:
        raise CatalogError(f"{where}: unknown status {obj['status']!r}")
    via = tuple(obj.get("via", ()))
    for key in via:
        if key not in doc["sources"]:
            raise CatalogError(f"{where}: unknown 'via' source {key!r}")
    return Sourced(_freeze(obj["value"]), obj["source"], obj["clause"], obj["status"], via, obj.get("note", ""),
                   obj.get("provenance", ""))


def _facility(obj: Mapping[str, Any], doc: Mapping[str, Any]) -> FacilityType:
    code = obj["code"]
    if not code.isascii() or code != code.lower() or not code.replace("_", "").isalnum():
        raise CatalogError(f"facility type code {code!r} is not a lowercase ASCII slug")
    if obj["category"] not in CATEGORIES:
        raise CatalogError(f"{code}: unknown category {obj['category']!r}")
    levels = _sourced(obj["levels"], doc, f"{code}.levels")
    if not levels.value or not set(levels.value) <= set(LEVELS):
        raise CatalogError(f"{code}.levels: {levels.value!r} is not a non-empty subset of {LEVELS}")
    distance = _sourced(obj["service_distance_m"], doc, f"{code}.service_distance_m")
    if distance.value is not None and (isinstance(distance.value, bool) or not isinstance(distance.value, int | float)):
        raise CatalogError(f"{code}.service_distance_m: {distance.value!r} is not a number or null")
    named_in = []
    for ref in obj.get("named_in", []):
        if ref["source"] not in doc["sources"]:
            raise CatalogError(f"{code}.named_in: unknown source {ref['source']!r}")
        named_in.append(SourceRef(ref["source"], ref["clause"]))
    tags = []
    for tag in obj.get("osm_tags", []):
        if len(tag) != 1:
            raise CatalogError(f"{code}.osm_tags: {tag!r} must have exactly one key")
        tags.append(next(iter(tag.items())))
    return FacilityType(code, obj["name_zh"], obj["name_en"], obj["category"], levels, distance,
                        tuple(named_in), tuple(obj.get("aliases_zh", [])), tuple(tags), obj.get("note", ""))


@functools.cache
def load_facility_types() -> dict[str, FacilityType]:
    """All facility types by code, in file order (which is also the OSM matching precedence)."""
    doc = _read(FACILITY_FILE)
    types: dict[str, FacilityType] = {}
    for obj in doc["types"]:
        t = _facility(obj, doc)
        if t.code in types:
            raise CatalogError(f"duplicate facility type code {t.code!r}")
        types[t.code] = t
    _name_index(types)  # raises on ambiguous names
    _osm_index(types)  # raises on a tag claimed by two types
    return types


@functools.cache
def load_life_circle_levels() -> dict[str, LifeCircleLevel]:
    """The four life-circle levels by code (15min, 10min, 5min, block), largest first."""
    doc = _read(LEVELS_FILE)
    levels: dict[str, LifeCircleLevel] = {}
    core = {"code", "name_zh", "name_en", "walk_distance_m", "population", "dwellings", "bounded_by",
            "walk_distance_variants"}
    for obj in doc["levels"]:
        code = obj["code"]
        if code not in LEVELS:
            raise CatalogError(f"unknown life-circle level {code!r}")
        extras = tuple((k, _sourced(v, doc, f"{code}.{k}")) for k, v in obj.items() if k not in core)
        variants = tuple(_sourced(v, doc, f"{code}.walk_distance_variants")
                         for v in obj.get("walk_distance_variants", []))
        bounded = _sourced(obj["bounded_by"], doc, f"{code}.bounded_by") if "bounded_by" in obj else None
        levels[code] = LifeCircleLevel(
            code, obj["name_zh"], obj["name_en"],
            _sourced(obj["walk_distance_m"], doc, f"{code}.walk_distance_m"),
            _sourced(obj["population"], doc, f"{code}.population"),
            _sourced(obj["dwellings"], doc, f"{code}.dwellings"),
            bounded, extras, variants)
    if tuple(levels) != LEVELS:
        raise CatalogError(f"{LEVELS_FILE} must list the levels {LEVELS} in that order, got {tuple(levels)}")
    return levels


@functools.cache
def tiers_inclusive() -> Sourced:
    """Whether an upper level's facility also counts for a lower level (GB 50180-2018: it does not)."""
    doc = _read(LEVELS_FILE)
    return _sourced(doc["tiers_inclusive"], doc, "tiers_inclusive")


def sources(file: str = FACILITY_FILE) -> dict[str, dict[str, Any]]:
    """The ``sources`` table of a catalog file — to show titles and notes next to cited values."""
    return dict(_read(file)["sources"])


def citation(source: str, clause: str = "", file: str = FACILITY_FILE) -> str:
    """The source as a reader can look it up: the document's title and its clause (never a source key
    or a file of the project); the status is said beside it by whoever shows it."""
    title = str(sources(file).get(source, {}).get("title") or source)
    return f"{title} {clause}".strip()


def facility_type_codes() -> list[str]:
    """All facility type codes in catalog order."""
    return list(load_facility_types())


def types_at_level(level: str) -> list[str]:
    """Codes of the types configured at ``level`` (levels are evaluated independently)."""
    if level not in LEVELS:
        raise KeyError(f"unknown life-circle level {level!r}; expected one of {LEVELS}")
    return [c for c, t in load_facility_types().items() if level in t.levels.value]


# ------------------------------------------------------------------ names


def _norm(text: str) -> str:
    """Fold full-width forms, case and spaces, so '社区服务中心（街道级）' == '社区服务中心(街道级)'."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def _name_index(types: Mapping[str, FacilityType]) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, t in types.items():
        for name in (code, t.name_zh, t.name_en, *t.aliases_zh):
            key = _norm(name)
            if index.get(key, code) != code:
                raise CatalogError(f"name {name!r} is used by both {index[key]} and {code}")
            index[key] = code
    return index


@functools.cache
def _names() -> dict[str, str]:
    return _name_index(load_facility_types())


def lookup(name_or_code: str) -> str | None:
    """The type code for a code, Chinese name, alias or English name; None if unknown.

    Matching ignores case, spaces and full-/half-width differences. As a fallback a leading
    '社区' is dropped or added ('卫生服务站' ↔ '社区卫生服务站'), since documents use both forms.
    """
    if not isinstance(name_or_code, str):
        return None
    names = _names()
    key = _norm(name_or_code)
    if not key:
        return None
    if key in names:
        return names[key]
    alt = key.removeprefix("社区") if key.startswith("社区") else "社区" + key
    return names.get(alt)


def suggest(name: str, n: int = 3) -> list[str]:
    """Codes of the types whose code, name or alias is closest to ``name`` — for error messages."""
    names = _names()
    key = _norm(name)
    found: list[str] = []
    exact = lookup(name)
    if exact:
        found.append(exact)
    for match in difflib.get_close_matches(key, list(names), n=10, cutoff=0.6):
        found.append(names[match])
    if not key.isascii():  # short Chinese fragments: '卫生站' is inside '社区卫生站'
        found += [code for k, code in names.items() if len(key) >= 2 and (key in k or k in key)]
    return list(dict.fromkeys(found))[:n]


def unknown_type_message(name: str) -> str:
    """Error text such as: unknown facility type 'kindergarden' — did you mean kindergarten (幼儿园)?"""
    types = load_facility_types()
    hints = [types[c].label for c in suggest(name)]
    hint = f" — did you mean {' or '.join(hints)}?" if hints else " (see facility_type_codes())"
    return f"unknown facility type {name!r}{hint}"


def unknown_type_message_zh(name: str) -> str:
    """The same in Chinese: 未知的设施类型 'kindergarden'：是否指 幼儿园（kindergarten）？"""
    types = load_facility_types()
    hints = [f"{types[c].name_zh}（{c}）" for c in suggest(name)]
    hint = f"：是否指 {' 或 '.join(hints)}？" if hints else "（shequ types 列出设施目录）"
    return f"未知的设施类型 {name!r}{hint}"


# ------------------------------------------------------------------ OSM


def _osm_index(types: Mapping[str, FacilityType]) -> dict[tuple[str, str], tuple[int, str]]:
    index: dict[tuple[str, str], tuple[int, str]] = {}
    for order, (code, t) in enumerate(types.items()):
        for tag in t.osm_tags:
            if tag in index:
                raise CatalogError(f"OSM tag {tag[0]}={tag[1]} is claimed by both {index[tag][1]} and {code}")
            index[tag] = (order, code)
    return index


@functools.cache
def _osm() -> dict[tuple[str, str], tuple[int, str]]:
    return _osm_index(load_facility_types())


def match_osm_tags(tags: Mapping[str, str]) -> str | None:
    """The facility type of an OSM feature, or None.

    Precedence: each ``key=value`` belongs to at most one type; when a feature's tags hit several
    types, the type listed first in ``facility_types.json`` wins. The file lists the more specific
    types first (e.g. ``isced:level=2`` → middle_school before ``amenity=school`` → primary_school,
    ``social_facility=day_care`` before ``amenity=social_facility``). Values with ';' are split, as in
    OSM multi-value tags.
    """
    index = _osm()
    best: tuple[int, str] | None = None
    for key, value in tags.items():
        if value is None:
            continue
        for part in str(value).split(";"):
            hit = index.get((key, part.strip()))
            if hit and (best is None or hit < best):
                best = hit
    return best[1] if best else None
