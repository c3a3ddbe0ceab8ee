"""The web pages: the grid editor and the exports page (the planner's maps are in ``api/maps.py``).

Thin: each page is built in ``shequ.web``; the pages fetch their data from the API with the user's
token, so what a page shows is exactly what the API lets that user read.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shequ.web.editor import editor_page
from shequ.web.exports_page import exports_page

router = APIRouter(include_in_schema=False)


@router.get("/edit/grids", response_class=HTMLResponse)
def grid_editor() -> HTMLResponse:
    return HTMLResponse(editor_page())


@router.get("/exports", response_class=HTMLResponse)
def exports(request: Request) -> HTMLResponse:
    return HTMLResponse(exports_page(request.app.state.store.counts()))


@router.get("/maps", response_class=HTMLResponse)
def maps_home() -> RedirectResponse:
    return RedirectResponse("/maps/coverage")
