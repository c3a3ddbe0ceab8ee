"""A report page as a PDF (A4, for meetings), made by WeasyPrint from the page's own HTML with its print
styles (``report_style.html``'s ``@media print``); the Chinese is set in the system's CJK font
(WenQuanYi Zen Hei, ``fonts-wqy-zenhei``) through fontconfig.

Offline by construction: WeasyPrint fetches nothing from the network. Its URL fetcher serves the app's
own static files (``/static/…``, read from the package) and ``data:`` URLs; every other URL is refused.
Scripts do not run, so the page is as the server rendered it (Chinese; the English spans hidden).
"""

from __future__ import annotations

import mimetypes
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shequ.web.render import STATIC

#: the base the page's relative URLs are resolved against: a name that is never looked up
BASE = "https://shequ.invalid/"


def _static_root() -> Path:
    return Path(str(resources.files("shequ.web") / "static")).resolve()


def static_file(url: str) -> tuple[bytes, str]:
    """The bytes and media type of one of the app's static files named by ``url`` (under ``BASE``);
    ``ValueError`` for any other URL: a PDF is made offline."""
    parts = urlsplit(url)
    prefix = STATIC.rstrip("/") + "/"
    if f"{parts.scheme}://{parts.netloc}/" != BASE or not parts.path.startswith(prefix):
        raise ValueError(f"not fetched (a PDF is made offline): {url}")
    root = _static_root()
    path = (root / unquote(parts.path[len(prefix):])).resolve()
    if root not in path.parents or not path.is_file():
        raise ValueError(f"no such static file: {url}")
    return path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@cache
def _fetcher_class() -> type:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticFetcher(URLFetcher):
        """WeasyPrint's URL fetcher, never on the network: the app's static files and data: URLs only."""

        def __init__(self) -> None:
            super().__init__(allowed_protocols={"data"}, allow_redirects=False)

        def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            body, media = static_file(url)
            return URLFetcherResponse(url, body, {"Content-Type": media})

    return StaticFetcher


def pdf_bytes(html: str) -> bytes:
    """The page (HTML as the app serves it) as a PDF, A4 by its print styles."""
    from weasyprint import HTML  # imported here: it loads Pango, which a server without reports never needs

    return HTML(string=html, base_url=BASE, url_fetcher=_fetcher_class()(), media_type="print").write_pdf()
