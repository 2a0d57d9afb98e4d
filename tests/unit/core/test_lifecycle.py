"""AsyncResource: connect on enter, aclose on exit, and on a failed enter."""

from __future__ import annotations

import pytest

from dictamesh.core.lifecycle import AsyncResource


class Resource(AsyncResource):
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []

    async def connect(self) -> None:
        self.calls.append("connect")
        if self.fail:
            raise OSError("refused")

    async def aclose(self) -> None:
        self.calls.append("aclose")


async def test_enter_connects_and_exit_closes() -> None:
    resource = Resource()
    async with resource as entered:
        assert entered is resource
        assert resource.calls == ["connect"]
    assert resource.calls == ["connect", "aclose"]


async def test_exit_closes_when_the_body_raises() -> None:
    resource = Resource()
    with pytest.raises(ValueError, match="body"):
        async with resource:
            raise ValueError("body")
    assert resource.calls == ["connect", "aclose"]


async def test_a_failed_connect_releases_what_was_opened() -> None:
    resource = Resource(fail=True)
    with pytest.raises(OSError, match="refused"):
        async with resource:
            pytest.fail("the body must not run")
    assert resource.calls == ["connect", "aclose"]


async def test_defaults_hold_nothing() -> None:
    async with AsyncResource() as plain:
        assert isinstance(plain, AsyncResource)
