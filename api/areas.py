"""The areas to choose from (``GET /areas``): streets and communities, codes and names only — what a page
needs to fill a list, without the outlines (the exports page used to read every community's geometry,
132 KB on the demo, for this)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from shequ.api.auth import workspace
from shequ.usecases.areas import areas

router = APIRouter(tags=["areas 区域"])


class AreaItem(BaseModel):
    code: str
    name: str
    parent: str  # a community's street code; a street's district


class AreaList(BaseModel):
    streets: list[AreaItem]
    communities: list[AreaItem]


@router.get("/areas", summary="Streets and communities to choose from: codes and names, no geometry",
            response_model=AreaList)
def area_list(request: Request) -> dict:
    """Public like the layers' features (codes and names are no personal fields)."""
    return areas(workspace(request)).as_dict()
