"""Folium maps that load nothing from the internet.

Stock folium pulls Leaflet, jQuery, Bootstrap and fonts from public CDNs and tiles from
OpenStreetMap, so on a government intranet the page is blank. ``OfflineMap`` asks only for Leaflet,
from the copy vendored in ``web/static/vendor`` (``scripts/vendor-assets.sh`` refreshes it), and
has no tile layer: the data's own streets serve as a light basemap. ``to_html`` either inlines the
assets (a self-contained file) or points them at the app's ``/static`` route.
"""

from __future__ import annotations

import base64
import re
from importlib import resources
from typing import ClassVar, Literal

import folium
from branca.element import MacroElement
from jinja2 import Template

VENDOR_SCHEME = "shequ-vendor://"
ATTRIBUTION = "© OpenStreetMap contributors"


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
    """A folium Map whose only scripts are the vendored Leaflet files."""

    default_js: ClassVar[list[tuple[str, str]]] = [("leaflet", f"{VENDOR_SCHEME}leaflet/leaflet.js")]
    default_css: ClassVar[list[tuple[str, str]]] = [("leaflet_css", f"{VENDOR_SCHEME}leaflet/leaflet.css")]

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("tiles", None)
        kwargs.setdefault("prefer_canvas", True)
        attribution = str(kwargs.pop("attribution", ATTRIBUTION))
        super().__init__(**kwargs)
        _MapExtras(attribution).add_to(self)


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
    html = m.get_root().render()
    if mode == "served":
        return html.replace(VENDOR_SCHEME, f"{static_url}/vendor/")

    def script(match: re.Match) -> str:
        return "<script>" + _vendor_file(match.group(1)).decode("utf-8") + "</script>"

    def style(match: re.Match) -> str:
        return "<style>" + _inline_css(match.group(1)) + "</style>"

    html = re.sub(rf'<script src="{re.escape(VENDOR_SCHEME)}([^"]+)"></script>', script, html)
    html = re.sub(rf'<link rel="stylesheet" href="{re.escape(VENDOR_SCHEME)}([^"]+)"/>', style, html)
    if VENDOR_SCHEME in html:
        raise RuntimeError("a vendored asset was not inlined; folium's tags changed")
    return html


def external_urls(html: str) -> list[str]:
    """Every http(s) URL the page would load (scripts, styles, images) — must be empty offline."""
    tags = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', html)
    css = re.findall(r"url\(['\"]?(https?://[^)'\"]+)", html)
    return tags + css
