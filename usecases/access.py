"""The one access policy: who may do what, the same whichever door they come through.

The JSON API and the pages both call ``require`` with the same action, so a planner, a bureau, a grid
manager or an anonymous visitor gets the same answer from ``POST /analyses/coverage`` as from
``/maps/coverage`` (the doors only choose how to say it: a 401/403 JSON body or a page with a login
box). Analyses need a login unless the settings say they are public (``SHEQU_ANALYSES_ACCESS=public``,
e.g. on an intranet); personal fields, history, exports, edits and user management always do.
"""

from __future__ import annotations

from enum import StrEnum

from shequ.errors import Forbidden, NotLoggedIn
from shequ.layers.schema import LAYERS
from shequ.layers.users import User
from shequ.settings import Settings

#: whoever runs the command line on the machine: they can read the database file itself, so they are
#: its administrator (the doors on the network pass the logged-in user, or None)
LOCAL = User("local", "admin")


class Action(StrEnum):
    """What a user asks to do; the value is how messages name it."""

    READ_PERSONAL = "reading personal fields"
    HISTORY = "the history"
    EXPORT = "exports"
    COVERAGE = "coverage analyses"
    LIFECIRCLES = "life-circle audits"
    SCORECARD = "scorecards"
    SCENARIOS = "planning scenarios"
    SITING = "siting new facilities"
    USERS = "managing users"


#: how Chinese messages name each action
ACTION_ZH: dict[Action, str] = {
    Action.READ_PERSONAL: "查看个人信息字段", Action.HISTORY: "查看修改历史", Action.EXPORT: "导出数据",
    Action.COVERAGE: "覆盖分析", Action.LIFECIRCLES: "生活圈评估", Action.SCORECARD: "社区评分",
    Action.SCENARIOS: "规划方案", Action.SITING: "设施选址", Action.USERS: "用户管理",
}
#: the roles' Chinese names
ROLE_ZH = {"planner": "规划人员", "grid_manager": "网格员", "bureau": "民政局", "admin": "管理员", "local": "本机"}


def _roles_zh(roles: tuple[str, ...] | list[str]) -> str:
    return "、".join(ROLE_ZH.get(r, r) for r in roles)


#: roles allowed each action (None: any logged-in user)
ROLES_FOR: dict[Action, tuple[str, ...] | None] = {
    Action.READ_PERSONAL: None,
    Action.HISTORY: None,
    Action.EXPORT: ("planner", "grid_manager", "bureau", "admin"),
    Action.COVERAGE: ("planner", "admin"),
    Action.LIFECIRCLES: ("planner", "admin"),
    Action.SCORECARD: ("planner", "bureau", "admin"),
    Action.SCENARIOS: ("planner", "admin"),
    Action.SITING: ("planner", "admin"),
    Action.USERS: ("admin",),
}
#: the analyses, public when ``Settings.analyses_access == "public"``
ANALYSES = frozenset({Action.COVERAGE, Action.LIFECIRCLES, Action.SCORECARD})


def require(user: User | None, action: Action, settings: Settings) -> User | None:
    """``user`` if they may do ``action``; else ``NotLoggedIn`` or ``Forbidden`` saying why."""
    if action in ANALYSES and settings.analyses_access == "public":
        return user
    if user is None:
        raise NotLoggedIn(f"{action} needs a login", zh=f"{ACTION_ZH[action]}需要登录")
    roles = ROLES_FOR[action]
    if roles is not None and user.role not in roles:
        raise Forbidden(f"{action} is for {', '.join(roles)}; {user.name} is a {user.role}",
                        zh=f"{ACTION_ZH[action]}仅限{_roles_zh(roles)}；{user.name} 的角色是"
                           f"{ROLE_ZH.get(user.role, user.role)}")
    return user


def require_edit(user: User | None, layer: str, areas: list[str | None]) -> User:
    """A user who may edit ``layer`` where the features are (their ``area_field`` values); the layer's
    own edit rules (``layers.schema.EditRules``) say which roles may, and grid managers only in their
    areas."""
    if user is None:
        raise NotLoggedIn(f"editing {layer} needs a login", zh=f"编辑{LAYERS[layer].zh}需要登录")
    roles = LAYERS[layer].edit.roles
    if user.role not in roles:
        raise Forbidden(f"editing {layer} is for {' and '.join(roles)}; {user.name} is a {user.role}",
                        zh=f"编辑{LAYERS[layer].zh}仅限{_roles_zh(roles)}；{user.name} 的角色是"
                           f"{ROLE_ZH.get(user.role, user.role)}")
    if user.role == "grid_manager":
        outside = [a for a in areas if not user.may_edit_community(a)]
        if outside:
            raise Forbidden(f"{user.name} looks after {', '.join(user.areas)}; community {outside[0]} is not theirs",
                            zh=f"{user.name} 负责的区域是 {'、'.join(user.areas)}；社区 {outside[0]} 不在其中")
    return user
