"""/books: public reads, authenticated writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody

from api.auth import PUBLIC, SECURITY
from api.errors import not_found
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
    list_page,
    parse_id,
    update_by_id,
    updated_values,
)
from api.schemas import BookCreate, BookOut, BookUpdate, Envelope, Message, Page, changes, utc
from api.state import app_state
from shared.models import Book, utcnow

_COLUMNS = (Book.id, Book.title, Book.author, Book.genre, Book.year, Book.created_at, Book.updated_at)

BOOKS = Statements(
    Book,
    _COLUMNS,
    insert_fields=("title", "author", "genre", "year"),
)


def book_out(row: Sequence[Any]) -> BookOut:
    return BookOut(row[0], row[1], row[2], row[3], row[4], utc(row[5]), utc(row[6]))


class BookController(Controller):
    path = "/books"
    tags = ["books"]

    @get(
        opt=PUBLIC,
        operation_id="listBooks",
        summary="List books",
        description="A page of live books in id order; `meta.total` counts them all. No token needed.",
        responses={**BAD_QUERY, **UNAVAILABLE},
    )
    async def list_books(
        self, request: Request[Any, Any, Any], limit: Limit = 20, offset: Offset = 0, cursor: Cursor = None
    ) -> Page[BookOut]:
        state = app_state(request)
        return await list_page(state.db, BOOKS, "success getting books", book_out, limit, offset, cursor)

    @get(
        "/{book_id:str}",
        opt=PUBLIC,
        operation_id="getBook",
        summary="Get a book",
        description="One live book; a deleted one is a 404. No token needed.",
        responses={**BAD_ID, **NOT_FOUND, **UNAVAILABLE},
    )
    async def get_book(self, request: Request[Any, Any, Any], book_id: PathId) -> Envelope[BookOut]:
        state = app_state(request)
        row = await state.db.fetch_one(BOOKS.get, row_id=parse_id(book_id))
        if row is None:
            raise not_found()
        return Envelope("success getting book", book_out(row))

    @post(
        security=SECURITY,
        operation_id="createBook",
        summary="Create a book",
        description="Any signed-in user may add a book; to add many, see importBooks.",
        responses={**BAD_BODY, **AUTH, **TOO_LARGE, **UNAVAILABLE},
    )
    async def create_book(self, request: Request[Any, Any, Any], data: JSONBody[BookCreate]) -> Envelope[BookOut]:
        state = app_state(request)
        now = utcnow()
        outcome = await state.db.execute(
            BOOKS.insert, title=data.title, author=data.author, genre=data.genre, year=data.year, now=now
        )
        book = BookOut(outcome.lastrowid, data.title, data.author, data.genre, data.year, utc(now), utc(now))
        return Envelope("success creating book", book)

    @put(
        "/{book_id:str}",
        security=SECURITY,
        operation_id="updateBook",
        summary="Update a book",
        description="Changes only the fields sent. Books have no owner: any signed-in user may edit one.",
        responses={**BAD_ID_OR_BODY, **AUTH, **NOT_FOUND, **TOO_LARGE, **UNAVAILABLE},
    )
    async def update_book(
        self, request: Request[Any, Any, Any], book_id: PathId, data: JSONBody[BookUpdate]
    ) -> Envelope[BookOut]:
        state = app_state(request)
        ident = parse_id(book_id)
        sent = changes(data)
        async with state.db.transaction() as tx:
            if await tx.fetch_one(BOOKS.lock, row_id=ident) is None:
                raise not_found()
            await tx.execute(update_by_id(Book, [*sent, "updated_at"]), row_id=ident, **updated_values(sent))
            row = await tx.fetch_one(BOOKS.get, row_id=ident)
        assert row is not None
        return Envelope("success updating book", book_out(row))

    @delete(
        "/{book_id:str}",
        status_code=200,
        security=SECURITY,
        operation_id="deleteBook",
        summary="Delete a book",
        description="Soft-deletes a book; any signed-in user may.",
        responses={**BAD_ID, **AUTH, **NOT_FOUND, **UNAVAILABLE},
    )
    async def delete_book(self, request: Request[Any, Any, Any], book_id: PathId) -> Message:
        state = app_state(request)
        outcome = await state.db.execute(BOOKS.soft_delete, row_id=parse_id(book_id), now=utcnow())
        if outcome.rowcount == 0:
            raise not_found()
        return Message("success deleting book")
