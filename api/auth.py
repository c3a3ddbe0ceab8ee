"""Who is asking: bearer tokens (OAuth2 password flow) for the JSON API, the same token as a cookie
for the pages, and the user admin routes.

A browser that logs in (``POST /login``, what the pages' login box calls) gets the token twice: in
the JSON answer (the pages' scripts send it as a bearer header with every write) and as an HttpOnly,
SameSite=Strict cookie, which the server reads
only on GET and HEAD requests — so a page navigation (the coverage map, a scorecard) carries the
login, while a write always needs the header and cannot be forged from another site. A token sent
but unknown, expired or revoked is refused (401), never taken as anonymous.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from shequ.api.errors import RESPONSES
from shequ.layers.users import User as UserRecord
from shequ.usecases import accounts
from shequ.usecases.workspace import Workspace

COOKIE = "shequ_token"
bearer = HTTPBearer(auto_error=False, description="a token from POST /token")


def workspace(request: Request) -> Workspace:
    return request.app.state.workspace


def token_of(request: Request, creds: HTTPAuthorizationCredentials | None) -> str | None:
    """The token of this request: the bearer header, else (reading only) the login cookie."""
    if creds is not None:
        return creds.credentials
    if request.method in ("GET", "HEAD"):
        return request.cookies.get(COOKIE) or None
    return None


def current_user(request: Request,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> UserRecord | None:
    """The logged-in user, or None; a token that is unknown or expired is refused, not ignored."""
    token = token_of(request, creds)
    if token is None:
        return None
    return accounts.user_for_token(workspace(request), token)


User = Annotated[UserRecord | None, Depends(current_user)]


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds")


class UserOut(BaseModel):
    name: str
    role: str
    areas: list[str]


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: str = Field(pattern="^(planner|grid_manager|bureau|admin)$")
    areas: list[str] = Field(default_factory=list, description="community (12-digit) or street (9-digit) codes")


router = APIRouter(tags=["users 用户"])


@router.post("/token", response_model=Token, summary="Log in (OAuth2 password flow): a bearer token that expires",
             responses={400: {"description": "wrong user name or password"}})
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    done = accounts.login(workspace(request), form.username, form.password)
    return Token(access_token=done.token, expires_in=done.seconds)


@router.post("/login", response_model=Token, summary="Log in from a browser: the token, and the same token as an "
             "HttpOnly cookie that page navigations carry (read on GET only)",
             responses={400: {"description": "wrong user name or password"}})
def browser_login(request: Request, response: Response,
                  form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    ws = workspace(request)
    done = accounts.login(ws, form.username, form.password)
    response.set_cookie(COOKIE, done.token, max_age=done.seconds, httponly=True, samesite="strict",
                        secure=ws.settings.cookie_secure, path="/")
    return Token(access_token=done.token, expires_in=done.seconds)


@router.post("/logout", status_code=204, summary="Revoke the token sent (and forget the login cookie)",
             responses=RESPONSES)
def logout(request: Request, response: Response,
           creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
    token = creds.credentials if creds else request.cookies.get(COOKIE)
    if token:
        accounts.logout(workspace(request), token)
    response.delete_cookie(COOKIE, path="/")


@router.get("/users/me", response_model=UserOut, summary="The logged-in user", responses=RESPONSES)
def me(user: User) -> UserOut:
    from shequ.errors import NotLoggedIn

    if user is None:
        raise NotLoggedIn("this needs a login", zh="需要登录")
    return UserOut(name=user.name, role=user.role, areas=list(user.areas))


@router.get("/users", response_model=list[UserOut], summary="All users (admin)", responses=RESPONSES)
def list_users(request: Request, user: User) -> list[UserOut]:
    return [UserOut(name=x.name, role=x.role, areas=list(x.areas))
            for x in accounts.everyone(workspace(request), user=user)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user (admin)", responses=RESPONSES)
def add_user(request: Request, body: NewUser, user: User) -> UserOut:
    new = accounts.add(workspace(request), body.name, body.password, body.role, body.areas, user=user)
    return UserOut(name=new.name, role=new.role, areas=list(new.areas))


@router.delete("/users/{name}", status_code=204, summary="Remove a user (admin)", responses=RESPONSES)
def remove_user(request: Request, name: str, user: User) -> None:
    accounts.remove(workspace(request), name, user=user)
