"""``dictamesh bus``: look into the event bus (embedded or Kafka) the way kcat does.

``topics`` (partitions, messages, retention), ``tail`` (records decoded, headers picked
out; ``--follow`` until Ctrl-C), ``lag`` (per group and partition) and ``dlq list|show|
replay``. Reading never joins or commits a consumer group and never creates a topic; only
``dlq replay`` writes (the replayed records and their entries in the replay ledger,
``docs/cli.md``). Exit codes: 2 bad input (an unknown topic or group, a bad filter, a bad
config), 1 the bus failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from dictamesh.cli._catalog_commands import ConfigOpt, fail, load_settings
from dictamesh.cli._output import FormatOpt, OutputFormat, emit
from dictamesh.core.errors import DictaMeshError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from dictamesh.catalog.service import CatalogService
    from dictamesh.core.settings import DictaMeshSettings
    from dictamesh.events.bus import Message
    from dictamesh.events.inspect import InspectableBus
    from dictamesh.events.inspect_view import EventDecoder
    from dictamesh.events.schema_registry import SchemaRegistryClient

__all__ = ["bus_app"]

bus_app = typer.Typer(
    help="Look into the event bus: topics, records, consumer lag, dead letters.",
    no_args_is_help=True,
)
dlq_app = typer.Typer(help="Dead-letter topics: list, show, replay.", no_args_is_help=True)
bus_app.add_typer(dlq_app, name="dlq")

_T = TypeVar("_T")

FilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="field=value (repeat or comma-separate; all must match): error_type, error, key,"
        " topic (globs), partition, offset, original_offset (N or A..B)",
    ),
]


def _open_bus(settings: DictaMeshSettings) -> InspectableBus:
    """The configured bus, set up never to create a topic while it is read."""
    from dictamesh.events.inspect import InspectableBus

    bus_settings = settings.bus
    if bus_settings.backend == "embedded":
        from dictamesh.events.embedded import EmbeddedBus

        path = bus_settings.path
        if str(path) != ":memory:" and not Path(path).is_file():
            fail(f"no embedded bus at {path} (bus.path): nothing was published there yet")
        return EmbeddedBus(path, topic_settings=bus_settings.topics)
    if bus_settings.backend == "kafka":
        from dictamesh.events.kafka import KafkaBus

        return KafkaBus(
            bus_settings.kafka_bootstrap,
            settings=bus_settings.kafka,
            client_id=f"{settings.node_name}-inspect",
            topic_specs=(),
            auto_create_topics=False,
            topic_settings=bus_settings.topics,
        )
    from dictamesh.events.registry import build_bus

    bus = build_bus(bus_settings, node_name=settings.node_name)
    if not isinstance(bus, InspectableBus):
        fail(f"the {bus_settings.backend!r} bus backend cannot be inspected")
    return bus


Work = Callable[["InspectableBus", "DictaMeshSettings"], Awaitable[_T]]


def _run(config: Path | None, work: Work[_T]) -> _T:
    """Run ``work`` on the configured bus: bad input exit 2, a failing bus exit 1."""
    settings = load_settings(config)
    try:
        bus = _open_bus(settings)
    except DictaMeshError as exc:  # a missing extra, bad client settings
        fail(exc.message)

    async def main() -> _T:
        try:
            return await work(bus, settings)
        finally:
            await bus.aclose()

    try:
        return asyncio.run(main())
    except ValidationError as exc:
        fail(exc.message)
    except DictaMeshError as exc:
        fail(exc.message, 1)
    except KeyboardInterrupt:  # Ctrl-C while reading (--follow handles it itself: exit 0)
        raise typer.Exit(130) from None


class _CatalogSchemas:
    """The catalog's Avro schemas, read-only: what decoding needs (ids to schema text)."""

    def __init__(self, catalog: CatalogService) -> None:
        self.catalog = catalog

    async def register(self, subject: str, schema_str: str, schema_type: str = "AVRO") -> int:
        raise ValidationError("the bus inspector registers no schemas")

    async def get_by_id(self, schema_id: int) -> str:
        rows = await self.catalog.list_schemas(
            schema_id=schema_id, deleted=True, schema_types=["AVRO"]
        )
        if not rows:
            raise NotFoundError(f"schema id {schema_id} not found", schema_id=schema_id)
        return rows[0].schema_text

    async def get_latest(self, subject: str) -> tuple[int, int, str]:
        rows = await self.catalog.list_schemas(subject, schema_types=["AVRO"])
        if not rows:
            raise NotFoundError(f"subject {subject!r} not found", subject=subject)
        return rows[-1].id, rows[-1].version, rows[-1].schema_text


