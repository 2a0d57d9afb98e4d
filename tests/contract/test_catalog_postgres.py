"""The catalog contract on a real PostgreSQL server (marker ``postgres``): same models, same
migrations, as the application role under row-level security.

The server comes from ``DICTAMESH_TEST_POSTGRES_URL`` (``tests/postgres_fixtures.py``):
skipped on a developer machine without one, a failure in CI.
"""

from __future__ import annotations

import pytest

from dictamesh.catalog import CatalogService

from .catalog_contract import CatalogContract

pytestmark = pytest.mark.postgres


class TestPostgresCatalog(CatalogContract):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog
