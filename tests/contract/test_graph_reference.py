"""The relationship-graph walk equals a reference breadth-first search, on SQLite and PostgreSQL.

The reference is plain Python over the relationships the test recorded, and follows the
documented rule (``catalog/_graph.py``, docs/catalog.md): nodes by level, then ``(type,
id)`` in code-point order, the first ``limit`` kept; ``truncated`` exactly when more than
``limit`` nodes lie within ``max_depth``; edges are every current relationship between two
kept nodes. Seeded random graphs, with types and ids chosen so that code-point order
differs from a locale's (``A`` < ``Z9`` < ``a`` < ``a-c`` < ``aB`` < ``a_b``), self-loops,
parallel relationship types, ended relationships and another tenant's edges; every depth
1..6, every direction, limits that cut and do not cut.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from dictamesh.catalog import CatalogService
from dictamesh.core.models import EntityRef
from dictamesh.tenancy import tenant_context

Node = tuple[str, str]
Edge = tuple[Node, str, Node]

TYPES = ("a", "a0", "a_x", "ab")
IDS = ("1", "10", "2", "A", "a", "a_b", "aB", "a-c", "a.c", "Z9")
RELS = ("links", "refs")
DIRECTIONS = ("out", "in", "both")
OTHER_TENANT = "globex"


@dataclass(frozen=True)
class Expected:
    nodes: list[tuple[str, str, int]]
    edges: set[Edge]
    truncated: bool


def reference_walk(
    edges: set[Edge], root: Node, direction: str, max_depth: int, limit: int
) -> Expected:
    """Breadth-first search over ``edges`` (all current), the catalog's rule for the limit."""
    neighbours: dict[Node, set[Node]] = {}
    for subject, _, obj in edges:
        if direction in ("out", "both"):
            neighbours.setdefault(subject, set()).add(obj)
        if direction in ("in", "both"):
            neighbours.setdefault(obj, set()).add(subject)
    depth_of = {root: 0}
    level = [root]
    for depth in range(1, max_depth + 1):
        found = {n for node in level for n in neighbours.get(node, ())} - depth_of.keys()
        level = sorted(found)
        depth_of.update((n, depth) for n in level)
    ordered = sorted(depth_of, key=lambda n: (depth_of[n], n))
    kept = ordered[:limit]
    kept_set = set(kept)
    return Expected(
        nodes=[(t, i, depth_of[(t, i)]) for t, i in kept],
        edges={e for e in edges if e[0] in kept_set and e[2] in kept_set},
        truncated=len(ordered) > limit,
    )


