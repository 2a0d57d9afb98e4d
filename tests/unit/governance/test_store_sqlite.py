import pytest
from tests.unit.governance.store_contract import GovernanceStoreContract

from dictamesh.catalog import CatalogService


class TestGovernanceOnSqlite(GovernanceStoreContract):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog
