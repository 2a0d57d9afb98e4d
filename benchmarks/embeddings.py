"""Embedding throughput of the default provider (wordllama, bundled model, CPU) on this
machine, texts/second, batch 1 vs batch 64, and the model's load time.

    python benchmarks/embeddings.py                    # 2 000 texts, 5 rounds
    python benchmarks/embeddings.py --texts 5000 --rounds 3 --dimensions 128

Texts are catalog-like lines (a customer, an invoice, a product: 60-200 characters).

(a) DictaMesh: :class:`~dictamesh.embeddings.wordllama.WordLlamaProvider` ``embed`` — input
    checks, one thread hop per batch, each text pooled on its own, vectors as float lists —
    with ``batch_size`` 1 (one call per text, what a query costs) and 64 (the indexer).
(b) Baseline, in the same process: ``wordllama.WordLlamaInference.embed(texts, norm=True,
    batch_size=64)`` on the same weights, called directly (no thread, NumPy out, batches
    padded to their longest text).

Load time: the first load in the process (imports included) and then reloads. The sides
alternate for ``--rounds`` rounds; figures are medians; ratio = (a) over (b) (goal ≥ 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from _kpi import Kpi, record

from dictamesh.core.settings import EmbeddingSettings
from dictamesh.embeddings.wordllama import WordLlamaProvider, bundled_files

FIRST = ["Maria", "João", "Anne", "Kenji", "Olu", "Priya", "Lars", "Sofia", "Ahmed", "Chen"]
LAST = ["Silva", "Müller", "Tanaka", "Okafor", "Sharma", "Nilsen", "Rossi", "Haddad", "Wang"]
CITY = ["Lisbon", "Berlin", "Osaka", "Lagos", "Pune", "Oslo", "Milan", "Beirut", "Shenzhen"]
PRODUCT = ["mountain bicycle", "espresso machine", "standing desk", "noise-cancelling headphones"]


def catalog_texts(n: int, seed: int = 15) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append(
                f"customer {rng.choice(FIRST)} {rng.choice(LAST)} from {rng.choice(CITY)},"
                f" tier {rng.choice(['free', 'pro', 'enterprise'])}, since {2010 + i % 15}"
            )
        elif kind == 1:
            out.append(
                f"invoice INV-{i:06d} for {rng.randint(1, 40)} items, status"
                f" {rng.choice(['paid', 'overdue', 'draft'])}, total {rng.uniform(5, 9000):.2f}"
                " EUR; payment by bank transfer expected within thirty days of issue"
            )
        else:
            out.append(
                f"product {rng.choice(PRODUCT)} model {rng.randint(100, 999)}:"
                f" {rng.choice(['lightweight', 'durable', 'compact'])},"
                f" {rng.choice(['black', 'silver', 'red'])}, ships from {rng.choice(CITY)}"
            )
    return out


def baseline_model(dimensions: int) -> Callable[[list[str]], object]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference  # configures the root logger

    root.handlers[:] = handlers
    root.setLevel(level)
    weights, tokenizer = bundled_files("l2_supercat")
    with safe_open(str(weights), framework="np", device="cpu") as f:
        table = f.get_tensor("embedding.weight")[:, :dimensions]
    model = WordLlamaInference(table, Tokenizer.from_file(str(tokenizer)))
    return lambda texts: model.embed(texts, norm=True, batch_size=64)


async def rate_ours(provider: WordLlamaProvider, texts: list[str]) -> float:
    started = time.perf_counter()
    await provider.embed(texts)
    return len(texts) / (time.perf_counter() - started)


async def rate_ours_one_by_one(provider: WordLlamaProvider, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        await provider.embed([text])
    return len(texts) / (time.perf_counter() - started)


def rate_baseline(embed: Callable[[list[str]], object], texts: list[str]) -> float:
    started = time.perf_counter()
    embed(texts)
    return len(texts) / (time.perf_counter() - started)


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dimensions", type=int, default=256, choices=[64, 128, 256])
    args = parser.parse_args(argv)
    texts = catalog_texts(args.texts)
    settings = EmbeddingSettings(dimensions=args.dimensions)

    loads = []
    for _ in range(4):
        provider = WordLlamaProvider(settings)
        started = time.perf_counter()
        await provider.load()
        loads.append(time.perf_counter() - started)
    first_load, reload = loads[0], statistics.median(loads[1:])

    batched = WordLlamaProvider(settings.model_copy(update={"batch_size": 64}))
    single = WordLlamaProvider(settings.model_copy(update={"batch_size": 1}))
    await batched.load()
    await single.load()
    baseline = baseline_model(args.dimensions)
    await rate_ours(batched, texts[:64])  # warm-up: thread pool, tokenizer caches
    baseline(texts[:64])

    ours64, ours1, theirs = [], [], []
    for _ in range(args.rounds):
        ours64.append(await rate_ours(batched, texts))
        theirs.append(rate_baseline(baseline, texts))
        ours1.append(await rate_ours_one_by_one(single, texts[: max(200, len(texts) // 5)]))
    a64, a1, b = (statistics.median(x) for x in (ours64, ours1, theirs))
    chars = statistics.mean(len(t) for t in texts)

    print(f"wordllama l2_supercat, {args.dimensions} dimensions, {len(texts)} texts")
    print(f"  mean text length         {chars:8.0f} characters")
    print(f"  load (first, cold)       {first_load * 1000:8.1f} ms")
    print(f"  load (again)             {reload * 1000:8.1f} ms")
    print(f"  batch 64                 {a64:8.0f} texts/s")
    print(f"  batch 1 (one per call)   {a1:8.0f} texts/s   ({a64 / a1:.1f}x slower than 64)")
    print(f"  baseline WordLlama, 64   {b:8.0f} texts/s")
    record(
        Kpi(
            "embeddings: wordllama batch 64 vs WordLlama's own embed",
            a64,
            "tx/s",
            ">= 1000",
            baseline=f"WordLlamaInference.embed {b:.0f} texts/s",
            ratio=a64 / b,
        )
    )
    record(
        Kpi(
            "embeddings: wordllama one text per call (a query)",
            a1,
            "tx/s",
            ">= 200",
            baseline=f"batch 64 {a64:.0f} texts/s",
            ratio=a1 / a64,
        )
    )
    record(
        Kpi(
            "embeddings: wordllama model load (first in process)",
            first_load * 1000,
            "ms",
            "<= 2000",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
