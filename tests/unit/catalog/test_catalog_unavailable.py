"""Database errors meaning "unreachable right now" become CatalogUnavailable (503)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from dictamesh.catalog._dialect import create_catalog_engine
from dictamesh.catalog._errors import database_error, is_unavailable
from dictamesh.catalog.service import CatalogService
from dictamesh.core.errors import CatalogError, CatalogUnavailable


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _wrapped(cls: type[DBAPIError], orig: BaseException, invalidated: bool = False) -> DBAPIError:
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        _wrapped(OperationalError, RuntimeError("connection is closed"), invalidated=True),
        _wrapped(OperationalError, _PgError("57P01")),  # admin shutdown
        _wrapped(OperationalError, _PgError("57P03")),  # cannot connect now (starting up)
        _wrapped(OperationalError, _PgError("08006")),  # connection failure
    ],
)
def test_unreachable(exc: BaseException) -> None:
    assert is_unavailable(exc)
    error = database_error(exc)
    assert isinstance(error, CatalogUnavailable)
    assert error.http_status == 503


def test_other_database_errors_stay_plain_catalog_errors() -> None:
    exc = _wrapped(ProgrammingError, _PgError("42P01"))  # undefined table
    assert not is_unavailable(exc)
    error = database_error(exc)
    assert type(error) is CatalogError
    assert error.http_status == 500


async def test_unreachable_server_is_a_typed_error() -> None:
    # Nothing listens on port 1: asyncpg's raw ConnectionRefusedError must not escape.
    pytest.importorskip("asyncpg")
    catalog = CatalogService(
        create_catalog_engine("postgresql+asyncpg://u:p@127.0.0.1:1/db"), owns_engine=True
    )
    try:
        with pytest.raises(CatalogUnavailable, match="unavailable"):
            await catalog.ping()
    finally:
        await catalog.aclose()
