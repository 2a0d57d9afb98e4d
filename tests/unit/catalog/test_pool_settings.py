"""Catalog connection-pool settings: env/YAML → engine options; SQLite keeps its own pool."""

from __future__ import annotations

import pytest
from sqlalchemy.pool import NullPool, StaticPool

from dictamesh.catalog import CatalogService
from dictamesh.catalog._dialect import create_catalog_engine, postgres_engine_options
from dictamesh.core.errors import ConfigurationError
from dictamesh.core.settings import CatalogPoolSettings, DictaMeshSettings


def test_defaults_ping_before_use() -> None:
    options = postgres_engine_options()
    assert options["pool_pre_ping"] is True
    assert (options["pool_size"], options["max_overflow"]) == (5, 10)
    assert (options["pool_timeout"], options["pool_recycle"]) == (30.0, 1800)
    assert options["connect_args"] == {"server_settings": {"application_name": "dictamesh"}}


def test_env_vars_configure_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_CATALOG__POOL__SIZE", "20")
    monkeypatch.setenv("DICTAMESH_CATALOG__POOL__PRE_PING", "false")
    monkeypatch.setenv("DICTAMESH_CATALOG__POOL__APPLICATION_NAME", "node-a")
    pool = DictaMeshSettings().catalog.pool
    assert (pool.size, pool.pre_ping, pool.application_name) == (20, False, "node-a")
    options = postgres_engine_options(pool)
    assert options["pool_size"] == 20
    assert options["pool_pre_ping"] is False
    assert options["connect_args"]["server_settings"]["application_name"] == "node-a"


def test_bad_pool_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"catalog\.pool\.size"):
        DictaMeshSettings.from_mapping({"catalog": {"pool": {"size": 0}}})
    with pytest.raises(ConfigurationError, match=r"catalog\.pool\.nope"):
        DictaMeshSettings.from_mapping({"catalog": {"pool": {"nope": 1}}})


def test_explicit_options_win_and_other_pool_classes_get_no_sizes() -> None:
    options = postgres_engine_options(
        CatalogPoolSettings(size=3),
        pool_size=9,
        connect_args={"server_settings": {"application_name": "mine", "jit": "off"}},
    )
    assert options["pool_size"] == 9
    assert options["connect_args"]["server_settings"] == {"application_name": "mine", "jit": "off"}
    null = postgres_engine_options(poolclass=NullPool)
    assert "pool_size" not in null
    assert null["pool_pre_ping"] is True


async def test_sqlite_ignores_the_pool_settings() -> None:
    engine = create_catalog_engine(
        "sqlite+aiosqlite:///:memory:", pool=CatalogPoolSettings(size=50)
    )
    try:
        assert isinstance(engine.pool, StaticPool)
    finally:
        await engine.dispose()
    async with await CatalogService.open(
        "sqlite+aiosqlite:///:memory:", pool=CatalogPoolSettings(size=50)
    ) as catalog:
        assert await catalog.ping()
