"""RetryPolicy: retryable errors only, exponential backoff, Retry-After and its cap."""

from __future__ import annotations

import random

import pytest

from dictamesh.core.errors import (
    CircuitOpenError,
    EntityNotFound,
    SourceRateLimited,
    SourceResponseError,
    SourceUnavailable,
)
from dictamesh.resilience import RetryPolicy


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Flaky:
    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(sleeps: Sleeps, **kw: object) -> RetryPolicy:
    params: dict[str, object] = {"max_attempts": 3, "backoff_initial": 0.1, "backoff_max": 5.0}
    params.update(kw)
    return RetryPolicy(sleep=sleeps, rng=random.Random(7), **params)  # type: ignore[arg-type]


async def test_retries_unavailable_until_success() -> None:
    sleeps = Sleeps()
    source = Flaky(SourceUnavailable("503"), SourceUnavailable("503"))
    assert await policy(sleeps).call(source) == "ok"
    assert source.calls == 3
    assert len(sleeps.waits) == 2


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    sleeps = Sleeps()
    source = Flaky(*[SourceUnavailable(f"503 #{i}") for i in range(5)])
    with pytest.raises(SourceUnavailable, match="#2"):
        await policy(sleeps).call(source)
    assert source.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        SourceResponseError("garbage"),
        EntityNotFound("customer", "c-1"),
        CircuitOpenError("open"),
        KeyError("bug"),
    ],
)
async def test_does_not_retry_non_retryable(error: BaseException) -> None:
    sleeps = Sleeps()
    source = Flaky(error)
    with pytest.raises(type(error)):
        await policy(sleeps).call(source)
    assert source.calls == 1
    assert sleeps.waits == []


async def test_backoff_is_exponential_bounded_and_jittered() -> None:
    sleeps = Sleeps()
    retry = policy(sleeps, max_attempts=6, backoff_initial=0.1, backoff_max=0.5)
    with pytest.raises(SourceUnavailable):
        await retry.call(Flaky(*[SourceUnavailable("x") for _ in range(6)]))
    bases = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert len(sleeps.waits) == 5
    for wait, base in zip(sleeps.waits, bases, strict=True):
        assert base / 2 <= wait <= base  # "equal jitter"
    assert [retry.backoff(n) for n in range(1, 6)] == bases


async def test_honours_retry_after() -> None:
    sleeps = Sleeps()
    source = Flaky(SourceRateLimited("429", retry_after=1.0))
    assert await policy(sleeps).call(source) == "ok"
    assert sleeps.waits == [1.0]  # at least Retry-After, more than the 0.05..0.1 backoff


async def test_retry_after_beyond_backoff_max_is_not_retried() -> None:
    sleeps = Sleeps()
    source = Flaky(SourceRateLimited("429", retry_after=60.0))
    with pytest.raises(SourceRateLimited) as info:
        await policy(sleeps, backoff_max=5.0).call(source)
    assert info.value.retry_after == 60.0
    assert source.calls == 1
    assert sleeps.waits == []


async def test_on_retry_callback_sees_each_retry() -> None:
    seen: list[tuple[int, str, float]] = []
    retry = RetryPolicy(
        max_attempts=3,
        backoff_initial=0.0,
        backoff_max=0.0,
        sleep=Sleeps(),
        on_retry=lambda n, exc, wait: seen.append((n, type(exc).__name__, wait)),
    )
    await retry.call(Flaky(SourceUnavailable("a"), SourceRateLimited("b", retry_after=None)))
    assert seen == [(1, "SourceUnavailable", 0.0), (2, "SourceRateLimited", 0.0)]


async def test_a_first_attempt_that_succeeds_never_starts_tenacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dictamesh.resilience.retry as retry_module

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("tenacity started for a call that did not fail")

    monkeypatch.setattr(retry_module, "AsyncRetrying", refuse)
    sleeps = Sleeps()
    assert await policy(sleeps).call(Flaky()) == "ok"
    with pytest.raises(EntityNotFound):  # not retryable: raised at once, no tenacity either
        await policy(sleeps).call(Flaky(EntityNotFound("widget", "w-1")))
    assert sleeps.waits == []


async def test_retries_see_the_same_attempts_waits_and_deadline_as_before() -> None:
    """Attempt numbers, backoff (same jitter draws), listeners and the deadline are those of
    one tenacity loop over every attempt, although the first runs outside tenacity."""
    seen: list[tuple[int, float]] = []
    sleeps = Sleeps()
    retry = policy(sleeps, max_attempts=4, on_retry=lambda n, _e, w: seen.append((n, w)))
    source = Flaky(*[SourceUnavailable(f"503 #{i}") for i in range(5)])
    with pytest.raises(SourceUnavailable, match="#3"):
        await retry.call(source)
    rng = random.Random(7)
    expected = []
    for attempt in (1, 2, 3):
        base = min(5.0, 0.1 * 2 ** (attempt - 1))
        expected.append((attempt, base / 2 + rng.uniform(0, base / 2)))
    assert seen == expected
    assert sleeps.waits == [w for _, w in expected]
    assert source.calls == 4
    # a deadline the first wait would pass: no retry at all
    now = 100.0
    late = RetryPolicy(max_attempts=3, backoff_initial=1.0, sleep=sleeps, clock=lambda: now)
    source = Flaky(SourceUnavailable("503"))
    with pytest.raises(SourceUnavailable):
        await late.call(source, deadline=now + 0.1)
    assert source.calls == 1
