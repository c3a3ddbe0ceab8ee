"""The grid editor page (``/edit/grids``): a grid manager logs in, sees the grids of their
communities, edits a boundary with snapping (Leaflet-Geoman), splits and merges grids, and saves
through the API with If-Match. The page holds no data: ``web/static/editor.js`` fetches it with the
user's token, so a manager's page can only ever show what the API lets them read and edit.
The markup is ``web/templates/editor.html``.
"""

from __future__ import annotations

from shequ.web.render import render


def editor_page() -> str:
    return render("editor.html", title="网格编辑 Grid editor – shequ", active="/edit/grids")
