"""Embedding providers as plugins of the entry-point group ``dictamesh.embedding_providers``.

A provider plugin is a factory ``(settings: EmbeddingSettings) -> EmbeddingProvider``. The
built-in ones, ``wordllama`` (default), ``sentence-transformers`` and ``openai``, are declared
in this package's ``pyproject.toml``; a third-party distribution adds its own the same way,
and ``search.embeddings.provider: <name>`` selects it (``off``: no semantic search).

Example::

    provider = provider_from_settings(settings.search.embeddings)  # WordLlamaProvider
    embedding_providers().names()        # ['openai', 'sentence-transformers', 'wordllama']
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import Protocol, TypeGuard

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.plugins import PluginRegistry
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings.base import EmbeddingProvider

__all__ = [
    "EMBEDDING_GROUP",
    "OFF",
    "EmbeddingFactory",
    "embedding_providers",
    "openai_provider",
    "provider_from_settings",
    "sentence_transformers_provider",
    "wordllama_provider",
]

EMBEDDING_GROUP = "dictamesh.embedding_providers"
#: ``search.embeddings.provider`` value turning semantic search off
OFF = "off"
_SETTING = "search.embeddings.provider"


class EmbeddingFactory(Protocol):
    def __call__(self, settings: EmbeddingSettings) -> EmbeddingProvider: ...


def _is_factory(obj: object) -> TypeGuard[EmbeddingFactory]:
    return callable(obj)


def wordllama_provider(settings: EmbeddingSettings) -> EmbeddingProvider:
    from dictamesh.embeddings.wordllama import WordLlamaProvider

    return WordLlamaProvider(settings)


def sentence_transformers_provider(settings: EmbeddingSettings) -> EmbeddingProvider:
    from dictamesh.embeddings.sentence_transformers import SentenceTransformersProvider

    return SentenceTransformersProvider(settings)


def openai_provider(settings: EmbeddingSettings) -> EmbeddingProvider:
    from dictamesh.embeddings.openai import OpenAIProvider

    return OpenAIProvider(settings)


# Also registered directly: an editable install made before these entry points were added
# keeps stale metadata, and the default provider must not vanish until a reinstall.
_BUILT_IN: dict[str, EmbeddingFactory] = {
    "wordllama": wordllama_provider,
    "sentence-transformers": sentence_transformers_provider,
    "openai": openai_provider,
}


def embedding_providers(
    plugins: Iterable[EntryPoint] | None = None,
) -> PluginRegistry[EmbeddingFactory]:
    """A registry of the installed providers (``plugins`` replaces discovery, and then the
    built-in providers are only what ``plugins`` lists)."""
    registry = PluginRegistry(
        EMBEDDING_GROUP,
        what="embedding provider",
        accepts=_is_factory,
        expected="callable",
        plugins=plugins,
    )
    if plugins is None:
        published = registry.names()
        for name, factory in _BUILT_IN.items():
            if name not in published:
                registry.register(name, factory)
    return registry


_DEFAULT: PluginRegistry[EmbeddingFactory] | None = None


def _default() -> PluginRegistry[EmbeddingFactory]:
    global _DEFAULT
    if _DEFAULT is None:  # discovery reads every distribution's metadata: not at import
        _DEFAULT = embedding_providers()
    return _DEFAULT


def provider_from_settings(
    settings: EmbeddingSettings, *, registry: PluginRegistry[EmbeddingFactory] | None = None
) -> EmbeddingProvider | None:
    """The provider ``settings.provider`` names, built by its plugin (its model loads on
    first use); ``None`` when it is ``off``.

    ConfigurationError when the name is unknown, the plugin is broken or its package is not
    installed: the message names the provider, the known ones and what to install.
    """
    name = settings.provider
    if name == OFF:
        return None
    plugins = registry or _default()
    hint = f"pip install 'dictamesh[search]' for the built-in ones, or {_SETTING}: {OFF}"
    try:
        factory = plugins.load(name, setting=_SETTING)
        return factory(settings)
    except MissingDependencyError as exc:
        extra = exc.details.get("extra", "search")
        raise ConfigurationError(
            f"{_SETTING}: embedding provider {name!r} needs {exc.details.get('package')}:"
            f" pip install 'dictamesh[{extra}]' (known providers: {', '.join(plugins.names())};"
            f" {OFF} turns semantic search off)",
            provider=name,
            package=exc.details.get("package"),
            extra=extra,
            known=plugins.names(),
        ) from exc
    except ConfigurationError as exc:
        if exc.details.get("group") != EMBEDDING_GROUP:
            raise  # the provider's own check of its settings, already precise
        raise ConfigurationError(f"{exc.message} ({hint})", provider=name, **exc.details) from exc
