"""Password hashing: argon2id for everything new, bcrypt only to let legacy users in.

The original service stored bcrypt (``$2a$``) hashes and, in one early version, plain
text. ``verify`` accepts argon2id and bcrypt; ``needs_upgrade`` tells the caller to
replace anything that is not a current argon2id hash right after a successful login,
so legacy hashes disappear as their owners come back. Hashing is CPU-heavy (tens of
milliseconds and 64 MiB each, by design); :class:`PasswordWork` runs it in threads
(argon2 and bcrypt release the GIL) so one login never stalls every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

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


class PasswordWork:
    """argon2 off the event loop, in two bounded pools: one for new hashes, one for logins.

    Every hash costs a core for a while and 64 MiB. Run in the event loop's shared thread
    pool, a burst of registrations queues its hashes ahead of every login's check, and a
    login waits for all of them. Here new passwords (registration, a password change) are
    hashed by ``hash_workers`` threads and wait in their own queue, while checks (login,
    the current password, a login's rehash) have ``verify_workers`` threads of their own:
    a registration burst uses at most ``hash_workers`` cores, and logins go on beside it.
    """

    __slots__ = ("_hashing", "_verifying")

    def __init__(self, hash_workers: int, verify_workers: int) -> None:
        self._hashing = ThreadPoolExecutor(hash_workers, thread_name_prefix="argon2-hash")
        self._verifying = ThreadPoolExecutor(verify_workers, thread_name_prefix="argon2-verify")

    async def hash(self, password: str) -> str:
        """A new password's hash, for registration and a password change."""
        return await asyncio.get_running_loop().run_in_executor(self._hashing, hash_password, password)

    async def rehash(self, password: str) -> str:
        """A login's upgrade of a legacy hash: part of a login, so with the logins' threads."""
        return await asyncio.get_running_loop().run_in_executor(self._verifying, hash_password, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._verifying, verify, stored, password)

    def close(self) -> None:
        self._hashing.shutdown(wait=False, cancel_futures=True)
        self._verifying.shutdown(wait=False, cancel_futures=True)
