"""Random Avro schemas (records, enums, fixed, arrays, maps, unions; deep and wide), valid by
construction: every named type gets a fresh name, unions hold no union and no two unnamed
types of one kind."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
Avro = Any


@st.composite
def avro_schemas(draw: Any, max_depth: int = 4, max_width: int = 8) -> Avro:
    names = itertools.count()

    def fresh() -> str:
        return f"T{next(names)}"

    def schema(depth: int, in_union: bool = False) -> Avro:
        kinds = ["primitive", "enum", "fixed"]
        if depth > 0:
            kinds += ["record", "record", "array", "map"] + ([] if in_union else ["union"])
        kind = draw(st.sampled_from(kinds))
        if kind == "primitive":
            return draw(st.sampled_from(PRIMITIVES))
        if kind == "enum":
            symbols = draw(st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
                                    min_size=1, max_size=max_width, unique=True))  # fmt: skip
            return {"type": "enum", "name": fresh(), "symbols": symbols}
        if kind == "fixed":
            return {"type": "fixed", "name": fresh(), "size": draw(st.integers(0, 64))}
        if kind == "array":
            return {"type": "array", "items": schema(depth - 1)}
        if kind == "map":
            return {"type": "map", "values": schema(depth - 1)}
        if kind == "record":
            count = draw(st.integers(0, max_width))
            fields = []
            for i in range(count):
                field: dict[str, Any] = {"name": f"f{i}", "type": schema(depth - 1)}
                if field["type"] == "null" or draw(st.integers(0, 3)) == 0:
                    field["type"] = ["null", schema(depth - 1, in_union=True)]
                    if field["type"][1] == "null":
                        field["type"] = "null"
                    field["default"] = None
                fields.append(field)
            return {"type": "record", "name": fresh(), "fields": fields}
        return union(depth)

    def union(depth: int) -> list[Avro]:
        members: list[Avro] = []
        seen: set[str] = set()
        for _ in range(draw(st.integers(1, max_width))):
            member = schema(depth - 1, in_union=True)
            kind = member if isinstance(member, str) else member["type"]
            if kind in ("record", "enum", "fixed") or kind not in seen:
                seen.add(kind)
                members.append(member)
        return members

    top = schema(max_depth)
    return top if isinstance(top, dict) and top["type"] == "record" else {
        "type": "record", "name": fresh(), "fields": [{"name": "value", "type": top}]
    }  # fmt: skip


def wide_union_record(width: int, fields: int, name: str = "Wide") -> Avro:
    """A record whose one field is a union of ``width`` records of ``fields`` fields each."""
    members = [
        {"type": "record", "name": f"M{i}",
         "fields": [{"name": f"f{j}", "type": "string"} for j in range(fields)]}
        for i in range(width)
    ]  # fmt: skip
    return {"type": "record", "name": name, "fields": [{"name": "u", "type": ["null", *members]}]}
