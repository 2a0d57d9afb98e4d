"""A node's semantic search: the embedding provider, the vector store and the indexer.

Built by :class:`~dictamesh.node.MeshNode` from ``search`` settings. With
``search.embeddings.provider: off`` there is none of it (semantic search answers that it is
off). A provider that cannot be built (its package missing, a bad model path) leaves the
node running with text search only and :attr:`NodeSearch.unavailable` saying why. The
indexer runs only on nodes that ingest (:mod:`dictamesh.search.indexer`).

Example::

    search = NodeSearch.build(settings, catalog.database, policy=policy, schemas=schemas)
    if search.indexer is not None:
        spawn("search-indexer", lambda: search.indexer.run(stop))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from dictamesh.catalog.database import CatalogDatabase
from dictamesh.core.errors import ConfigurationError, DictaMeshError
from dictamesh.core.models import EntitySchema
from dictamesh.core.settings import DictaMeshSettings
from dictamesh.embeddings.base import EmbeddingProvider
from dictamesh.embeddings.registry import provider_from_settings
from dictamesh.governance.policy import PolicyEngine
from dictamesh.search.indexer import SearchIndexer
from dictamesh.search.metrics import IndexerMetrics
from dictamesh.search.store import VectorStore

__all__ = ["NodeSearch"]

log = logging.getLogger(__name__)


class NodeSearch:
    """The provider, the store over the catalog's database and, on ingest nodes, the
    indexer (with its metrics on the node's registry)."""

    def __init__(
        self,
        *,
        provider: EmbeddingProvider | None,
        store: VectorStore | None,
        indexer: SearchIndexer | None = None,
        unavailable: str | None = None,
    ) -> None:
        self.provider = provider
        self.store = store
        self.indexer = indexer
        #: why semantic search is down although configured (None: up, or ``off``)
        self.unavailable = unavailable

    @classmethod
    def build(
        cls,
        settings: DictaMeshSettings,
        database: CatalogDatabase,
        *,
        policy: PolicyEngine,
        schemas: Callable[[], Mapping[str, EntitySchema]],
        index: bool,
        metrics: IndexerMetrics | None = None,
        provider: EmbeddingProvider | None = None,
    ) -> NodeSearch:
        """``index``: run the indexer (ingest nodes). ``provider``: one to use instead of
        the configured one (tests, embedding applications)."""
        search = settings.search
        if provider is None:
            try:
                provider = provider_from_settings(search.embeddings)
            except DictaMeshError as exc:
                log.warning("semantic search is unavailable: %s", exc.message)
                return cls(provider=None, store=None, unavailable=exc.message)
            if provider is None:
                return cls(provider=None, store=None)
        if provider.dimensions != search.embeddings.dimensions:
            raise ConfigurationError(
                f"search.embeddings.dimensions is {search.embeddings.dimensions} but provider"
                f" {provider.name!r} gives {provider.dimensions}"
            )
        store = VectorStore.from_settings(
            database, search, provider=provider.name, model=provider.model
        )
        indexer = None
        if index:
            indexer = SearchIndexer.from_settings(
                database, store, provider, policy, schemas, search, metrics=metrics
            )
        return cls(provider=provider, store=store, indexer=indexer)

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()
