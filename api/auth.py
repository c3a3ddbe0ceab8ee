"""Who may do what: bearer tokens from the OAuth2 password flow, roles, and the user admin routes.

Unauthenticated writes get 401 with ``WWW-Authenticate: Bearer``; a logged-in user without the
role, or a grid manager outside their communities, gets 403, each with a message that says why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from shequ.layers import users as u

bearer = HTTPBearer(auto_error=False, description="a token from POST /token")


class ApiError(HTTPException):
    """An HTTP error with an OGC-style body: code, description, and problems where there are some."""

    def __init__(self, status_code: int, code: str, description: str, problems: list | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(status_code, description, headers)
        self.code = code
        self.description = description
        self.problems = problems


def unauthorised(what: str) -> ApiError:
    return ApiError(401, "Unauthorized", f"{what} needs a login: POST /token with your user name and password, "
                    "then send 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})


def forbidden(description: str) -> ApiError:
    return ApiError(403, "Forbidden", description)


def current_user(request: Request,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> u.User | None:
    """The logged-in user, or None; a token that is unknown or expired is refused, not ignored."""
    if creds is None:
        return None
    user = u.user_for_token(request.app.state.store.engine, creds.credentials)
    if user is None:
        raise ApiError(401, "Unauthorized", "the token is unknown or has expired: log in again at POST /token",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return user


User = Annotated[u.User | None, Depends(current_user)]


def need_role(user: u.User | None, roles: tuple[str, ...], what: str) -> u.User:
    if user is None:
        raise unauthorised(what)
    if user.role not in roles:
        raise forbidden(f"{what} is for {', '.join(roles)}; {user.name} is a {user.role}")
    return user


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
ERRORS = {400: {"description": "bad request"}, 401: {"description": "not logged in"},
          403: {"description": "not allowed for this user"}, 404: {"description": "not found"},
          409: {"description": "exists already"}}


@router.post("/token", response_model=Token, summary="Log in (OAuth2 password flow): a bearer token that expires",
             responses={400: {"description": "wrong user name or password"}})
def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    user = u.authenticate(request.app.state.store.engine, form.username, form.password)
    if user is None:
        raise ApiError(400, "invalid_grant", "wrong user name or password")
    token, seconds = u.issue_token(request.app.state.store.engine, user)
    return Token(access_token=token, expires_in=seconds)


@router.post("/logout", status_code=204, summary="Revoke the token sent", responses=ERRORS)
def logout(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
           user: User) -> None:
    if user is None or creds is None:
        raise unauthorised("logging out")
    u.revoke_token(request.app.state.store.engine, creds.credentials)


@router.get("/users/me", response_model=UserOut, summary="The logged-in user", responses=ERRORS)
def me(user: User) -> UserOut:
    if user is None:
        raise unauthorised("this")
    return UserOut(name=user.name, role=user.role, areas=list(user.areas))


@router.get("/users", response_model=list[UserOut], summary="All users (admin)", responses=ERRORS)
def list_users(request: Request, user: User) -> list[UserOut]:
    need_role(user, ("admin",), "listing users")
    everyone = u.list_users(request.app.state.store.engine)
    return [UserOut(name=x.name, role=x.role, areas=list(x.areas)) for x in everyone]


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user (admin)", responses=ERRORS)
def add_user(request: Request, body: NewUser, user: User) -> UserOut:
    need_role(user, ("admin",), "adding users")
    try:
        new = u.add_user(request.app.state.store.engine, body.name, body.password, body.role, body.areas)
    except u.UserError as exc:
        raise ApiError(409 if "exists" in str(exc) else 400, "Bad Request", str(exc)) from None
    return UserOut(name=new.name, role=new.role, areas=list(new.areas))


@router.delete("/users/{name}", status_code=204, summary="Remove a user (admin)", responses=ERRORS)
def remove_user(request: Request, name: str, user: User) -> None:
    need_role(user, ("admin",), "removing users")
    try:
        u.remove_user(request.app.state.store.engine, name)
    except u.UserError as exc:
        raise ApiError(404, "Not Found", str(exc)) from None

