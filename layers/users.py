"""Users, roles and login tokens.

Roles: ``planner`` (read everything, run analyses), ``grid_manager`` (edit grids in the communities
or streets assigned to them), ``bureau`` (read, export), ``admin`` (everything, users). Passwords
are hashed with Argon2id (argon2-cffi, the OWASP first choice); tokens are random, stored only as a
SHA-256 hash, and expire. Personal fields (a grid manager's name and phone) need a login to read.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, Text, delete, insert, select, update

from shequ.errors import AlreadyExists, InvalidInput, NotFound

ROLES = ("planner", "grid_manager", "bureau", "admin")
TOKEN_HOURS = 8
_HASHER = PasswordHasher()


def user_tables(metadata: MetaData) -> dict[str, Table]:
    users = Table(
        "users", metadata,
        Column("name", String, primary_key=True),
        Column("password_hash", String, nullable=False),
        Column("role", String, nullable=False),
        Column("areas", Text, nullable=False, default="[]", comment="community (12-digit) or street (9-digit) codes"),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    tokens = Table(
        "tokens", metadata,
        Column("token_hash", String, primary_key=True),
        Column("user_name", String, nullable=False, index=True),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    )
    return {"users": users, "tokens": tokens}


_TABLES = user_tables(MetaData())
USERS, TOKENS = _TABLES["users"], _TABLES["tokens"]


@dataclass(frozen=True)
class User:
    name: str
    role: str
    areas: tuple[str, ...] = field(default=())

    def may_edit_community(self, code: str | None) -> bool:
        """A grid manager edits only inside the communities or streets assigned to them."""
        if self.role == "admin":
            return True
        if self.role != "grid_manager" or not code:
            return False
        return any(str(code).startswith(area) for area in self.areas)


class UserError(InvalidInput):
    """A bad user name, role, area or password."""


def _now() -> datetime:
    return datetime.now(UTC)


def add_user(engine: Engine, name: str, password: str, role: str, areas: list[str] | None = None) -> User:
    if role not in ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(ROLES)}",
                        zh=f"角色 {role!r} 无效：可选 {'、'.join(ROLES)}")
    if not name or not name.strip():
        raise UserError("a user needs a name", zh="用户需要名称")
    if len(password) < 8:
        raise UserError("passwords need at least 8 characters", zh="密码至少需要 8 个字符")
    areas = [a.strip() for a in (areas or []) if a.strip()]
    bad = [a for a in areas if not (a.isdigit() and len(a) in (6, 9, 12))]
    if bad:
        raise UserError(f"areas are 6-digit county, 9-digit street or 12-digit community codes; got {bad}",
                        zh=f"区域应为 6 位区县、9 位街道或 12 位社区代码；收到 {bad}")
    if role == "grid_manager" and not areas:
        raise UserError("a grid manager needs the communities or streets they look after (--area CODE)",
                        zh="网格员需要指定负责的社区或街道（--area 代码）")
    with engine.begin() as conn:
        if conn.execute(select(USERS.c.name).where(USERS.c.name == name)).first():
            raise AlreadyExists(f"user {name!r} exists already", zh=f"用户 {name!r} 已存在")
        conn.execute(insert(USERS).values(name=name, password_hash=_HASHER.hash(password), role=role,
                                          areas=json.dumps(areas), created_at=_now()))
    return User(name, role, tuple(areas))


def set_password(engine: Engine, name: str, password: str) -> None:
    if len(password) < 8:
        raise UserError("passwords need at least 8 characters", zh="密码至少需要 8 个字符")
    with engine.begin() as conn:
        if not conn.execute(update(USERS).where(USERS.c.name == name)
                            .values(password_hash=_HASHER.hash(password))).rowcount:
            raise NotFound(f"no user {name!r}", zh=f"没有用户 {name!r}")
        conn.execute(delete(TOKENS).where(TOKENS.c.user_name == name))


def remove_user(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        if not conn.execute(delete(USERS).where(USERS.c.name == name)).rowcount:
            raise NotFound(f"no user {name!r}", zh=f"没有用户 {name!r}")
        conn.execute(delete(TOKENS).where(TOKENS.c.user_name == name))


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(select(USERS.c.name, USERS.c.role, USERS.c.areas).order_by(USERS.c.name)).all()
    return [User(r.name, r.role, tuple(json.loads(r.areas))) for r in rows]


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(USERS).where(USERS.c.name == name)).first()
    if row is None:
        _HASHER.hash(password)  # same work whether or not the user exists
        return None
    try:
        _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(row.name, row.role, tuple(json.loads(row.areas)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(engine: Engine, user: User, hours: float = TOKEN_HOURS) -> tuple[str, int]:
    """A new bearer token and its lifetime in seconds."""
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(TOKENS).where(TOKENS.c.expires_at < _now()))
        conn.execute(insert(TOKENS).values(token_hash=_digest(token), user_name=user.name,
                                           expires_at=_now() + timedelta(hours=hours)))
    return token, int(hours * 3600)


def user_for_token(engine: Engine, token: str) -> User | None:
    """The user a valid, unexpired token belongs to."""
    with engine.connect() as conn:
        row = conn.execute(select(USERS.c.name, USERS.c.role, USERS.c.areas, TOKENS.c.expires_at)
                           .join(TOKENS, TOKENS.c.user_name == USERS.c.name)
                           .where(TOKENS.c.token_hash == _digest(token))).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    if expires < _now():
        return None
    return User(row.name, row.role, tuple(json.loads(row.areas)))


def revoke_token(engine: Engine, token: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(TOKENS).where(TOKENS.c.token_hash == _digest(token)))
