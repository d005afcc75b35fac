"""Password hashing: argon2id for everything new, bcrypt only to let legacy users in.

The original service stored bcrypt (``$2a$``) hashes and, in one early version, plain
text. ``verify`` accepts argon2id and bcrypt; ``needs_upgrade`` tells the caller to
replace anything that is not a current argon2id hash right after a successful login,
so legacy hashes disappear as their owners come back. Hashing is CPU-heavy (tens of
milliseconds by design); the async helpers run it in a thread (argon2 and bcrypt release
the GIL) so one login never stalls every other request.
"""

from __future__ import annotations

import asyncio
import contextlib

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory profile
# Verified against when the email is unknown, so that a miss costs what a hit costs and
# the response time does not tell whether an account exists.
_DUMMY_HASH = _hasher.hash("wadah-no-such-user")
_BCRYPT_MAX_BYTES = 72


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def is_bcrypt(stored: str) -> bool:
    return stored.startswith(("$2a$", "$2b$", "$2y$"))


def verify(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; ``None`` (unknown user) costs the same and fails."""
    if stored is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return False
    if is_bcrypt(stored):
        secret = password.encode()
        # bcrypt reads at most 72 bytes and the original service could not hash more, so a
        # longer password never matches a legacy hash (bcrypt 5 raises instead of saying so).
        if len(secret) > _BCRYPT_MAX_BYTES:
            return False
        try:
            return bcrypt.checkpw(secret, stored.encode())
        except ValueError:  # a damaged legacy hash ("Invalid salt"): no password matches it
            return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_upgrade(stored: str) -> bool:
    return is_bcrypt(stored) or _hasher.check_needs_rehash(stored)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_async(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify, stored, password)
