"""Embedding providers are plugins found by name; configuration mistakes say what to do."""

from __future__ import annotations

import importlib.util
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.settings import DictaMeshSettings, EmbeddingSettings
from dictamesh.embeddings import EmbeddingProvider, embedding_providers, provider_from_settings
from dictamesh.embeddings.registry import (
    EMBEDDING_GROUP,
    EmbeddingFactory,
    openai_provider,
    sentence_transformers_provider,
    wordllama_provider,
)
from dictamesh.embeddings.wordllama import WordLlamaProvider

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def declared() -> list[EntryPoint]:
    """The group as this checkout's pyproject.toml declares it (what an install publishes)."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    table = project["entry-points"][EMBEDDING_GROUP]
    return [EntryPoint(name, value, EMBEDDING_GROUP) for name, value in table.items()]


def test_pyproject_declares_the_three_built_in_providers() -> None:
    registry = embedding_providers(declared())
    assert registry.names() == ["openai", "sentence-transformers", "wordllama"]
    loaded = {name: registry.load(name) for name in registry.names()}
    assert loaded == {
        "openai": openai_provider,
        "sentence-transformers": sentence_transformers_provider,
        "wordllama": wordllama_provider,
    }


def test_pyproject_extras() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("wordllama") for dep in extras["search"])
    assert any(dep.startswith("sentence-transformers") for dep in extras["sentence-transformers"])
    # torch is gigabytes: [all] must not pull it
    assert "sentence-transformers" not in extras["all"][0]
    assert "search" in extras["all"][0]


def test_default_registry_has_the_built_ins_even_with_stale_install_metadata() -> None:
    assert {"openai", "sentence-transformers", "wordllama"} <= set(embedding_providers().names())


def test_default_settings_give_wordllama() -> None:
    provider = provider_from_settings(DictaMeshSettings().search.embeddings)
    assert isinstance(provider, WordLlamaProvider)
    assert isinstance(provider, EmbeddingProvider)
    assert (provider.name, provider.model, provider.dimensions) == ("wordllama", "l2_supercat", 256)


def test_off_gives_none() -> None:
    assert provider_from_settings(EmbeddingSettings(provider="off")) is None


def test_environment_selects_the_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICTAMESH_SEARCH__EMBEDDINGS__PROVIDER", "off")
    assert provider_from_settings(DictaMeshSettings().search.embeddings) is None


def test_unknown_provider_names_the_known_ones_and_the_extra() -> None:
    with pytest.raises(ConfigurationError) as caught:
        provider_from_settings(EmbeddingSettings(provider="word-lama"))
    message = caught.value.message
    assert "search.embeddings.provider" in message
    assert "'word-lama'" in message
    assert "openai, sentence-transformers, wordllama" in message
    assert "pip install 'dictamesh[search]'" in message
    assert caught.value.details["provider"] == "word-lama"


def test_missing_package_names_provider_package_and_extra() -> None:
    # sentence-transformers (torch) is deliberately not installed in the test environment
    assert importlib.util.find_spec("sentence_transformers") is None
    with pytest.raises(ConfigurationError) as caught:
        provider_from_settings(
            EmbeddingSettings(provider="sentence-transformers", path=Path("/nowhere"))
        )
    message = caught.value.message
    assert "'sentence-transformers'" in message
    assert "pip install 'dictamesh[sentence-transformers]'" in message
    assert "known providers: openai, sentence-transformers, wordllama" in message
    assert isinstance(caught.value.__cause__, MissingDependencyError)


def test_a_missing_default_model_package_says_to_install_the_search_extra() -> None:
    def needs_wordllama(settings: EmbeddingSettings) -> EmbeddingProvider:
        raise MissingDependencyError("wordllama", extra="search")

    registry = embedding_providers([])
    registry.register("wordllama", needs_wordllama)
    with pytest.raises(ConfigurationError, match=r"pip install 'dictamesh\[search\]'"):
        provider_from_settings(EmbeddingSettings(), registry=registry)


def test_a_broken_plugin_is_reported_with_its_reason() -> None:
    broken = EntryPoint("mine", "no_such_module_here:factory", EMBEDDING_GROUP)
    registry = embedding_providers([broken])
    with pytest.raises(ConfigurationError) as caught:
        provider_from_settings(EmbeddingSettings(provider="mine"), registry=registry)
    assert "'mine' is disabled" in caught.value.message
    assert "ModuleNotFoundError" in caught.value.message


def test_a_third_party_provider_is_found_by_name() -> None:
    from dictamesh.embeddings.wordllama import WordLlamaProvider

    class Renamed(WordLlamaProvider):
        name = "mine"

    factory: EmbeddingFactory = Renamed
    registry = embedding_providers([])
    registry.register("mine", factory)
    provider = provider_from_settings(EmbeddingSettings(provider="mine"), registry=registry)
    assert isinstance(provider, Renamed)


def test_a_provider_settings_error_is_passed_through_as_is() -> None:
    with pytest.raises(ConfigurationError, match=r"search\.embeddings\.url") as caught:
        provider_from_settings(EmbeddingSettings(provider="openai", model="m"))
    assert "pip install" not in caught.value.message
