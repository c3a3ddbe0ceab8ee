"""The only place HTTP status codes live: each error code of ``shequ.errors`` → its status, and the
answers a JSON client gets (the OGC exception shape ``{code, description, problems?}``)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from shequ import errors

STATUS: dict[type[errors.ShequError], int] = {
    errors.InvalidInput: 400,
    errors.NoData: 400,
    errors.NotLoggedIn: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 412,
    errors.InvalidFeature: 422,
    errors.PreconditionRequired: 428,
    errors.Busy: 429,
}
#: what a route may answer, for the OpenAPI document
RESPONSES = {400: {"description": "bad request (parameter, CRS, body)"}, 401: {"description": "not logged in"},
             403: {"description": "not allowed for this user or area"}, 404: {"description": "no such feature"},
             409: {"description": "the feature exists already"},
             412: {"description": "If-Match does not match: someone else changed the feature"},
             422: {"description": "the feature breaks a rule; nothing was written"},
             428: {"description": "If-Match is required"}}
LOGIN_HOW = "POST /token with your user name and password, then send 'Authorization: Bearer <token>'"


def status_of(exc: errors.ShequError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def headers_of(exc: errors.ShequError) -> dict[str, str]:
    """Headers an error answer carries: how to authenticate (401), the current ETag (412)."""
    if isinstance(exc, errors.NotLoggedIn):
        reason = exc.details.get("reason")
        return {"WWW-Authenticate": f'Bearer error="{reason}"' if reason else "Bearer"}
    if isinstance(exc, errors.Conflict) and exc.details.get("etag"):
        return {"ETag": exc.details["etag"]}
    if isinstance(exc, errors.Busy):
        return {"Retry-After": str(int(exc.details.get("retry_after", 30)))}
    return {}


def description_of(exc: errors.ShequError) -> str:
    if isinstance(exc, errors.NotLoggedIn) and not exc.details.get("reason"):
        return f"{exc.message}: {LOGIN_HOW}"
    return exc.message


def json_answer(exc: errors.ShequError) -> JSONResponse:
    body = {"code": exc.code, "description": description_of(exc)}
    if exc.problems:
        body["problems"] = exc.problem_dicts()
    return JSONResponse(body, status_code=status_of(exc), headers=headers_of(exc) or None)
