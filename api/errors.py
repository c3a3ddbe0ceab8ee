"""The only place HTTP status codes live: each error code of ``shequ.errors`` → its status, and the
answers a JSON client gets (the OGC exception shape ``{code, description, problems?}``, with
``description_zh`` beside the English and ``message_zh`` in each problem, for the Chinese pages)."""

from __future__ import annotations

from fastapi.responses import HTMLResponse, JSONResponse, Response

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
LOGIN_HOW_ZH = "以用户名和密码 POST /token 取得令牌，再发送 'Authorization: Bearer <token>'"
#: FastAPI's (pydantic's) kinds of bad parameter, in Chinese
PYDANTIC_ZH = {"missing": "缺少此项", "string_pattern_mismatch": "格式不符", "string_too_short": "太短",
               "string_too_long": "太长", "int_parsing": "应为整数", "int_type": "应为整数",
               "float_parsing": "应为数字", "float_type": "应为数字", "bool_parsing": "应为 true 或 false",
               "bool_type": "应为 true 或 false", "greater_than": "太小", "greater_than_equal": "太小",
               "less_than": "太大", "less_than_equal": "太大", "literal_error": "不是可选值之一",
               "enum": "不是可选值之一", "json_invalid": "不是有效的 JSON", "dict_type": "应为对象",
               "list_type": "应为列表", "string_type": "应为文本", "value_error": "取值无效",
               "model_attributes_type": "应为对象", "too_long": "项数太多", "too_short": "项数太少",
               "extra_forbidden": "不接受此项"}


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


def description_zh_of(exc: errors.ShequError) -> str:
    if isinstance(exc, errors.NotLoggedIn) and not exc.details.get("reason"):
        return f"{exc.text_zh()}：{LOGIN_HOW_ZH}"
    return exc.text_zh()


def json_answer(exc: errors.ShequError) -> JSONResponse:
    body = {"code": exc.code, "description": description_of(exc), "description_zh": description_zh_of(exc)}
    if exc.problems:
        body["problems"] = exc.problem_dicts()
    return JSONResponse(body, status_code=status_of(exc), headers=headers_of(exc) or None)


def validation_error(found: list[dict]) -> errors.InvalidInput:
    """FastAPI's (pydantic's) parameter and body checks as one ``InvalidInput``, in both languages."""
    problems = []
    for e in found:
        loc = [str(p) for p in e.get("loc", ())]
        where = ".".join(loc)
        kind = {"query": "参数", "path": "地址中的", "header": "请求头", "body": "请求内容"}.get(loc[0] if loc else "")
        where_zh = f"{kind} {'.'.join(loc[1:])}".strip() if kind else where
        english = e.get("msg", "")
        zh = PYDANTIC_ZH.get(e.get("type", ""))
        problems.append({"where": where, "message": english,
                         "message_zh": f"{where_zh}：{zh}（{english}）" if zh else f"{where_zh}：{english}"})
    text = "; ".join(f"{p['where']}: {p['message']}" for p in problems)
    text_zh = errors.with_lead(errors.ZH_LEAD["InvalidParameterValue"], "；".join(p["message_zh"] for p in problems))
    return errors.InvalidInput(text, zh=text_zh, problems=problems)


def validation_answer(found: list[dict]) -> JSONResponse:
    """The same 400 answer as every other bad parameter."""
    return json_answer(validation_error(found))


#: Starlette's own answers (a path or method that does not exist), in both languages
HTTP_ZH = {404: ("NotFound", "未找到：没有这个地址"), 405: ("MethodNotAllowed", "此地址不支持该请求方法")}


def http_answer(status: int, detail: str, headers: dict[str, str] | None, wants_html: bool) -> Response:
    """A 404 or 405 of the framework (no route) like every other error: the OGC shape with its Chinese,
    or, for a browser, the error page."""
    code, zh = HTTP_ZH.get(status, ("Error", errors.ZH_LEAD["Error"]))
    if wants_html:
        from shequ.web.pages import error_page

        return HTMLResponse(error_page(status, zh, detail), status_code=status, headers=headers)
    return JSONResponse({"code": code, "description": detail, "description_zh": zh}, status_code=status,
                        headers=headers)
