"""The catalog's migrations on a real PostgreSQL server (the catalog contract itself runs
against PostgreSQL from ``tests/contract/test_catalog_postgres.py``)."""

from __future__ import annotations

import pytest

from dictamesh.catalog.migrate import status

pytestmark = pytest.mark.postgres


async def test_migrations_are_at_head_on_postgres(migrated_postgres: str) -> None:
    current = await status(migrated_postgres)
    assert current.current == current.head
    assert current.pending == []
