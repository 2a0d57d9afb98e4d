"""The sentence-transformers provider without torch (not installed here, gigabytes): its
settings, the missing-package error, and its glue over a stand-in of the library's API.
Model inference itself is not exercised in CI (docs/search.md says so)."""

from __future__ import annotations

import importlib.machinery
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dictamesh.core.errors import ConfigurationError, MissingDependencyError
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings.sentence_transformers import (
    SentenceTransformersProvider,
    check_model_dir,
)


def model_dir(tmp_path: Path) -> Path:
    (tmp_path / "modules.json").write_text("[]")
    return tmp_path


def test_missing_package_is_a_missing_dependency(tmp_path: Path) -> None:
    with pytest.raises(MissingDependencyError) as caught:
        SentenceTransformersProvider(EmbeddingSettings(path=model_dir(tmp_path)))
    assert "pip install 'dictamesh[sentence-transformers]'" in caught.value.message


def test_path_is_required() -> None:
    with pytest.raises(ConfigurationError, match="needs the model directory"):
        check_model_dir(None)


def test_path_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a directory"):
        check_model_dir(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="is not a directory"):
        check_model_dir(tmp_path / "file")


def test_path_must_hold_a_saved_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="holds no saved model"):
        check_model_dir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert check_model_dir(tmp_path) == tmp_path.resolve()


class _StandIn:
    """The two calls the provider makes of ``SentenceTransformer``, recorded."""

    calls: list[tuple[str, dict[str, Any]]] = []
    width = 8

    def __init__(self, path: str, **kwargs: Any) -> None:
        self.calls.append((path, kwargs))
        self.offline = os.environ.get("HF_HUB_OFFLINE")

    def get_sentence_embedding_dimension(self) -> int:
        return self.width

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        assert kwargs == {"normalize_embeddings": True, "convert_to_numpy": True}
        # "void" stands for a text the model maps to nothing (a zero vector)
        rows = [[0 if t == "void" else len(t) + i for i in range(self.width)] for t in texts]
        return np.array(rows, dtype=np.float32)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> type[_StandIn]:
    module = types.ModuleType("sentence_transformers")
    module.__spec__ = importlib.machinery.ModuleSpec("sentence_transformers", None)
    module.SentenceTransformer = _StandIn  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "")  # recorded, so what the provider sets is undone after
        monkeypatch.delenv(name)
    _StandIn.calls = []
    return _StandIn


async def test_loads_offline_from_the_directory_once(
    stand_in: type[_StandIn], tmp_path: Path
) -> None:
    provider = SentenceTransformersProvider(
        EmbeddingSettings(provider="sentence-transformers", path=model_dir(tmp_path), dimensions=8)
    )
    assert (provider.name, provider.model) == ("sentence-transformers", tmp_path.name)
    vectors = await provider.embed(["a", "bbb"])
    await provider.embed(["c"])
    assert stand_in.calls == [(str(tmp_path.resolve()), {"local_files_only": True})]
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vectors[0] != vectors[1]


async def test_a_model_of_another_size_is_refused_at_load(
    stand_in: type[_StandIn], tmp_path: Path
) -> None:
    provider = SentenceTransformersProvider(
        EmbeddingSettings(path=model_dir(tmp_path), dimensions=384)
    )
    with pytest.raises(ConfigurationError, match=r"dimensions is 384 but the model at .* gives 8"):
        await provider.load()


async def test_a_text_without_direction_is_bad_input_named_by_its_position(
    stand_in: type[_StandIn], tmp_path: Path
) -> None:
    provider = SentenceTransformersProvider(
        EmbeddingSettings(path=model_dir(tmp_path), dimensions=8, batch_size=2)
    )
    with pytest.raises(InvalidInput, match=r"texts\[2\] has nothing the model can read"):
        await provider.embed(["a", "b", "void", "c"])
