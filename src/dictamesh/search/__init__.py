"""Catalog search beyond words: embeddings of catalog entries, semantic (vector) search and
hybrid search fusing it with the catalog's text search (``docs/search.md``).

The vectors live in their own tables (:mod:`dictamesh.search.store`) over the catalog's
public database surface: pgvector with an HNSW index on PostgreSQL, ``sqlite-vec`` on the
embedded SQLite catalog. Fields governance could mask are never embedded, so no score and no
order can reveal a masked value.
"""

from dictamesh.search.chunking import chunks
from dictamesh.search.fields import FieldChooser, text_hash
from dictamesh.search.indexer import IndexReport, SearchIndexer
from dictamesh.search.runtime import NodeSearch
from dictamesh.search.store import (
    EntityVectors,
    Fingerprint,
    VectorHit,
    VectorStore,
    erase_vectors,
)

# the store and its indexer (the hybrid search service sits beside them)
__all__ = [
    "EntityVectors",
    "FieldChooser",
    "Fingerprint",
    "IndexReport",
    "NodeSearch",
    "SearchIndexer",
    "VectorHit",
    "VectorStore",
    "chunks",
    "erase_vectors",
    "text_hash",
]
