"""Validation of incoming features against the layer schema.

Every problem is collected (not only the first), each naming file, feature/row, field and reason, so
a user fixes a file in one pass. Values are coerced to the schema's types on the way: codes read as
numbers become strings again, Chinese enum spellings become their codes, Chinese facility-type
names become catalog codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from shequ.layers import catalog
from shequ.layers.problems import LayerValidationError, Problem, problem_at
from shequ.layers.schema import Field, Layer

#: China's territory incl. the South China Sea islands, with a small margin: extreme points are
#: ≈73°40′E (Pamirs), ≈135°05′E (Heilong–Wusuli confluence), ≈53°33′N (Mohe), ≈3°52′N (Zengmu Ansha).
CHINA_EXTENT = (73.0, 3.5, 135.5, 54.0)

_TRUE = {"true", "t", "yes", "y", "1", "是", "可", "对"}
_FALSE = {"false", "f", "no", "n", "0", "否", "不可", "不"}
_SINGLE = {"Polygon": "MultiPolygon", "LineString": "MultiLineString", "Point": "MultiPoint"}


def map_columns(columns: Iterable[str], layer: Layer) -> dict[str, str]:
    """Source column → schema field, by name, Shapefile name or Chinese label (case-insensitive)."""
    names: dict[str, str] = {}
    for f in layer.fields:
        # f.name[:10]: how GDAL cuts long names when another tool wrote the Shapefile
        for alias in (f.name, f.dbf_name, f.zh, f.name[:10], *f.aliases):
            names.setdefault(alias.lower(), f.name)
    mapping: dict[str, str] = {}
    for col in columns:
        target = names.get(str(col).strip().lower())
        if target and target not in mapping.values():
            mapping[col] = target
    return mapping


def validate(raw: gpd.GeoDataFrame, layer: Layer, *, source: str = "<data>", csv: bool = False,
             extra_ignore: Iterable[str] = ()) -> gpd.GeoDataFrame:
    """Check and type ``raw`` (WGS84) for ``layer``; raise LayerValidationError listing every problem.

    The result has the schema's fields, an ``extra`` column (dict of the other columns per feature)
    and an index of 1-based feature numbers.
    """
    attrs = {"source": source, "csv": csv}
    raw = raw.reset_index(drop=True)
    raw.index = pd.RangeIndex(1, len(raw) + 1)
    problems: list[Problem] = []
    mapping = map_columns([c for c in raw.columns if c != raw.geometry.name], layer)
    out = gpd.GeoDataFrame(index=raw.index, geometry=raw.geometry.values, crs=raw.crs)
    out.attrs.update(attrs)

    present = set(mapping.values())
    for f in layer.fields:
        if f.required and f.name not in present:
            found = ", ".join(map(str, [c for c in raw.columns if c != raw.geometry.name])) or "none"
            problems.append(Problem(source, None, f.name,
                                    f"missing required field '{f.name}' ({f.zh}); columns found: {found}",
                                    reason_zh=f"缺少必填字段“{f.name}”（{f.zh}）；现有列：{found}"))
    reverse = {v: k for k, v in mapping.items()}
    for f in layer.fields:
        column = raw[reverse[f.name]] if f.name in reverse else pd.Series([None] * len(raw), index=raw.index)
        out[f.name], field_problems = _coerce(column, f, layer, attrs)
        problems += field_problems

    skip = set(mapping) | {raw.geometry.name} | set(extra_ignore)
    extra_cols = [c for c in raw.columns if c not in skip]
    out["extra"] = _extra(raw[extra_cols]) if extra_cols else [{} for _ in range(len(raw))]
    if layer.key != "id":  # GeoJSON's Feature "id" member repeats the key: not an attribute of its own
        for extra, key in zip(out["extra"], out[layer.key], strict=True):
            if "id" in extra and str(extra["id"]) == str(key):
                del extra["id"]

    key = out[layer.key]
    dup = key.notna() & key.duplicated(keep="first")
    first = {v: i for i, v in key[~key.duplicated(keep="first")].items()}
    for idx, value in key[dup].items():
        problems.append(problem_at(attrs, idx, layer.key,
                                   f"duplicate {layer.key} {value!r} (also feature {first[value]})",
                                   f"{layer.key} {value!r} 重复（第 {first[value]} 个要素也用了它）"))

    geometry, geom_problems = check_geometry(out.geometry, layer, attrs)
    out = out.set_geometry(geometry)
    problems += geom_problems
    if problems:
        raise LayerValidationError(problems)
    return out


def _extra(frame: pd.DataFrame) -> list[dict]:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): _json_value(v) for k, v in r.items() if v is not None and v != ""} for r in records]


def _json_value(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype(str).str.strip().isin(["", "nan", "None", "NaN", "<NA>"])


def _as_text(series: pd.Series) -> pd.Series:
    """Text values; whole numbers read from numeric columns (codes!) lose their '.0'."""
    def one(v: object) -> object:
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        return str(v).strip()
    return series.map(one)


def _coerce(column: pd.Series, f: Field, layer: Layer, attrs: dict) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    blank = _blank(column)

    def bad(mask: pd.Series, reason: str, zh: str) -> None:
        for idx, value in column[mask].items():
            problems.append(problem_at(attrs, idx, f.name, reason.format(value=value), zh.format(value=value)))

    if f.required:
        bad(blank, "required value missing", f"缺少必填值（{f.zh}）")
    if f.type in ("int", "float"):
        numbers = pd.to_numeric(column.where(~blank).astype(object).map(
            lambda v: v.strip().replace(",", "") if isinstance(v, str) else v), errors="coerce")
        bad(~blank & numbers.isna(), "{value!r} is not a number", "{value!r} 不是数字")
        valid = numbers.notna()
        if f.type == "int":
            bad(valid & (numbers.round() != numbers), "{value!r} is not a whole number", "{value!r} 不是整数")
        if f.minimum is not None:
            bad(valid & (numbers < f.minimum), "{value!r} is below the minimum " + f"{f.minimum:g}",
                "{value!r} 小于最小值 " + f"{f.minimum:g}")
        if f.type == "int":
            ok = valid & (numbers.round() == numbers)
            result = pd.Series(pd.array([None] * len(column), dtype="Int64"), index=column.index)
            result[ok] = numbers[ok].astype("int64")
        else:
            result = numbers.astype("Float64")
        return result, problems
    if f.type == "bool":
        text = column.where(~blank).astype(object).map(lambda v: str(v).strip().lower() if v is not None else v)
        parsed = text.map(lambda v: True if v in _TRUE else False if v in _FALSE else None)
        bad(~blank & parsed.isna(), "{value!r} is not true/false (是/否)", "{value!r} 应为 是/否（true/false）")
        if f.default is not None:
            parsed = parsed.where(~blank, f.default)
        return parsed.astype("boolean"), problems
    text = _as_text(column).where(~blank, None)
    if f.type == "enum":
        lookup = {c.lower(): c for c in f.choices}
        for code, spellings in f.choices.items():
            lookup.update({s.lower(): code for s in spellings})
        mapped = text.map(lambda v: lookup.get(v.lower()) if isinstance(v, str) else None)
        bad(~blank & mapped.isna(), "{value!r} is not one of " + ", ".join(f.choices),
            "{value!r} 不是可选值之一：" + "、".join(f.choices))
        if f.default is not None:
            mapped = mapped.where(~blank, f.default)
        return mapped.astype(object), problems
    if f.pattern:
        # ASCII: \d would also match full-width (０-９) and Arabic-Indic digits; fullmatch: '$' alone lets a
        # trailing newline through
        rx = re.compile(f.pattern, re.ASCII)
        bad(~blank & ~text.map(lambda v: bool(rx.fullmatch(v)) if isinstance(v, str) else True),
            "{value!r} is not a valid " + f.name + (f": {f.pattern_hint}" if f.pattern_hint else ""),
            "{value!r} 不是有效的" + f.zh + (f"：{f.pattern_hint}" if f.pattern_hint else ""))
    if layer.name == "facilities" and f.name == "type":
        text, type_problems = _facility_types(text, attrs)
        problems += type_problems
    return text.astype(object), problems


def _facility_types(text: pd.Series, attrs: dict) -> tuple[pd.Series, list[Problem]]:
    problems = []
    codes = text.map(lambda v: catalog.lookup(v) if isinstance(v, str) else None)
    for idx, value in text[text.notna() & codes.isna()].items():
        types = catalog.load_facility_types()
        hints = [f"{code} ({types[code].name_zh})" for code in catalog.suggest(value) if code in types]
        hint = f"; did you mean {' or '.join(hints)}?" if hints else ""
        hint_zh = f"；是否指 {' 或 '.join(hints)}？" if hints else ""
        problems.append(problem_at(attrs, idx, "type", f"unknown facility type {value!r}{hint} "
                                   "(`shequ types` lists the catalog)",
                                   f"未知的设施类型 {value!r}{hint_zh}（shequ types 列出设施目录）"))
    return codes.where(codes.notna(), text), problems


def check_geometry(geoms: gpd.GeoSeries, layer: Layer, attrs: dict) -> tuple[gpd.GeoSeries, list[Problem]]:
    """Type, validity and extent checks; single-part multi-geometries are unwrapped."""
    problems: list[Problem] = []
    arr = shapely.force_2d(np.asarray(geoms.values))
    index = geoms.index
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    for idx in index[missing]:
        problems.append(problem_at(attrs, idx, "geometry", "geometry missing or empty", "缺少几何图形或图形为空"))

    types = np.asarray(shapely.get_type_id(arr))
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                      "MultiPolygon", "GeometryCollection", "CircularString", "CompoundCurve",
                      "CurvePolygon", "MultiCurve", "MultiSurface"], dtype=object)
    type_names = np.where(types >= 0, names[np.clip(types, 0, None)], None)
    allowed = set(layer.geometry)
    # Promote or unwrap where that changes nothing about the shape.
    if "MultiPolygon" in allowed and "Polygon" not in allowed:
        promote = type_names == "Polygon"
        arr[promote] = shapely.multipolygons(arr[promote][:, None]) if promote.any() else arr[promote]
        type_names[promote] = "MultiPolygon"
    for single, multi in _SINGLE.items():
        if single in allowed and multi not in allowed:
            m = (type_names == multi) & ~missing
            parts = shapely.get_num_geometries(arr)
            unwrap = m & (parts == 1)
            if unwrap.any():
                arr[unwrap] = shapely.get_geometry(arr[unwrap], 0)
                type_names[unwrap] = single
            for idx, n in zip(index[m & (parts > 1)], parts[m & (parts > 1)], strict=True):
                problems.append(problem_at(attrs, idx, "geometry",
                                           f"{layer.name} need one {single} per feature; this {multi} "
                                           f"has {n} parts", f"{layer.zh}每个要素只能有一个 {single}；"
                                           f"这个 {multi} 有 {n} 个部分"))
                type_names[index.get_loc(idx)] = "reported"
    wrong = ~missing & ~np.isin(type_names, [*allowed, "reported"])
    for idx, t in zip(index[wrong], type_names[wrong], strict=True):
        problems.append(problem_at(attrs, idx, "geometry",
                                   f"wrong geometry type {t}: {layer.name} must be {' or '.join(layer.geometry)}",
                                   f"几何类型 {t} 不对：{layer.zh}应为 {' 或 '.join(layer.geometry)}"))

    ok = ~missing & ~wrong
    valid = np.ones(len(arr), dtype=bool)
    valid[ok] = shapely.is_valid(arr[ok])
    for idx, geom in zip(index[~valid], arr[~valid], strict=True):
        problems.append(problem_at(attrs, idx, "geometry", _invalid_reason(geom),
                                   "几何图形无效（如边界自相交）：" + _invalid_reason(geom)))

    bounds = np.full((len(arr), 4), np.nan)
    bounds[ok] = shapely.bounds(arr[ok])
    minx, miny, maxx, maxy = CHINA_EXTENT
    with np.errstate(invalid="ignore"):
        inside = (bounds[:, 0] >= minx) & (bounds[:, 2] <= maxx) & (bounds[:, 1] >= miny) & (bounds[:, 3] <= maxy)
        swapped = (bounds[:, 1] >= minx) & (bounds[:, 3] <= maxx) & (bounds[:, 0] >= miny) & (bounds[:, 2] <= maxy)
        degrees = (np.abs(bounds[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(bounds[:, [1, 3]]) <= 90).all(axis=1)
    for i in np.flatnonzero(ok & ~inside):
        idx = index[i]
        x, y = bounds[i, 0], bounds[i, 1]
        if swapped[i]:
            reason = (f"coordinates ({x:.6f}, {y:.6f}) look like latitude/longitude swapped: "
                      "expected longitude first (x = lon ≈ 73–135, y = lat ≈ 4–54)")
            zh = f"坐标 ({x:.6f}, {y:.6f}) 似乎经纬度颠倒：应先经度（x 经度 ≈ 73–135，y 纬度 ≈ 4–54）"
        elif not degrees[i]:
            reason = (f"coordinates ({x:.1f}, {y:.1f}) are not degrees: the data is probably in a projected CRS "
                      "(e.g. CGCS2000 Gauss-Krüger); give it with --crs EPSG:…")
            zh = (f"坐标 ({x:.1f}, {y:.1f}) 不是经纬度：数据可能是投影坐标（如 CGCS2000 高斯-克吕格），"
                  "请用 --crs EPSG:… 指定")
        else:
            reason = f"coordinates ({x:.6f}, {y:.6f}) are outside China's extent"
            zh = f"坐标 ({x:.6f}, {y:.6f}) 在中国范围之外"
        problems.append(problem_at(attrs, idx, "geometry", reason, zh))
    return gpd.GeoSeries(arr, index=index, crs=geoms.crs), problems


def _invalid_reason(geom: shapely.Geometry) -> str:
    reason = shapely.is_valid_reason(geom)
    m = re.match(r"([^\[]+)\[([-\d.e]+) ([-\d.e]+)\]", reason)
    if m:
        what = m.group(1).strip()
        what = "self-intersection" if what == "Self-intersection" else what.lower()
        reason = f"{what} at ({float(m.group(2)):.6f}, {float(m.group(3)):.6f})"
    return f"invalid geometry: {reason}"
