"""/blogs: public reads; writes need a token, and only a blog's author may change it.

Creating or editing a blog asks the worker for its word count and reading time: the
job row is written in the blog's own transaction (the outbox, see shared.job_queue), so the
stats are never lost, and only wait while Redis is away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_401_UNAUTHORIZED

from api.auth import INVALID_JWT, PUBLIC, SECURITY
from api.errors import ApiError, forbidden, not_found
from api.routes.common import (
    AUTH,
    BAD_BODY,
    BAD_ID,
    BAD_ID_OR_BODY,
    BAD_QUERY,
    NOT_FOUND,
    TOO_LARGE,
    UNAVAILABLE,
    Cursor,
    Limit,
    Offset,
    PathId,
    Statements,
    forbidden_response,
    list_page,
    parse_id,
    update_by_id,
    updated_values,
)
from api.schemas import BlogCreate, BlogOut, BlogUpdate, Envelope, Message, Page, changes, utc
from api.state import AuthedRequest, app_state
from shared.db import Runner
from shared.db_errors import ForeignKeyViolation
from shared.jobs import JobKind
from shared.models import Blog, utcnow

_COLUMNS = (
    Blog.id,
    Blog.user_id,
    Blog.title,
    Blog.content,
    Blog.word_count,
    Blog.reading_minutes,
    Blog.created_at,
    Blog.updated_at,
)

_NOT_YOURS = forbidden_response("blogs")

BLOGS = Statements(
    Blog,
    _COLUMNS,
    insert_fields=("user_id", "title", "content"),
    lock_columns=(Blog.user_id,),
)


def blog_out(row: Sequence[Any]) -> BlogOut:
    return BlogOut(row[0], row[1], row[2], row[3], row[4], row[5], utc(row[6]), utc(row[7]))


async def lock_own_blog(tx: Runner, blog_id: int, user_id: int) -> None:
    """404 if the blog is gone, 403 if it is someone else's; holds the row until commit."""
    owner = await tx.fetch_one(BLOGS.lock, row_id=blog_id)
    if owner is None:
        raise not_found()
    if owner[0] != user_id:
        raise forbidden("blogs")


class BlogController(Controller):
    path = "/blogs"
    tags = ["blogs"]

    @get(
        opt=PUBLIC,
        operation_id="listBlogs",
        summary="List blogs",
        description="A page of live blogs in id order; `meta.total` counts them all. No token needed.",
        responses={**BAD_QUERY, **UNAVAILABLE},
    )
    async def list_blogs(
        self, request: Request[Any, Any, Any], limit: Limit = 20, offset: Offset = 0, cursor: Cursor = None
    ) -> Page[BlogOut]:
        state = app_state(request)
        return await list_page(state.db, BLOGS, "success getting blogs", blog_out, limit, offset, cursor)

    @get(
        "/{blog_id:str}",
        opt=PUBLIC,
        operation_id="getBlog",
        summary="Get a blog",
        description="One live blog; `word_count` and `reading_minutes` are null until the worker has counted.",
        responses={**BAD_ID, **NOT_FOUND, **UNAVAILABLE},
    )
    async def get_blog(self, request: Request[Any, Any, Any], blog_id: PathId) -> Envelope[BlogOut]:
        state = app_state(request)
        row = await state.db.fetch_one(BLOGS.get, row_id=parse_id(blog_id))
        if row is None:
            raise not_found()
        return Envelope("success getting blog", blog_out(row))

    @post(
        security=SECURITY,
        operation_id="createBlog",
        summary="Create a blog",
        description="The token's user becomes its author; the worker then counts its words.",
        responses={**BAD_BODY, **AUTH, **TOO_LARGE, **UNAVAILABLE},
    )
    async def create_blog(self, request: AuthedRequest, data: JSONBody[BlogCreate]) -> Envelope[BlogOut]:
        state = app_state(request)
        now = utcnow()
        try:
            async with state.db.transaction() as tx:
                outcome = await tx.execute(
                    BLOGS.insert, user_id=request.user, title=data.title, content=data.content, now=now
                )
                job = await state.jobs.request(
                    tx, JobKind.COMPUTE_BLOG_STATS, {"blog_id": outcome.lastrowid}, requested_by=request.user
                )
        except ForeignKeyViolation:  # a well-signed token for a user this database never had
            raise ApiError(HTTP_401_UNAUTHORIZED, INVALID_JWT) from None
        state.jobs.dispatch(job)
        blog = BlogOut(outcome.lastrowid, request.user, data.title, data.content, None, None, utc(now), utc(now))
        return Envelope("success creating blog", blog)

    @put(
        "/{blog_id:str}",
        security=SECURITY,
        operation_id="updateBlog",
        summary="Update your blog",
        description="Changes only the fields sent; only its author may. New content is counted again.",
        responses={**BAD_ID_OR_BODY, **AUTH, **_NOT_YOURS, **NOT_FOUND, **TOO_LARGE, **UNAVAILABLE},
    )
    async def update_blog(
        self, request: AuthedRequest, blog_id: PathId, data: JSONBody[BlogUpdate]
    ) -> Envelope[BlogOut]:
        state = app_state(request)
        ident = parse_id(blog_id)
        sent = changes(data)
        async with state.db.transaction() as tx:
            await lock_own_blog(tx, ident, request.user)
            await tx.execute(update_by_id(Blog, [*sent, "updated_at"]), row_id=ident, **updated_values(sent))
            row = await tx.fetch_one(BLOGS.get, row_id=ident)
            job = (
                await state.jobs.request(tx, JobKind.COMPUTE_BLOG_STATS, {"blog_id": ident}, requested_by=request.user)
                if "content" in sent
                else None
            )
        assert row is not None
        if job is not None:
            state.jobs.dispatch(job)
        return Envelope("success updating blog", blog_out(row))

    @delete(
        "/{blog_id:str}",
        status_code=200,
        security=SECURITY,
        operation_id="deleteBlog",
        summary="Delete your blog",
        description="Soft-deletes a blog; only its author may.",
        responses={**BAD_ID, **AUTH, **_NOT_YOURS, **NOT_FOUND, **UNAVAILABLE},
    )
    async def delete_blog(self, request: AuthedRequest, blog_id: PathId) -> Message:
        state = app_state(request)
        ident = parse_id(blog_id)
        async with state.db.transaction() as tx:
            await lock_own_blog(tx, ident, request.user)
            await tx.execute(BLOGS.soft_delete, row_id=ident, now=utcnow())
        return Message("success deleting blog")
