"""The frame every page shares: the navigation bar, the language switch (Chinese first, English on
a click), the login box, and the app's own stylesheet and script. Nothing comes from the internet:
``/static`` is served by the app (``api/app.py``).

The markup is in ``web/templates/`` (``frame.html``, ``base.html``, ``home.html``, ``error.html``);
this module picks the template and its values.
"""

from __future__ import annotations

import re

import folium
from jinja2 import Environment
from markupsafe import Markup

from shequ.web.offline import ATTRIBUTION, Verbatim
from shequ.web.render import NAV, STATIC, macro, render, t

__all__ = ["NAV", "STATIC", "error_page", "framed_map", "home_page", "t"]


#: folium's map header locks the zoom (``maximum-scale=1.0, user-scalable=no``): a phone could not pinch-zoom
#: the panel's text. The frame's head has its own viewport tag; this one is dropped.
_ZOOM_LOCK = re.compile(r"<meta\s+name=\"viewport\"[^>]*>", re.S)


def _without_zoom_lock(header: object) -> str:
    """folium's rendered map header without its viewport tag."""
    return _ZOOM_LOCK.sub("", str(header))


#: folium's own map template, its header passed through ``_without_zoom_lock`` (the map and its script as they are)
_PINCH_ZOOM = Environment(autoescape=False).from_string(
    "{% macro header(this, kwargs) %}{{ unlock(base.header(this, kwargs)) }}{% endmacro %}"
    "{% macro html(this, kwargs) %}{{ base.html(this, kwargs) }}{% endmacro %}"
    "{% macro script(this, kwargs) %}{{ base.script(this, kwargs) }}{% endmacro %}",
    globals={"base": folium.Map._template.module, "unlock": _without_zoom_lock})


def framed_map(m: folium.Map, title: str, panel: str, *, active: str, scripts: str = "") -> folium.Map:
    """Put a folium map in the frame: the bar on top, ``panel`` (rendered HTML) on the left, the map
    filling the rest. Each piece goes in as ``Verbatim``: folium would otherwise compile it as a Jinja
    template, and braces from the data or the query (a tile URL) would be read as template syntax. The map
    keeps pinch-zoom (``_PINCH_ZOOM``); ``shequ.js`` adds its 定位 and 图例 buttons and folds the panel on a phone."""
    root = m.get_root()
    m._template = _PINCH_ZOOM
    root.header.add_child(Verbatim(macro("frame.html", "head", title)))
    root.html.add_child(Verbatim(macro("frame.html", "map_panel", active, Markup(panel), ATTRIBUTION,
                                       heading=title.removesuffix(" — shequ"))), index=0)
    if scripts:
        root.html.add_child(Verbatim(scripts))
    root.header.add_child(Verbatim(macro("frame.html", "map_style")))
    root.html.add_child(Verbatim(macro("frame.html", "map_lang")))
    return m


def home_page(counts: dict[str, int]) -> str:
    """What a browser sees at ``/``: the pages, the API, the data loaded (the API answers JSON)."""
    return render("home.html", title="shequ 社区", counts=counts.items(), attribution=ATTRIBUTION)


def error_page(status: int, zh: str, en: str, *, active: str = "", back: str = "/", login: bool = False) -> str:
    """A plain page that says what was wrong and how to fix it; ``login``: a login box opens, and the
    page reloads once the user has logged in."""
    return render("error.html", title="shequ — " + en, active=active, status=status, zh=zh, en=en, back=back,
                  login=login)
