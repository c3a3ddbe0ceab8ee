"""Users and logins: who may sign in, the tokens they get, and the admin's user management.

Passwords are hashed with Argon2id and tokens stored only as digests (``layers.users``); how long a
login lasts is a setting (``SHEQU_TOKEN_HOURS``). Logins are logged with the user's name, never the
password or the token.
"""

from __future__ import annotations

from dataclasses import dataclass

from shequ.errors import LoginRefused, NotLoggedIn
from shequ.layers import users
from shequ.layers.users import User
from shequ.logs import event
from shequ.usecases.access import Action, require
from shequ.usecases.workspace import Workspace


@dataclass(frozen=True)
class Login:
    user: User
    token: str
    seconds: int


def login(ws: Workspace, name: str, password: str) -> Login:
    """A token for a right name and password; the same answer for a wrong name or a wrong password."""
    user = users.authenticate(ws.store.engine, name, password)
    if user is None:
        event("login refused", user=name)
        raise LoginRefused("wrong user name or password", zh="用户名或密码错误")
    token, seconds = users.issue_token(ws.store.engine, user, hours=ws.settings.token_hours)
    event("login", user=user.name, role=user.role)
    return Login(user, token, seconds)


def logout(ws: Workspace, token: str) -> None:
    users.revoke_token(ws.store.engine, token)


def user_for_token(ws: Workspace, token: str) -> User:
    """The user of a valid token; ``NotLoggedIn`` (reason ``invalid_token``) for an unknown, expired or
    revoked one — refused, never treated as anonymous."""
    user = users.user_for_token(ws.store.engine, token)
    if user is None:
        raise NotLoggedIn("the token is unknown or has expired: log in again", reason="invalid_token",
                          zh="登录已失效（令牌未知或已过期）：请重新登录")
    return user


def add(ws: Workspace, name: str, password: str, role: str, areas: list[str] | None = None, *,
        user: User | None) -> User:
    require(user, Action.USERS, ws.settings)
    new = users.add_user(ws.store.engine, name, password, role, areas)
    event("user added", user=new.name, role=new.role, by=user.name if user else "")
    return new


def remove(ws: Workspace, name: str, *, user: User | None) -> None:
    require(user, Action.USERS, ws.settings)
    users.remove_user(ws.store.engine, name)
    event("user removed", user=name, by=user.name if user else "")


def set_password(ws: Workspace, name: str, password: str, *, user: User | None) -> None:
    require(user, Action.USERS, ws.settings)
    users.set_password(ws.store.engine, name, password)
    event("password changed", user=name, by=user.name if user else "")


def everyone(ws: Workspace, *, user: User | None) -> list[User]:
    require(user, Action.USERS, ws.settings)
    return users.list_users(ws.store.engine)
