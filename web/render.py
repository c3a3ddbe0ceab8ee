"""The one Jinja2 environment the pages, the report and the map frame are rendered through.

Templates live in ``web/templates/`` (shipped as package data). Autoescaping is on: a value is text
unless it is ``Markup`` (an already rendered fragment, such as an inline SVG chart). Globals and
filters give the templates the two languages (``t``) and the number formats the pages use.
"""

from __future__ import annotations

import math
from numbers import Number
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

#: where the app serves ``web/static`` (``api/app.py``)
STATIC = "/static"
DASH = "—"
#: how far a rule's number is verified: its badge colour (white text on it at 4.5:1 or more) and its Chinese name
STATUS_COLOURS = {"verified": "#1a7f37", "secondary": "#975a16", "unverified": "#c53030", "local": "#2b6cb0",
                  "derived": "#4a5568", "assumption": "#5f6b7d"}
STATUS_ZH = {"verified": "已核实", "secondary": "二手来源", "unverified": "未核实", "local": "地方标准",
             "derived": "推导", "assumption": "假定"}

#: (path, Chinese, English) of the pages in the navigation bar
NAV = [("/maps/coverage", "覆盖地图", "Coverage map"), ("/reports/scorecard", "评分卡", "Scorecards"),
       ("/reports/progress", "目标进度", "Progress"), ("/edit/grids", "网格编辑", "Grid editor"),
       ("/exports", "数据导出", "Exports"),
       ("/docs", "接口文档", "API")]


def t(zh: object, en: object) -> Markup:
    """Both languages; the stylesheet shows the one the page is in (both are escaped)."""
    return Markup('<span class="zh">{}</span><span class="en">{}</span>').format(zh, en)


def both(label: object) -> object:
    """A label that is a (Chinese, English) pair as ``t`` renders it; any other label as it is."""
    if isinstance(label, (tuple, list)) and len(label) == 2:
        return t(*label)
    return label


def missing(value: object) -> bool:
    """None, NaN, NA or an infinite number: shown as a dash."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, Number) and not isinstance(value, bool):
        try:
            return not math.isfinite(float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


def fmt(value: Any, spec: str = "") -> str:
    """Python's ``format(value, spec)``: ``{{ n|fmt(",") }}`` → ``1,234``, ``fmt("+,")``, ``fmt("g")``."""
    return format(value, spec)


def num(value: object, digits: int = 0) -> str:
    """A number with thousands separators and ``digits`` decimals; a dash when it is missing."""
    return DASH if missing(value) else f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def pct(value: object) -> str:
    """A share as a whole percentage (0.4567 → 46%); a dash when it is missing."""
    return DASH if missing(value) else f"{float(value):.0%}"  # type: ignore[arg-type]


def text(value: object) -> str:
    """A value as text; empty when it is missing (None, NaN)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def with_unit(value: object, unit: object) -> str:
    """A rule's value and its unit; empty when there is no value."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value} {unit}"


ENV = Environment(loader=PackageLoader("shequ.web", "templates"), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)
ENV.globals.update(t=t, both=both, static=STATIC, nav_items=NAV, status_colours=STATUS_COLOURS, status_zh=STATUS_ZH)
ENV.filters.update(fmt=fmt, num=num, pct=pct, text=text, with_unit=with_unit)
ENV.tests["missing"] = missing


def render(name: str, /, **context: Any) -> str:
    """The template ``name`` rendered with ``context``."""
    return ENV.get_template(name).render(**context)


def fragment(name: str, /, **context: Any) -> Markup:
    """A rendered template to put into another one as it is (its values were escaped when it was rendered)."""
    return Markup(render(name, **context))


def macro(template: str, name: str, /, *args: Any, **kwargs: Any) -> Markup:
    """One macro of a template, called from Python (SVG charts and maps drawn from computed numbers)."""
    return Markup(getattr(ENV.get_template(template).module, name)(*args, **kwargs))
