"""The API's wire format: request bodies (validated by msgspec) and response envelopes.

Every success body is ``{"message", "data"}`` as in the original service (lists add
``meta``); times are UTC in ISO 8601 with a ``Z``. Passwords have no field in any
response type, so no code path can leak one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from shared.emails import InvalidEmail, normalize_email
from shared.jobs import JobKind, JobStatus
from shared.rules import Genre, Text255, Year  # the rules the book import applies too

T = TypeVar("T")

# local@domain.tld with no spaces or control characters. Spelled out rather than ``\s``,
# which means different things to Python and to the JSON Schema (ECMAScript) readers of
# the OpenAPI document, so both sides agree on what an email is.
# The pattern only roughly: the whole rule is shared.emails.normalize_email, checked after.
_EMAIL_PART = r"[^@\x00-\x20\x7f]+"
Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=255,
        pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$",
        description="one address (RFC 5322 addr-spec, at most 254 characters), normalised: NFKC, lower case, IDNA",
        examples=["ayu@example.com"],
    ),
]
Password = Annotated[str, Meta(min_length=8, max_length=256)]
BlogContent = Annotated[str, Meta(min_length=1, max_length=100_000)]


class Input(Struct, forbid_unknown_fields=True):
    """Request bodies reject fields they do not know, so a typo is an error, not a no-op."""


def _normalised(email: str | UnsetType) -> str | UnsetType:
    """The one stored form of the address (:mod:`shared.emails`), or a 400 naming ``email``.

    The pattern above is what the OpenAPI document can say; this is the whole rule, and
    it is what the database compares, so two spellings of one address are one account.
    """
    if not isinstance(email, str):
        return email
    try:
        return normalize_email(email)
    except InvalidEmail as exc:
        raise ValueError(f"email is not one valid address: {exc}") from None


class UserCreate(Input):
    name: Text255
    email: Email
    password: Password

    def __post_init__(self) -> None:
        self.email = str(_normalised(self.email))


class UserUpdate(Input):
    """A change of ``email`` or ``password`` also needs ``current_password``: a token alone
    (stolen, or left on a shared machine) must not be enough to take the account over."""

    name: Text255 | UnsetType = UNSET
    email: Email | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    current_password: Annotated[str, Meta(max_length=256)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        self.email = _normalised(self.email)


class Credentials(Input):
    email: Annotated[str, Meta(max_length=255)]
    password: Annotated[str, Meta(max_length=256)]


class BookCreate(Input):
    title: Text255
    author: Text255
    genre: Genre
    year: Year


class BookUpdate(Input):
    title: Text255 | UnsetType = UNSET
    author: Text255 | UnsetType = UNSET
    genre: Genre | UnsetType = UNSET
    year: Year | UnsetType = UNSET


class BlogCreate(Input):
    title: Text255
    content: BlogContent


class BlogUpdate(Input):
    title: Text255 | UnsetType = UNSET
    content: BlogContent | UnsetType = UNSET


def changes(update: Struct) -> dict[str, object]:
    """The fields a PUT body actually sent: PUT changes only those."""
    return {f: v for f in update.__struct_fields__ if (v := getattr(update, f)) is not UNSET}


def utc(value: datetime) -> datetime:
    """Stored times are naive UTC; say so on the wire.

    Built anew rather than with ``value.replace(tzinfo=UTC)``: on Python 3.11 ``replace``
    parses its keywords at several times the cost of the constructor, and a page of
    books calls this twice per row.
    """
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, UTC)


class UserOut(Struct):
    """``email`` only in the user's own record: other users see who, not how to reach them."""

    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    email: str | UnsetType = UNSET


class BookOut(Struct):
    id: int
    title: str
    author: str
    genre: str
    year: int
    created_at: datetime
    updated_at: datetime


class BlogOut(Struct):
    id: int
    user_id: int
    title: str
    content: str
    word_count: int | None
    reading_minutes: int | None
    created_at: datetime
    updated_at: datetime


class JobOut(Struct):
    id: str
    kind: JobKind
    status: JobStatus
    params: dict[str, Any]
    attempts: int
    progress_done: int
    progress_total: int | None
    result: Any
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    retry_of: str | None  # the job this one runs again (POST /jobs/{id}/retry)


class PageMeta(Struct, omit_defaults=True):
    total: int
    limit: int
    offset: int
    next_cursor: str | None = None  # absent on the last page, so that one reads as the original's


class Envelope(Struct, Generic[T]):
    message: str
    data: T


class Page(Struct, Generic[T]):
    message: str
    data: list[T]
    meta: PageMeta


class Message(Struct):
    message: str


class Token(Struct):
    message: str
    token: str


class FieldError(Struct):
    field: str
    message: str


class ErrorBody(Struct, omit_defaults=True):
    message: str
    errors: list[FieldError] | UnsetType = UNSET


class Health(Struct):
    message: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)
    # /readyz: jobs written but not yet handed to Redis (they wait while Redis is away).
    pending_jobs: int | None = None


# What a succeeded job's ``result`` holds, by its kind. The worker writes these as plain JSON;
# the types exist so that the OpenAPI document (api.openapi) can say what a client gets.


class BlogStatsResult(Struct):
    """compute_blog_stats"""

    word_count: int
    reading_minutes: int


class WelcomeEmailResult(Struct, omit_defaults=True):
    """welcome_email: ``sent`` false with ``logged`` when no SMTP server is set, or with ``reason``."""

    sent: bool
    to: str | UnsetType = UNSET
    logged: bool | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class RejectedRow(Struct):
    line: int
    reason: str


class BookImportResult(Struct):
    """import_books: the counts, and the first rejected lines with their reasons."""

    rows: int
    inserted: int
    rejected: int
    rejections: list[RejectedRow]
    rejections_truncated: bool


class ExportResult(Struct):
    """export: what the file holds; download it with downloadExport."""

    resource: Literal["books", "blogs"]
    rows: int
    bytes: int


class CleanupResult(Struct):
    """cleanup (scheduled, never anyone's own job): rows and files purged."""

    blogs: int
    books: int
    users: int
    jobs: int
    files: int


JOB_RESULTS: dict[JobKind, type[Struct]] = {
    JobKind.COMPUTE_BLOG_STATS: BlogStatsResult,
    JobKind.WELCOME_EMAIL: WelcomeEmailResult,
    JobKind.IMPORT_BOOKS: BookImportResult,
    JobKind.EXPORT: ExportResult,
    JobKind.CLEANUP: CleanupResult,
}
