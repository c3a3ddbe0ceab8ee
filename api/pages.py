"""The web pages: the planner's coverage map and scorecards, the grid editor, the exports page.

Thin: each page is built in ``shequ.web``; this module reads the store and answers HTML.
"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
