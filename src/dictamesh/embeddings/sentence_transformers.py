"""``search.embeddings.provider: sentence-transformers``: a model directory on disk.

``path`` is a directory saved by ``SentenceTransformer.save()`` (or a Hugging Face snapshot
copied in); it is opened with ``local_files_only=True`` and Hugging Face's offline switches
set, so nothing is fetched. The package (and torch, gigabytes) comes with the
``sentence-transformers`` extra, which ``[all]`` leaves out. CI checks the settings and the
missing-package path; it does not run a model (torch is not installed there).

Example (mesh.yaml)::

    search:
      embeddings:
        provider: sentence-transformers
        path: /models/all-MiniLM-L6-v2
        dimensions: 384
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings._local import LocalProvider
from dictamesh.embeddings._texts import unit

__all__ = ["EXTRA", "SentenceTransformersProvider", "check_model_dir"]

EXTRA = "sentence-transformers"
#: a directory holding one of these is a saved model (sentence-transformers' own marker
#: first, then a bare transformers model it can wrap)
_MARKERS = ("modules.json", "config_sentence_transformers.json", "config.json")


def check_model_dir(path: Path | None) -> Path:
    """``path`` resolved, or ConfigurationError saying what is wrong with it."""
    if path is None:
        raise ConfigurationError(
            "search.embeddings.path: provider 'sentence-transformers' needs the model directory"
        )
    resolved = path.expanduser().resolve()
    if not resolved.is_dir():
        raise ConfigurationError(
            f"search.embeddings.path: {resolved} is not a directory", path=str(resolved)
        )
    if not any((resolved / marker).is_file() for marker in _MARKERS):
        raise ConfigurationError(
            f"search.embeddings.path: {resolved} holds no saved model (none of"
            f" {', '.join(_MARKERS)})",
            path=str(resolved),
        )
    return resolved


class SentenceTransformersProvider(LocalProvider[Any]):
    """A local sentence-transformers model; its work runs in a thread."""

    name = "sentence-transformers"

    def __init__(self, settings: EmbeddingSettings) -> None:
        if importlib.util.find_spec("sentence_transformers") is None:
            raise MissingDependencyError("sentence-transformers", extra=EXTRA)
        super().__init__(settings)
        self._path = check_model_dir(settings.path)
        self.model = settings.model or self._path.name

    def _load(self) -> Any:
        # set before the import: huggingface_hub reads them when it is first imported
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        module = importlib.import_module("sentence_transformers")
        model = module.SentenceTransformer(str(self._path), local_files_only=True)
        width = model.get_sentence_embedding_dimension()
        if width != self.dimensions:
            raise ConfigurationError(
                f"search.embeddings.dimensions is {self.dimensions} but the model at"
                f" {self._path} gives {width}",
                dimensions=self.dimensions,
                model_dimensions=width,
            )
        return model

    def _run(self, model: Any, texts: list[str]) -> list[list[float] | None]:
        rows = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return [unit(row.tolist()) for row in rows]