def _registry(
    settings: DictaMeshSettings, stack: AsyncExitStack
) -> Callable[[], Awaitable[SchemaRegistryClient]]:
    """Opens, on first use, ``bus.schema_registry_url`` or else the node's catalog registry
    (as a node does, ``node.py`` ``_default_serializer``); closed with ``stack``."""

    async def make() -> SchemaRegistryClient:
        url = settings.bus.schema_registry_url
        if url is not None:
            from dictamesh.events.schema_registry import HttpSchemaRegistryClient

            client = HttpSchemaRegistryClient(url.get_secret_value())
            stack.push_async_callback(client.aclose)
            return client
        from sqlalchemy.engine import make_url

        from dictamesh.catalog.service import CatalogService
        from dictamesh.core.errors import SerializationError

        target = settings.catalog.url.get_secret_value()
        parsed = make_url(target)
        database = parsed.database
        local = parsed.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
        if local and not Path(str(database)).is_file():  # opening would create an empty one
            raise SerializationError(
                f"an Avro record, and no catalog at {database} to read its schema from"
                " (catalog.url, or set bus.schema_registry_url)"
            )
        catalog = await CatalogService.open(target, migrate=False, pool=settings.catalog.pool)
        stack.push_async_callback(catalog.aclose)
        return _CatalogSchemas(catalog)

    return make


def _decoder(settings: DictaMeshSettings, stack: AsyncExitStack) -> EventDecoder:
    from dictamesh.events.inspect_view import EventDecoder

    return EventDecoder(
        settings.bus.topics,
        _registry(settings, stack),
        timestamps=settings.bus.avro_timestamps,
    )


def _retention(ms: int | None) -> str:
    if ms is None:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _groups(groups: Sequence[str], fmt: OutputFormat) -> list[str] | str | None:
    if fmt is OutputFormat.JSON:
        return list(groups)
    return ", ".join(groups) or None


# --- topics -----------------------------------------------------------------------------


