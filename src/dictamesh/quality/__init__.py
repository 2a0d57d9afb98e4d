"""Data-quality rules (``docs/quality.md``): checks declared per entity type in ``mesh.yaml``,
evaluated on ingest and on a schedule over the catalog, with results, scores and failure
events."""

__all__: list[str] = []
