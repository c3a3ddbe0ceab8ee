"""One family of errors for everything a user can get wrong, each with a stable code.

Every error a user can cause (a bad file, parameter or feature; a stale edit; a missing login) is a
``ShequError``: a ``code`` that never changes (clients and tests match on it), a message in plain
words that says what was wrong and how to put it right, and, where there are several, the
``problems`` (each a dict, or an object with ``as_dict``). The doors decide what an error becomes:
an HTTP status in ``shequ.api`` (the only place HTTP codes live), an exit status in ``shequ.cli``,
an error page in the pages. Anything else that escapes is a bug, never the user's fault.

The pages are Chinese first, so a message a page user can meet carries its Chinese too (``zh=``):
``text_zh()`` is that, or — where a raise site has none yet — the code's Chinese lead before the
English, so a Chinese page never shows a bare English sentence. A problem dict may carry
``message_zh`` beside its English ``message``/``reason`` the same way.
"""

from __future__ import annotations

from typing import Any

#: the Chinese lead of each code, for a raise site without its own Chinese ("请求参数无效：" + English)
ZH_LEAD: dict[str, str] = {
    "Error": "出错了",
    "InvalidParameterValue": "请求参数无效",
    "InvalidBody": "请求内容无效",
    "invalid_grant": "登录失败",
    "NoData": "暂无数据",
    "NotFound": "未找到",
    "AlreadyExists": "已存在",
    "InvalidFeature": "要素不符合规则，未保存",
    "PreconditionRequired": "缺少版本标记（If-Match）",
    "PreconditionFailed": "数据已被他人修改",
    "Unauthorized": "请先登录",
    "Forbidden": "没有权限",
    "Busy": "服务器正忙，请稍后再试",
}
#: the lead of a problem (one finding of several) without its own Chinese
PROBLEM_LEAD = "问题"


def with_lead(lead: str, english: str) -> str:
    """``lead：english``: a Chinese sentence start for an English text that has no translation yet."""
    return f"{lead}：{english}" if english else lead


class ShequError(Exception):
    """Base of the family; ``zh`` is the message in Chinese; ``details`` carries what a door may need
    (e.g. the current ETag)."""

    code = "Error"

    def __init__(self, message: str, *, zh: str | None = None, problems: list[Any] | None = None,
                 **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.zh = zh
        self.problems = list(problems or [])
        self.details = details

    def __str__(self) -> str:
        return self.message

    def text_zh(self) -> str:
        """The message in Chinese: its own, else the code's Chinese lead before the English."""
        return self.zh or with_lead(ZH_LEAD.get(self.code, ZH_LEAD["Error"]), self.message)

    def problem_dicts(self) -> list[dict]:
        """The problems as plain dicts (for JSON), each with ``message_zh``."""
        out = []
        for p in self.problems:
            d = p.as_dict() if hasattr(p, "as_dict") else dict(p)
            if not d.get("message_zh"):
                english = str(d.get("message") or d.get("reason") or "")
                d["message_zh"] = with_lead(PROBLEM_LEAD, english)
            out.append(d)
        return out


class InvalidInput(ShequError, ValueError):
    """A parameter, option, file or body that cannot be used as given."""

    code = "InvalidParameterValue"


class InvalidBody(InvalidInput):
    """A request body that is not what the operation takes (not a GeoJSON Feature, a bad line …)."""

    code = "InvalidBody"


class LoginRefused(InvalidInput):
    """A wrong user name or password (the same answer for both)."""

    code = "invalid_grant"


class UnknownName(InvalidInput, KeyError):
    """A name that is not one of the known ones (a layer, a facility type, a profile)."""

    code = "InvalidParameterValue"


class NoData(ShequError):
    """The layers an operation needs are empty: import or draft them first."""

    code = "NoData"


class NotFound(ShequError):
    code = "NotFound"


class AlreadyExists(ShequError):
    code = "AlreadyExists"


class InvalidFeature(ShequError, ValueError):
    """A feature (or a file's features) breaks a rule of its layer; nothing was written."""

    code = "InvalidFeature"


class PreconditionRequired(ShequError):
    """An edit that does not say which version it was based on (no If-Match)."""

    code = "PreconditionRequired"


class Conflict(ShequError):
    """Someone else changed the feature since it was read; ``details['etag']`` is the current one."""

    code = "PreconditionFailed"


class NotLoggedIn(ShequError):
    """The operation needs a login (``details['reason']`` is set when a token was sent but refused)."""

    code = "Unauthorized"


class Forbidden(ShequError):
    """Logged in, but not allowed: the message says which role or area it needs."""

    code = "Forbidden"


class Busy(ShequError):
    """The server is already doing as much of this costly work as it allows at once: try again shortly
    (``details['retry_after']`` seconds)."""

    code = "Busy"
