"""Factories: rows and request bodies that tests ask for by what matters to them.

Users are written straight to the database with a password hash computed once per
run (argon2 is deliberately slow); registration itself is tested through the API.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from api.auth import issue_token
from shared.db import Database
from shared.jobs import JobKind, encode_json, new_job_id
from shared.models import Blog, Book, Job, User, utcnow
from shared.passwords import hash_password
from shared.settings import Settings

DEFAULT_PASSWORD = "correct horse battery"
_HASH = hash_password(DEFAULT_PASSWORD)
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


@dataclass
class AUser:
    id: int
    name: str
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_body(**overrides: Any) -> dict[str, Any]:
    name = unique("user")
    return {"name": name.title(), "email": f"{name}@example.com", "password": DEFAULT_PASSWORD, **overrides}


def book_body(**overrides: Any) -> dict[str, Any]:
    return {"title": unique("Book"), "author": "Andrea Hirata", "genre": "Novel", "year": 2005, **overrides}


def blog_body(**overrides: Any) -> dict[str, Any]:
    return {"title": unique("Blog"), "content": "Docker runs applications in containers.", **overrides}


class Factory:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def token_for(self, user_id: int) -> str:
        return issue_token(self.settings, user_id)

    def forged_token(
        self, user_id: object, *, secret: str | None = None, algorithm: str = "HS256", **claims: Any
    ) -> str:
        """A token built by hand: valid like ``token_for`` unless an argument breaks it."""
        payload = {"user_id": user_id, "authorized": True, "exp": datetime.now(UTC) + timedelta(hours=1), **claims}
        key = self.settings.jwt_secret if secret is None else secret
        return jwt.encode(payload, key if algorithm != "none" else None, algorithm=algorithm)

    def expired_token(self, user_id: int) -> str:
        return self.forged_token(user_id, exp=datetime.now(UTC) - timedelta(minutes=5))

    async def user(self, *, operator: bool = False, **overrides: Any) -> AUser:
        body = user_body(**overrides)
        async with self.db.sessions.begin() as session:
            row = User(name=body["name"], email=body["email"], password=_HASH, operator=int(operator))
            session.add(row)
        return AUser(row.id, row.name, row.email, DEFAULT_PASSWORD, self.token_for(row.id))

    async def user_with_stored_password(self, stored: str, password: str) -> AUser:
        """A user whose password column holds ``stored`` verbatim (a legacy bcrypt hash, say)."""
        body = user_body()
        async with self.db.sessions.begin() as session:
            row = User(name=body["name"], email=body["email"], password=stored)
            session.add(row)
        return AUser(row.id, row.name, row.email, password, self.token_for(row.id))

    async def job(self, owner: AUser | None, status: str = "queued", **overrides: Any) -> Job:
        """A job row as the worker would leave it in ``status`` (no worker runs it: never dispatched)."""
        now = utcnow()
        finished = status in ("succeeded", "failed", "cancelled")
        values: dict[str, Any] = {
            "id": new_job_id(),
            "kind": JobKind.COMPUTE_BLOG_STATS.value,
            "params": encode_json({"blog_id": 1}),
            "status": status,
            "attempts": 0 if status in ("queued", "cancelled") else 1,
            "progress_done": 0,
            "requested_by": None if owner is None else owner.id,
            "created_at": now,
            "started_at": None if status in ("queued", "cancelled") else now,
            "finished_at": now if finished else None,
            "error": "ValueError: no such blog" if status == "failed" else None,
            **overrides,
        }
        async with self.db.sessions.begin() as session:
            row = Job(**values)
            session.add(row)
        return row

    async def book(self, **overrides: Any) -> Book:
        async with self.db.sessions.begin() as session:
            row = Book(**book_body(**overrides))
            session.add(row)
        return row

    async def blog(self, author: AUser, **overrides: Any) -> Blog:
        async with self.db.sessions.begin() as session:
            row = Blog(user_id=author.id, **blog_body(**overrides))
            session.add(row)
        return row
