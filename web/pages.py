"""The frame every page shares: the navigation bar, the language switch (Chinese first, English on
a click), the login box, and the app's own stylesheet and script. Nothing comes from the internet:
``/static`` is served by the app (``api/app.py``).

The markup is in ``web/templates/`` (``frame.html``, ``base.html``, ``home.html``, ``error.html``);
this module picks the template and its values.
"""

from __future__ import annotations

import folium
from markupsafe import Markup

from shequ.web.offline import ATTRIBUTION, Verbatim
from shequ.web.render import NAV, STATIC, macro, render, t

__all__ = ["NAV", "STATIC", "error_page", "framed_map", "home_page", "t"]


def framed_map(m: folium.Map, title: str, panel: str, *, active: str, scripts: str = "") -> folium.Map:
    """Put a folium map in the frame: the bar on top, ``panel`` (rendered HTML) on the left, the map
    filling the rest. Each piece goes in as ``Verbatim``: folium would otherwise compile it as a Jinja
    template, and braces from the data or the query (a tile URL) would be read as template syntax."""
    root = m.get_root()
    root.header.add_child(Verbatim(macro("frame.html", "head", title)))
    root.html.add_child(Verbatim(macro("frame.html", "map_panel", active, Markup(panel), ATTRIBUTION)), index=0)
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
