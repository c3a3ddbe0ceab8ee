"""Folium maps that load nothing from the internet.

Stock folium pulls Leaflet, jQuery, Bootstrap and fonts from public CDNs and tiles from
OpenStreetMap, so on a government intranet the page is blank. ``OfflineMap`` asks only for Leaflet,
from the copy vendored in ``web/static/vendor`` (``scripts/vendor-assets.sh`` refreshes it), and
has no tile layer: the data's own streets serve as a light basemap. ``to_html`` either inlines the
assets (a self-contained file) or points them at the app's ``/static`` route: the map puts the tags
it is asked for into its page as it renders, nothing is searched and replaced in the page afterwards.
"""

from __future__ import annotations

import base64
import re
from importlib import resources
from typing import ClassVar, Literal

import folium
from branca.element import CssLink, Element, JavascriptLink, MacroElement
from jinja2 import Template

ATTRIBUTION = "© OpenStreetMap contributors"
#: one language at a time in a map's labels (as web/static/shequ.css does for the pages)
LANGUAGE_CSS = 'html:not([lang="en"]) .en, html[lang="en"] .zh { display: none !important; }'


class Verbatim(Element):
    """Rendered HTML put into a folium page as it is. ``folium.Element(html)`` compiles its HTML as a
    Jinja template, so braces in the data or the query (a tile URL) would be read as template syntax;
    here the HTML is a value the template prints, never template source."""

    _template = Template("{{ this.markup }}")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._name = "Verbatim"
        self.markup = markup


class _InlineScript(Element):
    _template = Template("<script>{{ this.code }}</script>")

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


class _InlineStyle(Element):
    _template = Template("<style>{{ this.css }}</style>")

    def __init__(self, css: str) -> None:
        super().__init__()
        self.css = css


class _MapExtras(MacroElement):
    """Metric-only scale bar and the data attribution, added once the map exists."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.attribution|tojson }});
        {% endmacro %}
    """)

    def __init__(self, attribution: str) -> None:
        super().__init__()
        self._name = "MapExtras"
        self.attribution = attribution


class OfflineMap(folium.Map):
    """A folium Map whose only scripts are the vendored Leaflet files: linked from ``static_url/vendor``
    or inlined, as ``assets`` says when the page is rendered (``to_html`` sets it)."""

    default_js: ClassVar[list[tuple[str, str]]] = []
    default_css: ClassVar[list[tuple[str, str]]] = []
    #: (name, path under ``web/static/vendor``) of the scripts and stylesheets the map needs
    vendor_js: ClassVar[list[tuple[str, str]]] = [("leaflet", "leaflet/leaflet.js")]
    vendor_css: ClassVar[list[tuple[str, str]]] = [("leaflet_css", "leaflet/leaflet.css")]

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("tiles", None)
        kwargs.setdefault("prefer_canvas", True)
        attribution = str(kwargs.pop("attribution", ATTRIBUTION))
        super().__init__(**kwargs)
        self.assets: tuple[Literal["inline", "served"], str] = ("inline", "/static")
        _MapExtras(attribution).add_to(self)

    def render(self, **kwargs: object) -> None:
        mode, static_url = self.assets
        header = self.get_root().header
        for name, path in self.vendor_js:
            header.add_child(_InlineScript(_vendor_file(path).decode("utf-8")) if mode == "inline"
                             else JavascriptLink(f"{static_url}/vendor/{path}"), name=name)
        for name, path in self.vendor_css:
            header.add_child(_InlineStyle(_inline_css(path)) if mode == "inline"
                             else CssLink(f"{static_url}/vendor/{path}"), name=name)
        # labels are both languages (shequ.web.render.t): one shows; Chinese unless the page says English
        # (a map file on its own has no stylesheet of the site's)
        header.add_child(_InlineStyle(LANGUAGE_CSS), name="sq_lang_css")
        super().render(**kwargs)


def _vendor_file(path: str) -> bytes:
    return resources.files("shequ.web").joinpath("static", "vendor", *path.split("/")).read_bytes()


def _inline_css(path: str) -> str:
    css = _vendor_file(path).decode("utf-8")
    base = path.rsplit("/", 1)[0]

    def data_uri(m: re.Match) -> str:
        name = m.group(1)
        png = base64.b64encode(_vendor_file(f"{base}/{name}")).decode("ascii")
        return f"url(data:image/png;base64,{png})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)


def to_html(m: folium.Map, mode: Literal["inline", "served"] = "inline", static_url: str = "/static") -> str:
    """The map's HTML, with vendored assets inlined or linked to ``static_url/vendor``."""
    if isinstance(m, OfflineMap):
        m.assets = (mode, static_url)
    return m.get_root().render()


def external_urls(html: str) -> list[str]:
    """Every http(s) URL the page would load (scripts, styles, images) — must be empty offline. (A check
    on a finished page, for the tests; rendering never reads a page back.)"""
    tags = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', html)
    css = re.findall(r"url\(['\"]?(https?://[^)'\"]+)", html)
    return tags + css
