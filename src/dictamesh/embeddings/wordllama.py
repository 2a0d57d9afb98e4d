"""The default provider: WordLlama's ``l2_supercat`` model, read from the files its wheel
ships (``weights/l2_supercat_256.safetensors``, ``tokenizers/..._tokenizer_config.json``).

Nothing is ever downloaded: ``WordLlama.load()`` looks for the tokenizer in a directory the
wheel does not have and then fetches from huggingface.co (its tokenizer fallback fetches
too), so this module opens the bundled files itself and never imports ``wordllama`` (whose
import also calls ``logging.basicConfig``, adding a handler to the root logger). The
inference is WordLlama's: token embeddings averaged, then L2-normalised; the first
``dimensions`` columns of a Matryoshka-trained model are a smaller model of their own.

Example::

    provider = WordLlamaProvider(EmbeddingSettings(dimensions=128))
    vectors = await provider.embed(["invoice overdue", "unpaid bill"])
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings._local import LocalProvider

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

__all__ = ["BUNDLED_MODELS", "BundledModel", "WordLlamaProvider", "bundled_files"]


@dataclass(frozen=True, slots=True)
class BundledModel:
    weights: str
    tokenizer: str
    #: the width of the shipped weights
    width: int
    #: the widths the model was trained to be cut to (wordllama's ``available_dims``)
    dims: tuple[int, ...]


#: what wordllama 0.4's wheel carries (its other sizes and models are downloads)
BUNDLED_MODELS: dict[str, BundledModel] = {
    "l2_supercat": BundledModel(
        weights="weights/l2_supercat_256.safetensors",
        tokenizer="tokenizers/l2_supercat_tokenizer_config.json",
        width=256,
        dims=(64, 128, 256),
    ),
}
_DEFAULT_MODEL = "l2_supercat"
_TENSOR = "embedding.weight"
#: tokens pooled at once (x 256 float32 = 64 MB at most, whatever the texts' lengths)
_GROUP_TOKENS = 65_536


def bundled_files(model: str) -> tuple[Path, Path]:
    """The weights and tokenizer files of ``model`` inside the installed wordllama package,
    found without importing it; MissingDependencyError when the package is not installed."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("wordllama", extra="search")
    for extra_module in ("safetensors", "tokenizers", "numpy"):
        if importlib.util.find_spec(extra_module) is None:
            raise MissingDependencyError(extra_module, extra="search")
    root = Path(next(iter(spec.submodule_search_locations)))
    bundled = BUNDLED_MODELS[model]
    weights, tokenizer = root / bundled.weights, root / bundled.tokenizer
    for path in (weights, tokenizer):
        if not path.is_file():
            raise ConfigurationError(
                f"embedding provider 'wordllama': {path} is missing from the installed"
                " wordllama package (reinstall it: pip install 'dictamesh[search]')",
                path=str(path),
            )
    return weights, tokenizer


class _Model:
    """Loaded weights (float32, cut to the configured width) and the tokenizer."""

    def __init__(self, weights: Path, tokenizer: Path, dimensions: int) -> None:
        import numpy as np
        from safetensors import safe_open
        from tokenizers import Tokenizer

        with safe_open(str(weights), framework="np", device="cpu") as f:
            table = f.get_tensor(_TENSOR)
        self.table: np.ndarray[Any, np.dtype[np.float32]] = np.ascontiguousarray(
            table[:, :dimensions], dtype=np.float32
        )
        self.tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def embed(self, texts: list[str]) -> list[list[float] | None]:
        import numpy as np

        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        out = np.zeros((len(texts), self.table.shape[1]), dtype=np.float32)
        # Texts are pooled in groups of at most _GROUP_TOKENS tokens, unpadded: WordLlama pads
        # a batch to its longest text, so one long text would multiply the whole batch's
        # memory; here a text costs only its own tokens.
        group: list[int] = []
        tokens = 0
        for i, enc in enumerate(encoded):
            if not enc.ids:
                continue  # stays a zero row: reported as unreadable
            if group and tokens + len(enc.ids) > _GROUP_TOKENS:
                self._pool(encoded, group, out)
                group, tokens = [], 0
            group.append(i)
            tokens += len(enc.ids)
        if group:
            self._pool(encoded, group, out)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        usable = np.isfinite(norms[:, 0]) & (norms[:, 0] > 0.0)
        out /= np.where(usable[:, None], norms, 1.0)
        rows: list[list[float]] = out.tolist()
        return [row if ok else None for row, ok in zip(rows, usable.tolist(), strict=True)]

    def _pool(self, encoded: list[Any], group: list[int], out: Any) -> None:
        """Mean of each text's token vectors, for the texts ``group`` lists (none empty)."""
        import numpy as np

        lengths = np.array([len(encoded[i].ids) for i in group])
        ids = np.concatenate([np.asarray(encoded[i].ids, dtype=np.int64) for i in group])
        np.clip(ids, 0, self.table.shape[0] - 1, out=ids)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        out[group] = np.add.reduceat(self.table[ids], starts, axis=0) / lengths[:, None]


class WordLlamaProvider(LocalProvider[_Model]):
    """``search.embeddings.provider: wordllama`` (the default): CPU, no network, ~16 MB.

    The model loads on first use (in a thread, once, even under concurrent first calls);
    ``embed`` runs the CPU work in a thread, ``batch_size`` texts at a time, each batch under
    ``timeout_seconds``.
    """

    name = "wordllama"

    def __init__(self, settings: EmbeddingSettings) -> None:
        model = settings.model or _DEFAULT_MODEL
        bundled = BUNDLED_MODELS.get(model)
        if bundled is None:
            raise ConfigurationError(
                f"search.embeddings.model: wordllama model {model!r} is not shipped with the"
                f" package (no download at run time); bundled: {', '.join(BUNDLED_MODELS)}",
                model=model,
                bundled=list(BUNDLED_MODELS),
            )
        if settings.dimensions not in bundled.dims:
            raise ConfigurationError(
                f"search.embeddings.dimensions: wordllama {model!r} gives"
                f" {', '.join(map(str, bundled.dims))} dimensions, not {settings.dimensions}",
                dimensions=settings.dimensions,
                allowed=list(bundled.dims),
            )
        super().__init__(settings)
        self._weights, self._tokenizer = bundled_files(model)
        self.model = model

    def _load(self) -> _Model:
        return _Model(self._weights, self._tokenizer, self.dimensions)

    def _run(self, model: _Model, texts: list[str]) -> list[list[float] | None]:
        return model.embed(texts)
