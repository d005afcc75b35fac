"""compute_blog_stats: a blog's word count and reading time, stored on its row."""

from __future__ import annotations

import math

from sqlalchemy import select, update

from shared.models import Blog
from worker.context import RunningJob

WORDS_PER_MINUTE = 200


def reading_stats(content: str) -> tuple[int, int]:
    """(word count, minutes to read at 200 words a minute, rounded up)."""
    words = len(content.split())
    return words, math.ceil(words / WORDS_PER_MINUTE)


async def compute_blog_stats(job: RunningJob, blog_id: int) -> dict[str, int] | None:
    """Idempotent: it reads the blog's current content, so running it twice stores the same numbers."""
    async with job.db.engine.begin() as conn:
        content = await conn.scalar(select(Blog.content).where(Blog.id == blog_id, Blog.deleted_at.is_(None)))
        if content is None:
            return None  # deleted since it was asked for: nothing to do
        words, minutes = reading_stats(content)
        await conn.execute(
            update(Blog)
            .where(Blog.id == blog_id)
            # Derived data: keep updated_at, which tells clients when the author last wrote.
            .values(word_count=words, reading_minutes=minutes, updated_at=Blog.updated_at)
        )
    return {"word_count": words, "reading_minutes": minutes}
