"""A mesh config naming the four reference adapters (built by codegen, never connected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dictamesh.adapters.registry import AdapterRegistry
from dictamesh.codegen.mesh import load_registry
from dictamesh.core.settings import DictaMeshSettings

KINDS = ("customers_directus", "invoices_ecommerce", "payments_gateway", "products_rest")


def write_config(path: Path, kinds: tuple[str, ...] = KINDS) -> Path:
    adapters = "".join(
        f"  - {{name: {kind}, kind: {kind}, base_url: 'http://127.0.0.1:9'}}\n" for kind in kinds
    )
    path.write_text(f"adapters:\n{adapters}")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "mesh.yaml")


@pytest.fixture
def settings(config: Path) -> DictaMeshSettings:
    return DictaMeshSettings.from_yaml(config)


@pytest.fixture
def registry(settings: DictaMeshSettings) -> AdapterRegistry:
    return load_registry(settings)