@bus_app.command("topics")
def topics(
    pattern: Annotated[
        str | None, typer.Argument(help="only topics matching this glob, e.g. 'customers.*'")
    ] = None,
    groups: Annotated[
        bool | None,
        typer.Option(
            "--groups/--no-groups",
            help="list the consumer groups per topic (default: on for the embedded bus; on"
            " Kafka one request per group, so off)",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Topics with partitions, messages (end - start offsets), retention, cleanup policy."""
    from dictamesh.events.inspect import topic_rows

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        with_groups = groups if groups is not None else settings.bus.backend == "embedded"
        rows = await topic_rows(bus, pattern, groups=with_groups)
        return [
            {
                "topic": r.name,
                "partitions": r.partitions,
                "messages": r.messages,
                "retention": _retention(r.retention_ms)
                if fmt is OutputFormat.TABLE
                else r.retention_ms,
                "cleanup": r.cleanup_policy,
                **({} if r.groups is None else {"groups": _groups(r.groups, fmt)}),
            }
            for r in rows
        ]

    rows = _run(config, work)
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo("no topics")
        return
    emit(rows, fmt)


# --- tail -------------------------------------------------------------------------------


def _line(view: dict[str, Any]) -> str:
    from dictamesh.events.inspect_view import summary

    headers = view["headers"]
    extra = "".join(
        f" {name}={headers[field]}"
        for name, field in (("trace", "trace_id"), ("tenant", "tenant_id"))
        if headers[field]
    )
    return (
        f"{view['partition']}:{view['offset']} {view['timestamp']} key={view['key'] or '-'}"
        f" {summary(view)}{extra}"
    )


def _table_row(view: dict[str, Any]) -> dict[str, Any]:
    from dictamesh.events.inspect_view import summary

    headers = view["headers"]
    return {
        "partition": view["partition"],
        "offset": view["offset"],
        "timestamp": view["timestamp"],
        "key": view["key"],
        "value": summary(view),
        "trace_id": headers["trace_id"],
        "tenant": headers["tenant_id"],
    }


def _stop_on_signals(stop: asyncio.Event) -> Callable[[], None]:
    """Ctrl-C (and SIGTERM) end ``--follow`` cleanly; returns the undo."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def undo() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return undo


@bus_app.command("tail")
def tail_topic(
    topic: Annotated[str, typer.Argument(help="the topic to read")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="the first records instead of the last")
    ] = False,
    follow_: Annotated[
        bool,
        typer.Option("--follow", help="then print new records as they come, until Ctrl-C"),
    ] = False,
    key: Annotated[str | None, typer.Option("--key", help="only records with this key")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, help="records shown before following (0: all)")
    ] = 20,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Records of TOPIC, decoded (JSON, Debezium, Avro), with their headers.

    Reads by partition and offset: no consumer group is joined, nothing is committed.
    With --follow, every record is one line (JSON Lines with --format json)."""
    from dictamesh.events.inspect import follow, require_topic, tail
    from dictamesh.events.inspect_view import record_view

    def show(views: Sequence[dict[str, Any]]) -> None:
        for view in views:
            json_line = fmt is OutputFormat.JSON
            typer.echo(json.dumps(view, ensure_ascii=False) if json_line else _line(view))

    async def views(decoder: EventDecoder, messages: Sequence[Message]) -> list[dict[str, Any]]:
        return [record_view(m, *await decoder.try_decode(m)) for m in messages]

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        await require_topic(bus, topic)
        async with AsyncExitStack() as stack:
            decoder = _decoder(settings, stack)
            messages, ends = await tail(
                bus, topic, from_beginning=from_beginning, key=key, limit=limit or None
            )
            backlog = await views(decoder, messages)
            if not follow_:
                return backlog
            show(backlog)
            stop = asyncio.Event()
            undo = _stop_on_signals(stop)
            try:
                async for batch in follow(bus, topic, ends, stop, key=key):
                    show(await views(decoder, batch))
            finally:
                undo()
            return []

    rows = _run(config, work)
    if follow_:
        return
    if fmt is OutputFormat.JSON:
        emit(rows, fmt)
    elif rows:
        emit([_table_row(v) for v in rows], fmt)
    else:
        typer.echo("no records")


# --- lag --------------------------------------------------------------------------------


@bus_app.command("lag")
def lag(
    group: Annotated[str | None, typer.Argument(help="one consumer group (default: all)")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="only this topic")] = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Per group, topic and partition: committed offset, end offset, lag."""
    from dictamesh.events.inspect import group_lag, require_topic

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        known = await bus.consumer_groups()
        if group is not None and group not in known:
            raise ValidationError(f"no consumer group {group!r} on this bus")
        if topic is not None:
            await require_topic(bus, topic)
        found = await group_lag(bus, [group] if group else known, topic)
        return [
            {
                "group": g,
                "topic": p.topic,
                "partition": p.partition,
                "committed": p.committed,
                "end": p.end_offset,
                "lag": p.lag,
            }
            for g, p in sorted(found, key=lambda r: (r[0], r[1].topic, r[1].partition))
        ]

    rows = _run(config, work)
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo("no committed offsets")
        return
    emit(rows, fmt, columns=["group", "topic", "partition", "committed", "end", "lag"])


# --- dlq --------------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(config: ConfigOpt = None, fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Dead-letter topics with their message counts and how many were replayed."""
    from dictamesh.events.dlq import dlq_topics

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        return [
            {
                "topic": d.topic.name,
                "source": d.topic.name.removesuffix(".dlq"),
                "partitions": d.topic.partitions,
                "messages": d.topic.messages,
                "replayed": d.replayed,
            }
            for d in await dlq_topics(bus)
        ]

    rows = _run(config, work)
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo("no dead-letter topics")
        return
    emit(rows, fmt, columns=["topic", "source", "partitions", "messages", "replayed"])


def _letter_row(letter: Any, replayed: bool) -> dict[str, Any]:
    m = letter.message
    return {
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "key": m.key,
        "error_type": letter.error_type,
        "error": letter.error,
        "original": f"{letter.original_topic}[{letter.original_partition}]"
        f"@{letter.original_offset}",
        "attempts": letter.attempts,
        "replayed": replayed,
    }


@dlq_app.command("show")
def dlq_show(
    topic: Annotated[
        str | None, typer.Argument(help="a <topic>.dlq (default: every dead-letter topic)")
    ] = None,
    filters: FilterOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="at most (0: all)")] = 100,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Dead letters with their error headers (and the decoded event with --format json)."""
    from dictamesh.events.dlq import dlq_topics, parse_filters, read_dead_letters, replayed_refs
    from dictamesh.events.inspect import require_topic
    from dictamesh.events.inspect_view import record_view

    try:
        chosen = parse_filters(filters or [])
    except ValidationError as exc:
        fail(exc.message)

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        if topic is not None:
            await require_topic(bus, topic)
            names = [topic]
        else:
            names = [d.topic.name for d in await dlq_topics(bus)]
        done = await replayed_refs(bus)
        rows: list[dict[str, Any]] = []
        async with AsyncExitStack() as stack:
            decoder = _decoder(settings, stack)
            for name in names:
                for letter in await read_dead_letters(bus, name, chosen):
                    if limit and len(rows) >= limit:
                        return rows
                    row = _letter_row(letter, letter.ref in done)
                    if fmt is OutputFormat.JSON:
                        m = letter.message
                        row["record"] = record_view(m, *await decoder.try_decode(m))
                    rows.append(row)
        return rows

    rows = _run(config, work)
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo("no dead letters")
        return
    emit(
        rows,
        fmt,
        columns=[
            "topic",
            "partition",
            "offset",
            "key",
            "error_type",
            "error",
            "original",
            "attempts",
            "replayed",
        ],
    )


@dlq_app.command("replay")
def dlq_replay(
    topic: Annotated[str, typer.Argument(help="the <topic>.dlq to replay from")],
    filters: FilterOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be replayed, write nothing")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="replay records replayed before, again")
    ] = False,
    config: ConfigOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Publish dead letters back to their source topic (each once: replays are recorded)."""
    from dictamesh.events.dlq import parse_filters, replay
    from dictamesh.events.inspect import require_topic

    try:
        chosen = parse_filters(filters or [])
    except ValidationError as exc:
        fail(exc.message)

    async def work(bus: InspectableBus, settings: DictaMeshSettings) -> list[dict[str, Any]]:
        await require_topic(bus, topic)
        outcomes = await replay(bus, topic, chosen, dry_run=dry_run, force=force)
        return [
            {
                "partition": o.letter.message.partition,
                "offset": o.letter.message.offset,
                "key": o.letter.message.key,
                "error_type": o.letter.error_type,
                "target": o.letter.original_topic,
                "status": o.status,
                "written": None if o.offset is None else f"{o.partition}:{o.offset}",
            }
            for o in outcomes
        ]

    rows = _run(config, work)
    if fmt is OutputFormat.JSON:
        emit(rows, fmt)
        return
    if rows:
        emit(rows, fmt)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    typer.echo(done or "nothing to replay")
