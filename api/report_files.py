"""A report page in the format asked for (``?format=``): the page itself (``html``, the default), its table
as CSV (UTF-8 with a BOM, so Excel reads the Chinese) or an XLSX workbook, or the page as an A4 PDF made
by WeasyPrint from the same HTML with its print styles (offline: ``shequ.web.pdf``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, Annotated, Any

import pandas as pd
from fastapi import Query
from fastapi.responses import HTMLResponse, Response

from shequ.errors import InvalidInput
from shequ.web.pdf import pdf_bytes

#: the ``format`` query parameter of a report page
Format = Annotated[str | None, Query(pattern="^(html|csv|xlsx|pdf)$",
                                     description="html (the page), csv or xlsx (its table), pdf (the page, A4)")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: (key, make) → the value kept for the data version: the pages' cache
Cached = Callable[[Any, Callable[[], Any]], Any]


def _attachment(body: bytes | str, media: str, filename: str) -> Response:
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def report_answer(fmt: str | None, html: Callable[[], str], name: str, *, cached: Cached, key: tuple,
                  table: Callable[[], pd.DataFrame] | None = None,
                  workbook: Callable[[IO[bytes]], None] | None = None) -> Response:
    """The page (``html``), its ``table`` as CSV, its ``workbook`` as XLSX, or the page as a PDF, named
    ``name`` + suffix. The PDF is kept in the pages' cache under ``key`` (it takes seconds to make)."""
    if fmt in (None, "html"):
        return HTMLResponse(html())
    if fmt == "pdf":
        return _attachment(cached((*key, "pdf"), lambda: pdf_bytes(html())), "application/pdf", f"{name}.pdf")
    if fmt == "csv" and table is not None:
        return _attachment("\ufeff" + table().to_csv(index=False), "text/csv; charset=utf-8", f"{name}.csv")
    if fmt == "xlsx" and workbook is not None:
        buffer = io.BytesIO()
        workbook(buffer)
        return _attachment(buffer.getvalue(), XLSX, f"{name}.xlsx")
    raise InvalidInput(f"this page has no {fmt} download", zh=f"此页面没有 {fmt} 格式的下载")
