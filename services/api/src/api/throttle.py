"""Login throttling: repeated failures for one email, or from one client address, wait.

Failures are counted in Redis in fixed windows of ``LOGIN_FAILURE_WINDOW_SECONDS``, one
counter per email (hashed, so Redis holds no addresses) and one per client address.
Once either reaches its limit, every login for that email or from that address is a
429 with ``Retry-After`` until the window ends, right password or not: an attacker
must not learn the password from the one answer that differs. A success clears the
email's counter; the address's counter runs out with its window, since clearing it
would let anyone reset it by logging in to an account of their own between guesses.

The client address is what uvicorn reports: behind a proxy, set uvicorn's
``FORWARDED_ALLOW_IPS`` to the proxy's address so that it is the real client's, or every
client will share the proxy's counter.

Without Redis the throttle fails open (a warning is logged, login works): throttling
protects passwords from guessing, and losing it for a while is better than no one being
able to log in.
"""

from __future__ import annotations

import hashlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.settings import Settings

log = logging.getLogger(__name__)


class LoginThrottle:
    __slots__ = ("_per_address", "_per_email", "_prefix", "_redis", "_window")

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._prefix = f"{settings.redis_namespace}:login-failures"
        self._per_email = settings.login_max_failures_per_email
        self._per_address = settings.login_max_failures_per_address
        self._window = settings.login_failure_window_seconds

    def _email_key(self, email: str) -> str:
        return f"{self._prefix}:email:{hashlib.sha256(email.encode()).hexdigest()[:32]}"

    def _address_key(self, address: str) -> str:
        return f"{self._prefix}:address:{address}"

    async def retry_after(self, email: str, address: str) -> int | None:
        """Seconds until this email and address may try again, or None if they may now."""
        keys = (self._email_key(email), self._address_key(address))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.ttl(key)
                email_count, email_ttl, address_count, address_ttl = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable, not throttling: %s", exc)
            return None
        waits = [
            ttl if ttl > 0 else self._window
            for count, ttl, limit in (
                (email_count, email_ttl, self._per_email),
                (address_count, address_ttl, self._per_address),
            )
            if count is not None and int(count) >= limit
        ]
        return max(waits) if waits else None

    async def failed(self, email: str, address: str) -> None:
        """Count one failure against the email and the address."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in (self._email_key(email), self._address_key(address)):
                    pipe.set(key, 0, ex=self._window, nx=True)  # the window starts at the first failure
                    pipe.incr(key)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable, failure not counted: %s", exc)

    async def succeeded(self, email: str) -> None:
        try:
            await self._redis.delete(self._email_key(email))
        except (RedisError, OSError) as exc:
            log.warning("login throttle unavailable, counter not cleared: %s", exc)
