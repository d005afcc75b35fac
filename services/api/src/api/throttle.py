"""Attempt budgets in Redis: password guesses per email and per address, registrations per address.

**Reserve first, then work.** An attempt takes its place in every counter it belongs to
*before* the expensive part (argon2, tens to hundreds of milliseconds) runs, in one Lua
script, so Redis decides it atomically: if any counter is already at its limit, nothing
is counted and the caller answers 429 with ``Retry-After``; otherwise every counter goes
up by one and the caller may go on. Reading the counters first and counting a failure
after the check, as a first version did, lets a burst of concurrent attempts all read
"below the limit" and all be verified.

Login: ``LOGIN_MAX_FAILURES_PER_EMAIL`` attempts for one email and
``LOGIN_MAX_FAILURES_PER_ADDRESS`` from one client address per window of
``LOGIN_FAILURE_WINDOW_SECONDS`` (the window starts at the first attempt). Once either is
spent, every login for that email or from that address is a 429 until the window ends,
right password or not: an attacker must not learn the password from the one answer that
differs. A success gives its reservations back: the email's counter is cleared, and the
address's goes down by one (only failures should use it up; clearing it would let anyone
reset it by logging in to an account of their own between guesses).

Registration: ``REGISTRATION_MAX_PER_ADDRESS`` per ``REGISTRATION_WINDOW_SECONDS`` from one
address, each counted whether or not it succeeds.

Keys hold no address or email: both are hashed (SHA-256, 32 hex digits), so a key's
length is bounded whatever a client sends. The email is the normalised one
(:func:`shared.emails.email_key`), the one the unique index and the login lookup use.
The address is the peer's, or the one ``X-Forwarded-For`` names only when the peer is
one of ``TRUSTED_PROXIES`` (:mod:`api.__main__`).

Without Redis the budgets fail open (a warning is logged, the attempt goes on):
throttling protects passwords from guessing, and losing it for a while is better than
no one being able to log in.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.settings import Settings

log = logging.getLogger(__name__)

# KEYS: the counters; ARGV[1]: the window in seconds; ARGV[1 + i]: the limit of KEYS[i].
# Returns 0 when the attempt was counted in every key, else the longest wait (seconds)
# among the keys that are spent, having counted nothing.
_RESERVE: Final = """
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl <= 0 then
      redis.call('EXPIRE', key, window)
      ttl = window
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
return 0
"""

# Give one reservation back without taking a counter below zero or reviving an expired one.
_RELEASE: Final = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""


def hashed(value: str) -> str:
    """A bounded, anonymous stand-in for an email or an address in a Redis key."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Budget:
    """Counters in fixed windows, reserved atomically; the shared part of both throttles."""

    __slots__ = ("_redis", "_release", "_reserve", "_what")

    def __init__(self, redis: Redis, what: str) -> None:
        self._redis = redis
        self._what = what  # named in the warnings: "login throttle unavailable, ..."
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    async def reserve(self, limits: dict[str, int], window: int) -> int | None:
        """Seconds to wait if a counter is spent (nothing counted), else None (counted in all)."""
        try:
            wait = await self._reserve(keys=list(limits), args=[window, *limits.values()])
        except (RedisError, OSError) as exc:
            log.warning("%s throttle unavailable, not throttling: %s", self._what, exc)
            return None
        return int(wait) or None

    async def release(self, key: str) -> None:
        try:
            await self._release(keys=[key])
        except (RedisError, OSError) as exc:
            log.warning("%s throttle unavailable, reservation not given back: %s", self._what, exc)

    async def clear(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except (RedisError, OSError) as exc:
            log.warning("%s throttle unavailable, counter not cleared: %s", self._what, exc)


class LoginThrottle:
    """Password guesses: at login, and where a signed-in user confirms their current password."""

    __slots__ = ("_budget", "_per_address", "_per_email", "_prefix", "_window")

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._budget = _Budget(redis, "login")
        self._prefix = f"{settings.redis_namespace}:login-failures"
        self._per_email = settings.login_max_failures_per_email
        self._per_address = settings.login_max_failures_per_address
        self._window = settings.login_failure_window_seconds

    def email_key(self, email: str) -> str:
        return f"{self._prefix}:email:{hashed(email)}"

    def address_key(self, address: str) -> str:
        return f"{self._prefix}:address:{hashed(address)}"

    async def reserve(self, email: str, address: str) -> int | None:
        """Take one attempt for ``email`` from ``address``; the seconds to wait if either is spent."""
        limits = {self.email_key(email): self._per_email, self.address_key(address): self._per_address}
        return await self._budget.reserve(limits, self._window)

    async def succeeded(self, email: str, address: str) -> None:
        """The password was right: the email starts again, and the address gets its attempt back."""
        await self._budget.clear(self.email_key(email))
        await self._budget.release(self.address_key(address))


class RegistrationThrottle:
    """New accounts per client address: each costs a password hash and a welcome email."""

    __slots__ = ("_budget", "_limit", "_prefix", "_window")

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._budget = _Budget(redis, "registration")
        self._prefix = f"{settings.redis_namespace}:registrations"
        self._limit = settings.registration_max_per_address
        self._window = settings.registration_window_seconds

    def address_key(self, address: str) -> str:
        return f"{self._prefix}:address:{hashed(address)}"

    async def reserve(self, address: str) -> int | None:
        return await self._budget.reserve({self.address_key(address): self._limit}, self._window)
