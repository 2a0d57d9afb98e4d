"""Configuration: one settings object, nested per layer, read from env (``DICTAMESH_``) or YAML.

Example::

    settings = DictaMeshSettings.from_yaml("mesh.yaml")  # env vars still override
    settings.bus.backend  # 'embedded'

Nested env vars use a double underscore: ``DICTAMESH_BUS__BACKEND=kafka``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from dictamesh.core.errors import ConfigurationError

__all__ = [
    "AdapterConfig",
    "ApiSettings",
    "BusSettings",
    "CacheSettings",
    "CatalogSettings",
    "DictaMeshSettings",
    "ResilienceSettings",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResilienceSettings(_Section):
    timeout_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=10)
    backoff_initial_seconds: float = Field(default=0.1, ge=0)
    backoff_max_seconds: float = Field(default=5.0, ge=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_window_seconds: float = Field(default=30.0, gt=0)
    breaker_reset_seconds: float = Field(default=15.0, gt=0)
    max_concurrency: int = Field(default=32, ge=1)


class AdapterConfig(_Section):
    """One adapter of a node: ``kind`` names an entry point of group ``dictamesh.adapters``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    kind: str
    base_url: str
    api_key: str | None = None
    poll_interval_seconds: float | None = Field(default=2.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    resilience: ResilienceSettings = Field(default_factory=ResilienceSettings)


class BusSettings(_Section):
    backend: Literal["embedded", "kafka"] = "embedded"
    path: Path = Path(".dictamesh/bus.sqlite3")
    kafka_bootstrap: str = "127.0.0.1:9092"
    serialization: Literal["json", "avro"] = "json"
    max_delivery_attempts: int = Field(default=5, ge=1)


class CatalogSettings(_Section):
    url: str = "sqlite+aiosqlite:///.dictamesh/catalog.sqlite3"
    migrate_on_start: bool = True


class CacheSettings(_Section):
    l1_max_entries: int = Field(default=10_000, ge=0)
    l1_ttl_seconds: float = Field(default=60.0, gt=0)
    redis_url: str | None = None


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class DictaMeshSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DICTAMESH_", env_nested_delimiter="__", extra="forbid"
    )

    node_name: str = "dictamesh-node"
    state_dir: Path = Path(".dictamesh")
    adapters: list[AdapterConfig] = Field(default_factory=list)
    bus: BusSettings = Field(default_factory=BusSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def from_yaml(cls, path: str | Path) -> DictaMeshSettings:
        """Load a YAML config; any problem becomes a :class:`ConfigurationError`."""
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file not found: {p}", path=str(p)) from exc
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"config file {p} is not valid YAML: {exc}") from exc
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigurationError(f"config file {p} must hold a mapping at the top level")
        return cls.from_mapping(raw, origin=str(p))

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], origin: str = "config") -> DictaMeshSettings:
        try:
            return cls(**raw)
        except PydanticValidationError as exc:
            problems = [
                f"{'.'.join(str(x) for x in e['loc']) or '<root>'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConfigurationError(
                f"invalid {origin}: " + "; ".join(problems), problems=problems
            ) from exc
