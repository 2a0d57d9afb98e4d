"""The default provider: wordllama's bundled model, real vectors, never a download."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tests.network_guard import loopback_only

from dictamesh.core.errors import ConfigurationError
from dictamesh.core.inputs import InvalidInput
from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings import EmbeddingProviderError
from dictamesh.embeddings.wordllama import WordLlamaProvider, bundled_files

TEXTS = [
    "customer Maria Silva lives in Lisbon",
    "invoice overdue, payment not received",
    "red mountain bicycle with 21 gears",
    "client Mario Silva from Lisboa",
    "unpaid bill past its due date",
]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> object:
    with loopback_only(monkeypatch) as attempts:
        yield attempts
    assert attempts == []


_PROVIDERS: dict[tuple[tuple[str, object], ...], WordLlamaProvider] = {}


async def embed(texts: list[str], **settings: object) -> np.ndarray:
    """Vectors from a provider with these settings (one per settings: a load is ~0.15 s)."""
    key = tuple(sorted(settings.items()))
    if key not in _PROVIDERS:
        _PROVIDERS[key] = WordLlamaProvider(EmbeddingSettings(**settings))  # type: ignore[arg-type]
    return np.array(await _PROVIDERS[key].embed(texts))


async def test_real_unit_vectors_of_the_configured_size(no_network: object) -> None:
    vectors = await embed(TEXTS)
    assert vectors.shape == (5, 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({tuple(v) for v in vectors.round(6)}) == 5


async def test_similar_texts_are_closer_than_unrelated_ones(no_network: object) -> None:
    v = await embed(TEXTS)
    sim = v @ v.T
    # the customer and its misspelled twin; the overdue invoice and the unpaid bill
    assert sim[0, 3] > max(sim[0, 1], sim[0, 2], sim[0, 4])
    assert sim[1, 4] > max(sim[1, 0], sim[1, 2], sim[1, 3])


async def test_same_vectors_whatever_the_batch_size(no_network: object) -> None:
    whole = await embed(TEXTS, batch_size=64)
    in_twos = await embed(TEXTS, batch_size=2)
    one_by_one = np.array([(await embed([t]))[0] for t in TEXTS])
    assert np.allclose(whole, in_twos, atol=1e-6)
    assert np.allclose(whole, one_by_one, atol=1e-6)
    reversed_ = await embed(TEXTS[::-1], batch_size=2)
    assert np.allclose(whole, reversed_[::-1], atol=1e-6)


async def test_a_long_text_does_not_change_the_others(no_network: object) -> None:
    long = " ".join(["warehouse inventory report"] * 3000)
    alone = await embed(TEXTS[:2])
    beside = await embed([TEXTS[0], long, TEXTS[1]])
    assert np.allclose(alone, beside[[0, 2]], atol=1e-6)


@pytest.mark.parametrize("dims", [64, 128])
async def test_fewer_dimensions_truncate_then_renormalise(dims: int, no_network: object) -> None:
    full = await embed(TEXTS)
    short = await embed(TEXTS, dimensions=dims)
    assert short.shape == (5, dims)
    expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
    assert np.allclose(short, expected, atol=1e-5)
    sim = short @ short.T
    assert sim[0, 3] > sim[0, 2]  # a Matryoshka cut still ranks sensibly


def test_same_vectors_as_wordllama_itself() -> None:
    """Our loader (bundled files, no download path) computes what WordLlama computes."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference  # calls logging.basicConfig

        weights, tokenizer = bundled_files("l2_supercat")
        with safe_open(str(weights), framework="np", device="cpu") as f:
            table = f.get_tensor("embedding.weight")
        theirs = WordLlamaInference(table, Tokenizer.from_file(str(tokenizer))).embed(
            TEXTS, norm=True
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    ours = asyncio.run(embed(TEXTS))
    assert np.allclose(ours, theirs, atol=1e-5)


def test_no_download_path_is_ever_reached() -> None:
    """In a fresh interpreter: embedding imports neither wordllama (whose loader downloads
    and whose import configures the root logger) nor any HTTP client of the hub."""
    script = textwrap.dedent(
        """
        import asyncio, logging, sys
        from dictamesh.core.settings import EmbeddingSettings
        from dictamesh.embeddings import provider_from_settings
        async def main():
            p = provider_from_settings(EmbeddingSettings())
            [v] = await p.embed(["hello"])
            assert len(v) == 256
        asyncio.run(main())
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in {"wordllama", "requests", "huggingface_hub"})
        print(loaded, logging.getLogger().handlers)
        """
    )
    env = {"HF_HUB_OFFLINE": "0", "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] []"


async def test_the_model_loads_once_under_concurrent_first_calls(no_network: object) -> None:
    provider = WordLlamaProvider(EmbeddingSettings())
    loads = 0
    real_load = provider._load

    def counting_load() -> object:
        nonlocal loads
        loads += 1
        return real_load()

    provider._load = counting_load  # type: ignore[method-assign]
    results = await asyncio.gather(*(provider.embed([t]) for t in TEXTS))
    assert loads == 1
    assert np.allclose([r[0] for r in results], await provider.embed(TEXTS), atol=1e-6)
    await provider.aclose()


async def test_the_event_loop_keeps_running_while_embedding(no_network: object) -> None:
    provider = WordLlamaProvider(EmbeddingSettings(batch_size=256))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await provider.embed([f"{t} {i}" for i in range(400) for t in TEXTS])
    task.cancel()
    assert ticks > 5  # load + 2000 texts took well over 5 ms of other work's time


async def test_a_batch_past_the_deadline_is_a_provider_error(no_network: object) -> None:
    # the first batch also loads the model (~0.15 s): far past a 1 ms deadline
    provider = WordLlamaProvider(EmbeddingSettings(timeout_seconds=0.001))
    with pytest.raises(EmbeddingProviderError, match=r"longer than 0\.001 s") as caught:
        await provider.embed(TEXTS)
    assert caught.value.http_status == 503


async def test_bad_input_is_400_before_the_model_loads() -> None:
    provider = WordLlamaProvider(EmbeddingSettings(max_text_chars=100))
    for bad in ([""], ["x" * 101], ["nul\x00"]):
        with pytest.raises(InvalidInput):
            await provider.embed(bad)
    assert provider._loaded is None
    assert await provider.embed([]) == []
    assert provider._loaded is None


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"dimensions": 100}, "64, 128, 256 dimensions, not 100"),
        ({"dimensions": 512}, "not 512"),  # a size wordllama has, but not in the wheel
        ({"model": "l3_supercat"}, "not shipped with the package"),
    ],
)
def test_settings_the_bundled_model_cannot_serve(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        WordLlamaProvider(EmbeddingSettings(**settings))  # type: ignore[arg-type]


async def test_pooling_groups_do_not_change_the_vectors(
    monkeypatch: pytest.MonkeyPatch, no_network: object
) -> None:
    import dictamesh.embeddings.wordllama as module

    texts = [*TEXTS, " ".join(["warehouse inventory report"] * 30), *TEXTS]
    one_group = await embed(texts)
    monkeypatch.setattr(module, "_GROUP_TOKENS", 12)  # every few texts: a group of its own
    assert np.allclose(await embed(texts), one_group, atol=1e-6)
