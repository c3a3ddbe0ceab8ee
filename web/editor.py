"""The grid editor page (``/edit/grids``): a grid manager logs in, sees the grids of their
communities (a list beside the map, the gaps and overlaps on it), moves a boundary with snapping
(the neighbours follow, in one save), gives a gap to a neighbour, splits and merges grids, edits the
manager, phone and party branch, and restores an old version after seeing what it changes; everything
through the API with If-Match. The page holds no data: ``web/static/editor.js`` fetches it with the
user's token, so a manager's page can only ever show what the API lets them read and edit. No work is
lost: an expired login is asked for again over the page, a lost connection is retried, an unsaved
boundary is kept in the browser until saved or discarded. The editor's own vertex editor and line
drawing replace Leaflet-Geoman (≈600 KB), so the page loads Leaflet and its own script only.
The markup is ``web/templates/editor.html``, the styles ``web/static/editor.css``.
"""

from __future__ import annotations

from shequ.web.render import render


def editor_page() -> str:
    return render("editor.html", title="网格编辑 Grid editor – shequ", active="/edit/grids")
