"""Field rules that both the API and the worker enforce, defined once.

``POST /books`` validates its body against these (``api.schemas.BookCreate``), and the
book import validates every uploaded row against :class:`BookRecord`, so a row the
import accepts is exactly a body ``POST /books`` would accept. The worker never imports
``api``; both import this.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

Text255 = Annotated[str, Meta(min_length=1, max_length=255)]
Genre = Annotated[str, Meta(max_length=255)]
Year = Annotated[int, Meta(ge=-9999, le=9999)]


class BookRecord(Struct, forbid_unknown_fields=True):
    """One book as ``POST /books`` takes it: an unknown field is an error, not a no-op."""

    title: Text255
    author: Text255
    genre: Genre
    year: Year


BOOK_FIELDS = ("title", "author", "genre", "year")
