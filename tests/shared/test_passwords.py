"""Password hashes: argon2id for everything new, bcrypt only to let legacy users in, then replaced."""

from __future__ import annotations

import asyncio

import bcrypt
from argon2 import PasswordHasher, extract_parameters
from argon2 import Type as Argon2Type

from shared import passwords


def legacy_hash(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$", 1)


def test_new_hashes_are_argon2id_salted_and_verifiable() -> None:
    first, second = passwords.hash_password("s3cret pass"), passwords.hash_password("s3cret pass")
    assert extract_parameters(first).type is Argon2Type.ID
    assert first != second  # salted
    assert passwords.verify(first, "s3cret pass") and not passwords.verify(first, "s3cret pasS")
    assert not passwords.needs_upgrade(first)


def test_legacy_bcrypt_hashes_verify_and_ask_to_be_replaced() -> None:
    stored = legacy_hash(b"old-go-password")
    assert passwords.verify(stored, "old-go-password")
    assert not passwords.verify(stored, "old-go-passwore")
    assert passwords.needs_upgrade(stored)


def test_argon2_hashes_with_weaker_parameters_ask_to_be_replaced() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("s3cret pass")
    assert passwords.verify(weak, "s3cret pass") and passwords.needs_upgrade(weak)


def test_a_password_over_72_bytes_never_matches_a_bcrypt_hash_and_never_raises() -> None:
    stored = legacy_hash(b"x" * 72)
    assert passwords.verify(stored, "x" * 72)
    assert not passwords.verify(stored, "x" * 73)  # bcrypt would read only the first 72 bytes
    assert not passwords.verify(stored, "\u00e9" * 40)


def test_an_unknown_user_fails_after_one_argon2_verification() -> None:
    """verify(None, ...) checks the password against a real argon2id hash, so a miss costs what a hit costs."""
    assert extract_parameters(passwords._DUMMY_HASH) == extract_parameters(passwords.hash_password("x"))
    assert passwords.verify(None, "wadah-no-such-user") is False  # even the dummy's own password


def test_a_stored_value_that_is_no_hash_at_all_fails_quietly() -> None:
    for stored in ("", "plain text password", "$argon2id$garbage", "$2a$garbage"):
        assert passwords.verify(stored, "plain text password") is False


async def test_a_check_is_not_queued_behind_new_hashes() -> None:
    """Sign-ups hash in their own bounded pool, so a login's check runs beside them, not after them all."""
    work = passwords.PasswordWork(hash_workers=1, verify_workers=1)
    stored = passwords.hash_password("s3cret pass")
    try:
        hashes = [asyncio.ensure_future(work.hash(f"new password {i}")) for i in range(6)]
        assert await work.verify(stored, "s3cret pass")
        still_queued = sum(not h.done() for h in hashes)
        await asyncio.gather(*hashes)
    finally:
        work.close()
    assert still_queued >= 3, still_queued  # one hash at a time: most were still waiting