def random_graph(rng: random.Random) -> tuple[list[Node], set[Edge]]:
    nodes = rng.sample([(t, i) for t in TYPES for i in IDS], rng.randint(4, 24))
    edges: set[Edge] = set()
    for _ in range(rng.randint(0, 3 * len(nodes))):
        edges.add((rng.choice(nodes), rng.choice(RELS), rng.choice(nodes)))  # loops allowed
    hub = nodes[0]  # one high-degree node, so small limits cut inside a level
    for node in rng.sample(nodes, len(nodes) // 2):
        edges.add((hub, "links", node) if rng.random() < 0.5 else (node, "refs", hub))
    return nodes, edges


def limits(expected_size: int) -> Iterator[int]:
    yield from sorted({1, 2, 3, max(1, expected_size - 1), expected_size, expected_size + 1})


async def record(catalog: CatalogService, edges: set[Edge], ended: set[Edge]) -> None:
    for (st, si), rel, (ot, oi) in sorted(edges | ended):
        await catalog.record_relationship(EntityRef(type=st, id=si), rel, EntityRef(type=ot, id=oi))
    for (st, si), rel, (ot, oi) in sorted(ended):
        await catalog.end_relationship(EntityRef(type=st, id=si), rel, EntityRef(type=ot, id=oi))


async def check_graph(catalog: CatalogService, seed: int) -> int:
    """Walk every (root, direction, depth, limit) of one random graph; returns walks done."""
    rng = random.Random(seed)
    nodes, edges = random_graph(rng)
    ended = set(rng.sample(sorted(edges), len(edges) // 5))
    current = edges - ended
    await record(catalog, current, ended)
    with tenant_context(OTHER_TENANT):  # a bridge only the other tenant has
        await catalog.record_relationship(
            EntityRef(type=nodes[0][0], id=nodes[0][1]), "links", EntityRef(type="z", id="far")
        )
    walks = 0
    for root in [nodes[0], *rng.sample(nodes[1:], 2)]:
        if not any(root in (s, o) for s, _, o in current):
            continue  # an unknown root is EntityNotFound, checked in the contract
        for direction in DIRECTIONS:
            for max_depth in range(1, 7):
                full = reference_walk(current, root, direction, max_depth, 10_000)
                for limit in limits(len(full.nodes)):
                    expected = reference_walk(current, root, direction, max_depth, limit)
                    graph = await catalog.query_relationship_graph(
                        EntityRef(type=root[0], id=root[1]),
                        max_depth=max_depth,
                        direction=direction,
                        limit=limit,
                    )
                    where = f"seed {seed} root {root} {direction} depth {max_depth} limit {limit}"
                    assert [(n.type, n.id, n.depth) for n in graph.nodes] == expected.nodes, where
                    got = {
                        (
                            (e.subject.type, e.subject.id),
                            e.relationship_type,
                            (e.object.type, e.object.id),
                        )
                        for e in graph.edges
                    }
                    assert got == expected.edges, where
                    assert len(graph.edges) == len(got), where  # no edge twice
                    assert graph.truncated == expected.truncated, where
                    walks += 1
    return walks


def test_reference_walk_follows_the_rule() -> None:
    edges: set[Edge] = {
        (("n", "r"), "links", ("n", "b")),
        (("n", "r"), "links", ("n", "a")),
        (("n", "a"), "links", ("n", "c")),
        (("n", "c"), "links", ("n", "r")),
    }
    out = reference_walk(edges, ("n", "r"), "out", 5, 10)
    assert out.nodes == [("n", "r", 0), ("n", "a", 1), ("n", "b", 1), ("n", "c", 2)]
    assert not out.truncated
    cut = reference_walk(edges, ("n", "r"), "out", 5, 2)
    assert cut.nodes == [("n", "r", 0), ("n", "a", 1)]
    assert cut.edges == {(("n", "r"), "links", ("n", "a"))}
    assert cut.truncated
    exact = reference_walk(edges, ("n", "r"), "in", 5, 2)
    assert exact.nodes == [("n", "r", 0), ("n", "c", 1)]
    assert exact.truncated


class GraphReference:
    """The walks of ``check_graph`` on several seeds; subclasses give ``catalog``."""

    @pytest.mark.parametrize("seed", range(8))
    async def test_walk_equals_reference_bfs(self, catalog: CatalogService, seed: int) -> None:
        assert await check_graph(catalog, seed) > 0

    async def test_limit_reached_exactly_is_not_truncated(self, catalog: CatalogService) -> None:
        hub = EntityRef(type="n", id="hub")
        for i in range(4):
            await catalog.record_relationship(hub, "links", EntityRef(type="n", id=f"l{i}"))
        exact = await catalog.query_relationship_graph(hub, max_depth=6, limit=5)
        assert len(exact.nodes) == 5
        assert not exact.truncated
        cut = await catalog.query_relationship_graph(hub, max_depth=6, limit=4)
        assert [n.id for n in cut.nodes] == ["hub", "l0", "l1", "l2"]
        assert cut.truncated
        assert len(cut.edges) == 3


class TestSqliteGraphReference(GraphReference):
    @pytest.fixture
    def catalog(self, sqlite_catalog: CatalogService) -> CatalogService:
        return sqlite_catalog


@pytest.mark.postgres
class TestPostgresGraphReference(GraphReference):
    @pytest.fixture
    def catalog(self, postgres_catalog: CatalogService) -> CatalogService:
        return postgres_catalog
