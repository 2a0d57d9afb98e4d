from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.governance.store_contract import GovernanceStoreContract

from dictamesh.catalog import CatalogService


class TestGovernanceOnSqlite(GovernanceStoreContract):
    @pytest.fixture
    async def catalog(self, tmp_path: Path) -> AsyncIterator[CatalogService]:
        async with await CatalogService.open(f"sqlite+aiosqlite:///{tmp_path}/c.db") as catalog:
            yield catalog
