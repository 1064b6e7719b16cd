"""Sign-in throttling: few password guesses per user and per address, few Argon2 hashes at once.

Argon2 is slow and memory-hungry on purpose (about 0.1 s and 64 MB a hash at the production
cost), so an unguarded sign-in form lets anyone guess passwords without end and lets a burst of
wrong sign-ins take a gigabyte of the server's memory. Three guards, checked in this order:

- after :attr:`SignInLimits.failures_per_user` failures for one username (compared regardless
  of case) within :attr:`SignInLimits.window_seconds`, that username is refused with 429 and
  ``Retry-After``, without its password being checked, even a correct one;
- the same per client address (:attr:`SignInLimits.failures_per_address`), so one address
  cannot try a few passwords on every username instead;
- at most :attr:`SignInLimits.workers` password checks run at once; a few more wait briefly for
  a worker, and the rest are told 503 "busy, try again" at once rather than queueing.

The counts live in this server process's memory: they reset when it restarts, and each process
keeps its own (``sendmatch serve`` runs one). A successful sign-in clears its username's count
but never its address's, so one valid account cannot be used to keep guessing others.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

#: Usernames and addresses tracked at most, each; the stalest are forgotten beyond it, so a
#: flood of made-up usernames cannot grow the server's memory without bound.
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class SignInLimits:
    """How many failed sign-ins are allowed, and how many passwords are checked at once."""

    failures_per_user: int = 5
    failures_per_address: int = 50
    window_seconds: float = 15 * 60
    workers: int = 2
    #: Sign-ins waiting for a worker beyond those being checked; more are refused with 503.
    max_waiting: int = 16
    #: Seconds a sign-in waits for a worker before it is refused with 503.
    wait_seconds: float = 5.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SignInLimits:
        """The defaults, with ``SENDMATCH_SIGN_IN_FAILURES``, ``..._ADDRESS_FAILURES`` and
        ``..._WORKERS`` from the environment where set."""
        defaults = cls()
        return cls(
            failures_per_user=positive_int_from_env(
                environ, "SENDMATCH_SIGN_IN_FAILURES", defaults.failures_per_user
            ),
            failures_per_address=positive_int_from_env(
                environ, "SENDMATCH_SIGN_IN_ADDRESS_FAILURES", defaults.failures_per_address
            ),
            workers=positive_int_from_env(environ, "SENDMATCH_SIGN_IN_WORKERS", defaults.workers),
        )


class SignInRefused(Exception):
    """A sign-in turned away before its password was checked: ``status`` and ``retry_after``
    (whole seconds) are what the client is told."""

    def __init__(self, status: int, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class SignInGuard:
    """The three guards of one server process; thread-safe (sign-ins run in worker threads)."""

    def __init__(
        self, limits: SignInLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or SignInLimits()
        self._users = _FailureLog(self.limits.failures_per_user, self.limits.window_seconds)
        self._addresses = _FailureLog(self.limits.failures_per_address, self.limits.window_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.limits.workers)
        self._waiting = 0

    def check(self, username: str, address: str) -> None:
        """Raise :class:`SignInRefused` (429) while the username or the address is locked out."""
        now = self._clock()
        with self._lock:
            wait = max(
                self._users.locked_for(username_key(username), now),
                self._addresses.locked_for(address, now),
            )
        if wait > 0:
            raise SignInRefused(
                429,
                "too many failed sign-ins for this username or from this address; "
                f"try again in {math.ceil(wait / 60)} minute(s)",
                math.ceil(wait),
            )

    def failed(self, username: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            self._users.add(username_key(username), now)
            self._addresses.add(address, now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._users.clear(username_key(username))

    @contextmanager
    def password_check(self) -> Iterator[None]:
        """Hold one of the Argon2 workers; :class:`SignInRefused` (503) if none comes free."""
        if not self._slots.acquire(blocking=False):
            self._wait_for_worker()
        try:
            yield
        finally:
            self._slots.release()

    def _wait_for_worker(self) -> None:
        with self._lock:
            if self._waiting >= self.limits.max_waiting:
                raise _busy()
            self._waiting += 1
        try:
            acquired = self._slots.acquire(timeout=self.limits.wait_seconds)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise _busy()


def username_key(username: str) -> str:
    """The form usernames are compared in: regardless of case, as the database's unique index.

    Cut at 151 characters (no username is longer than 150), so a megabyte typed into the
    username box is not kept in memory.
    """
    return username[:151].lower()


def positive_int_from_env(environ: Mapping[str, str], name: str, default: int) -> int:
    """``$name`` as a whole number of at least 1, else ``default``; ValueError naming it."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        msg = f"{name} must be a whole number of at least 1, not {raw!r}"
        raise ValueError(msg)
    return int(raw)


def _busy() -> SignInRefused:
    return SignInRefused(503, "sign-in is busy; try again in a few seconds", 1)


class _FailureLog:
    """The times of the last ``limit`` failures per key, so a key is locked out from its
    ``limit``-th failure until the oldest of them is ``window`` seconds old."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def locked_for(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._failures.get(key)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def add(self, key: str, now: float) -> None:
        times = self._failures.pop(key, None) or deque(maxlen=self.limit)
        times.append(now)
        self._failures[key] = times  # re-inserted: the dict's order is staleness
        if len(self._failures) > MAX_TRACKED:
            self._forget_stale(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if t[-1] + self.window <= now]:
            del self._failures[key]
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]
