"""Reader/writer schema pairs with the answer Avro's specification gives ("Schema
Resolution", Avro 1.12), shared by the cross-check of the catalog's compatibility checker
against the ``avro`` package's ``ReaderWriterCompatibilityChecker``
(``test_avro_compat_crosscheck.py``) and by ``benchmarks/avro_compat_crosscheck.py``.

``compatible`` is whether the reader can read everything the writer writes. A case whose
``deviation`` is set is one where the reference answers otherwise and the specification
(quoted there) sides with the catalog; the cross-check asserts that the reference still
deviates, so an ``avro`` release that fixes it fails the test and the mark can go.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

__all__ = ["CASES", "Case", "deep_record", "wide_record"]

_NO_DEFAULT = object()

#: spec, "Aliases"
RELATIVE_ALIAS = (
    "A type alias may be specified either as a fully namespace-qualified, or relative to the"
    " namespace of the name it is an alias for. (the reference compares the alias as written"
    " with the writer's full name)"
)
#: spec, "Logical Types" / "Decimal"; AVRO-2078 (apache/avro#247, open) for Java
DECIMAL = (
    "For the purposes of schema resolution, two schemas that are decimal logical types match"
    " if their scales and precisions match. (the reference ignores logical types; AVRO-2078)"
)
#: spec, "Schema Resolution": the reader's branch is resolved recursively against the writer
RECURSIVE_MEMO = (
    "if reader's is a union, but writer's is not: The first schema in the reader's union"
    " that matches the writer's schema is recursively resolved against it. If none match, an"
    " error is signalled. (the reference memoizes a pair judged while a failed branch was"
    " still assumed compatible, and reuses that verdict for the next branch)"
)


class Case(NamedTuple):
    id: str
    reader: Any
    writer: Any
    compatible: bool
    deviation: str | None = None

    @property
    def reader_text(self) -> str:
        return json.dumps(self.reader)

    @property
    def writer_text(self) -> str:
        return json.dumps(self.writer)


def f(name: str, type_: Any, default: Any = _NO_DEFAULT, aliases: list[str] | None = None) -> Any:
    field: dict[str, Any] = {"name": name, "type": type_}
    if default is not _NO_DEFAULT:
        field["default"] = default
    if aliases is not None:
        field["aliases"] = aliases
    return field


def rec(name: str, *fields: Any, ns: str | None = None, aliases: list[str] | None = None) -> Any:
    schema: dict[str, Any] = {"type": "record", "name": name, "fields": list(fields)}
    if ns is not None:
        schema["namespace"] = ns
    if aliases is not None:
        schema["aliases"] = aliases
    return schema


def enum(name: str, *symbols: str, default: str | None = None, **extra: Any) -> Any:
    schema = {"type": "enum", "name": name, "symbols": list(symbols), **extra}
    if default is not None:
        schema["default"] = default
    return schema


def fixed(name: str, size: int, **extra: Any) -> Any:
    return {"type": "fixed", "name": name, "size": size, **extra}


def array(items: Any) -> Any:
    return {"type": "array", "items": items}


def map_(values: Any) -> Any:
    return {"type": "map", "values": values}


def decimal(precision: int, scale: int = 0, base: Any = "bytes") -> Any:
    schema = {"logicalType": "decimal", "precision": precision, "scale": scale}
    return {**base, **schema} if isinstance(base, dict) else {"type": base, **schema}


def linked_list(value: Any, *extra: Any, name: str = "LongList", **kw: Any) -> Any:
    return rec(name, f("value", value), f("next", ["null", name], None), *extra, **kw)


def tree(value: Any, *extra: Any, children: str = "array") -> Any:
    kids = array("Tree") if children == "array" else map_("Tree")
    return rec("Tree", f("value", value), f("children", kids), *extra)


def nested(depth: int, leaf: list[Any]) -> Any:
    """Records ``L1`` → ``L2`` → … each with field ``inner``, the last holding ``leaf``."""
    schema = rec(f"L{depth}", *leaf)
    for level in range(depth - 1, 0, -1):
        schema = rec(f"L{level}", f("id", "long"), f("inner", schema))
    return schema


def deep_record(depth: int, width: int, leaf_type: str = "int") -> Any:
    """``width`` fields per level, ``depth`` levels of records (for timing)."""
    schema = rec(f"D{depth}", *[f(f"f{i}", leaf_type) for i in range(width)])
    for level in range(depth - 1, 0, -1):
        fields = [f(f"f{i}", leaf_type) for i in range(width - 1)]
        schema = rec(f"D{level}", *fields, f("child", schema))
    return schema


def wide_record(width: int, sub_width: int, *, added_default: bool = False) -> Any:
    """``width`` fields, every fourth a record of ``sub_width`` fields (for timing)."""
    fields = []
    for i in range(width):
        if i % 4 == 0:
            sub = [f(f"s{j}", "long") for j in range(sub_width)]
            if added_default:
                sub.append(f("added", ["null", "string"], None))
            fields.append(f(f"f{i}", rec(f"Sub{i}", *sub)))
        elif i % 4 == 1:
            fields.append(f(f"f{i}", ["null", "string", "long"], None))
        elif i % 4 == 2:
            fields.append(f(f"f{i}", array(enum(f"E{i}", "A", "B", "C"))))
        else:
            fields.append(f(f"f{i}", map_("double")))
    return rec("Wide", *fields, ns="bench")


# --- the table --------------------------------------------------------------------------------

_PRIMITIVES = [
    ("int<-int", "int", "int", True),
    ("long<-int", "long", "int", True),
    ("float<-int", "float", "int", True),
    ("double<-int", "double", "int", True),
    ("float<-long", "float", "long", True),
    ("double<-long", "double", "long", True),
    ("double<-float", "double", "float", True),
    ("bytes<-string", "bytes", "string", True),
    ("string<-bytes", "string", "bytes", True),
    ("null<-null", "null", "null", True),
    ("object-form int<-int", {"type": "int"}, "int", True),
    ("int<-long", "int", "long", False),
    ("long<-float", "long", "float", False),
    ("float<-double", "float", "double", False),
    ("int<-float", "int", "float", False),
    ("long<-double", "long", "double", False),
    ("boolean<-int", "boolean", "int", False),
    ("string<-int", "string", "int", False),
    ("int<-string", "int", "string", False),
    ("null<-boolean", "null", "boolean", False),
    ("bytes<-fixed", "bytes", fixed("F", 4), False),
]

_A = f("a", "string")
_B = f("b", "int")

_RECORDS = [
    ("record same", rec("R", _A, _B), rec("R", _A, _B), True),
    ("reader adds field with default", rec("R", _A, f("c", "int", 0)), rec("R", _A), True),
    ("reader adds field without default", rec("R", _A, f("c", "int")), rec("R", _A), False),
    ("reader drops a writer field", rec("R", _A), rec("R", _A, _B), True),
    ("field promoted long<-int", rec("R", f("b", "long")), rec("R", _B), True),
    ("field narrowed int<-long", rec("R", _B), rec("R", f("b", "long")), False),
    ("fields reordered", rec("R", _B, _A), rec("R", _A, _B), True),
    ("field renamed, reader alias", rec("R", f("c", "int", aliases=["b"])), rec("R", _B), True),
    (
        "field renamed, writer alias only",
        rec("R", f("c", "int")),
        rec("R", f("b", "int", aliases=["c"])),
        False,
    ),
    ("field renamed, no alias", rec("R", f("c", "int")), rec("R", _B), False),
    ("field renamed, no alias, default", rec("R", f("c", "int", 1)), rec("R", _B), True),
    (
        "field alias, writer has both",
        rec("R", f("c", "string", aliases=["b"])),
        rec("R", _B, f("c", "string")),
        True,
    ),
    ("field alias to wrong type", rec("R", f("c", "string", aliases=["b"])), rec("R", _B), False),
    ("record renamed, no alias", rec("New", _A), rec("Old", _A), False),
    ("record renamed, reader alias", rec("New", _A, aliases=["Old"]), rec("Old", _A), True),
    ("record renamed, writer alias only", rec("New", _A), rec("Old", _A, aliases=["New"]), False),
    (
        "record renamed, relative alias in namespace",
        rec("New", _A, ns="ex", aliases=["Old"]),
        rec("Old", _A, ns="ex"),
        True,
        RELATIVE_ALIAS,
    ),
    (
        "record renamed, full alias in namespace",
        rec("New", _A, ns="ex", aliases=["ex.Old"]),
        rec("Old", _A, ns="ex"),
        True,
    ),
    (
        "record renamed, alias from other namespace",
        rec("New", _A, ns="ex", aliases=["old.Old"]),
        rec("Old", _A, ns="old"),
        True,
    ),
    (
        "relative alias names another namespace",
        rec("New", _A, ns="ex", aliases=["Old"]),
        rec("Old", _A, ns="other"),
        False,
    ),
    ("same simple name, other namespace", rec("R", _A, ns="a"), rec("R", _A, ns="b"), True),
    ("dotted name vs namespace attribute", rec("x.y.R", _A), rec("R", _A, ns="x.y"), True),
    (
        "nullable field added with null default",
        rec("R", _A, f("n", ["null", "string"], None)),
        rec("R", _A),
        True,
    ),
    (
        "record-typed field added with default",
        rec("R", _A, f("p", rec("P", f("x", "int")), {"x": 1})),
        rec("R", _A),
        True,
    ),
    ("empty reader record", rec("R"), rec("R", _A, _B), True),
    ("reader fields, empty writer, defaults", rec("R", f("a", "string", "")), rec("R"), True),
    ("record vs map", rec("R", _A), map_("string"), False),
]

_ENUMS = [
    ("enum same", enum("E", "A", "B"), enum("E", "A", "B"), True),
    ("enum reader adds symbol", enum("E", "A", "B", "C"), enum("E", "A", "B"), True),
    ("enum reader drops symbol", enum("E", "A"), enum("E", "A", "B"), False),
    ("enum reader drops symbol, default", enum("E", "A", default="A"), enum("E", "A", "B"), True),
    ("enum symbols reordered", enum("E", "B", "A"), enum("E", "A", "B"), True),
    ("enum renamed", enum("F", "A"), enum("E", "A"), False),
    ("enum renamed, alias", enum("F", "A", aliases=["E"]), enum("E", "A"), True),
    ("enum vs string", enum("E", "A"), "string", False),
    ("string vs enum", "string", enum("E", "A"), False),
    (
        "enum field missing, enum default only",
        rec("R", _A, f("e", enum("E", "A", default="A"))),
        rec("R", _A),
        False,
    ),
    (
        "enum field drops symbol",
        rec("R", f("e", enum("E", "A"))),
        rec("R", f("e", enum("E", "A", "B"))),
        False,
    ),
]

_FIXED = [
    ("fixed same", fixed("F", 16), fixed("F", 16), True),
    ("fixed size differs", fixed("F", 8), fixed("F", 16), False),
    ("fixed renamed", fixed("G", 16), fixed("F", 16), False),
    ("fixed renamed, alias", fixed("G", 16, aliases=["F"]), fixed("F", 16), True),
    ("fixed vs bytes", fixed("F", 4), "bytes", False),
    ("fixed other namespace", fixed("F", 4, namespace="a"), fixed("F", 4, namespace="b"), True),
]

_CONTAINERS = [
    ("array long<-int", array("long"), array("int"), True),
    ("array int<-long", array("int"), array("long"), False),
    ("map double<-float", map_("double"), map_("float"), True),
    ("map int<-string", map_("int"), map_("string"), False),
    ("array vs map", array("int"), map_("int"), False),
    (
        "array of records, added default",
        array(rec("I", _A, f("q", "int", 1))),
        array(rec("I", _A)),
        True,
    ),
    (
        "array of records, added required",
        array(rec("I", _A, f("q", "int"))),
        array(rec("I", _A)),
        False,
    ),
    ("map of enums, symbol dropped", map_(enum("E", "A")), map_(enum("E", "A", "B")), False),
    ("array of arrays promoted", array(array("long")), array(array("int")), True),
    (
        "map of arrays of records",
        map_(array(rec("I", _A, f("z", ["null", "int"], None)))),
        map_(array(rec("I", _A))),
        True,
    ),
]

_R1 = rec("R1", _A)
_R2 = rec("R2", _B)

_UNIONS = [
    ("reader union superset", ["null", "string", "int"], ["null", "string"], True),
    ("reader union subset", ["null", "string"], ["null", "string", "int"], False),
    ("union reordered", ["string", "null"], ["null", "string"], True),
    ("writer union, reader promotes all", "long", ["int", "long"], True),
    ("writer union, a branch unreadable", "string", ["null", "string"], False),
    ("reader union contains writer", ["null", "string"], "string", True),
    ("reader union lacks writer", ["null", "int"], "string", False),
    ("reader union promotes writer", ["null", "long"], "int", True),
    ("union to union with promotions", ["null", "double"], ["null", "int", "float"], True),
    (
        "nullable made required",
        rec("R", f("n", "string")),
        rec("R", f("n", ["null", "string"], None)),
        False,
    ),
    (
        "required made nullable",
        rec("R", f("n", ["null", "string"], None)),
        rec("R", f("n", "string")),
        True,
    ),
    (
        "union of records, reader adds default",
        [rec("R1", _A, f("x", "int", 0)), _R2],
        [_R1, _R2],
        True,
    ),
    ("union of records, subset", [_R1, _R2], [_R2], True),
    ("union of records, missing record", [_R1], [_R1, _R2], False),
    (
        "union branch renamed with alias",
        ["null", rec("S", _A, aliases=["R1"])],
        ["null", _R1],
        True,
    ),
    (
        # The spec's reader-union rule picks "the first schema ... that matches" (a.R by
        # unqualified name); Avro's own checkers (Java SchemaCompatibility, this reference)
        # and Java's Resolver take the first branch that reads it, as the catalog does.
        "reader union, same simple name in two namespaces",
        [rec("R", f("v", "int"), ns="a"), rec("R", f("v", "string"), ns="b")],
        rec("R", f("v", "string"), ns="c"),
        True,
    ),
    ("reader union with array", ["null", array("long")], array("int"), True),
    ("reader union with map, values narrowed", ["null", map_("int")], map_("long"), False),
    (
        "reader union with enum, symbol dropped",
        ["null", enum("E", "A")],
        enum("E", "A", "B"),
        False,
    ),
    ("writer null vs reader non-null", "string", "null", False),
]

_NAMED_REFS = [
    (
        "named record used twice by name",
        rec("R", f("home", rec("Addr", f("zip", "string"))), f("work", "Addr")),
        rec("R", f("home", rec("Addr", f("zip", "string"))), f("work", "Addr")),
        True,
    ),
    (
        "writer by name, reader inline",
        rec("R", f("home", rec("Addr", _A)), f("work", rec("Addr2", _A, aliases=["Addr"]))),
        rec("R", f("home", rec("Addr", _A)), f("work", "Addr")),
        True,
    ),
    (
        "named type changed, second use by name",
        rec("R", f("home", rec("Addr", f("zip", "int"))), f("work", "Addr")),
        rec("R", f("home", rec("Addr", f("zip", "long"))), f("work", "Addr")),
        False,
    ),
    (
        "qualified reference",
        rec("R", f("e", enum("Kind", "A"), "A"), f("k", "ns.Kind"), ns="ns"),
        rec("R", f("e", enum("Kind", "A")), f("k", "ns.Kind"), ns="ns"),
        True,
    ),
    (
        "enum by name in array, symbol added",
        rec("R", f("e", enum("Kind", "A", "B")), f("ks", array("Kind"))),
        rec("R", f("e", enum("Kind", "A")), f("ks", array("Kind"))),
        True,
    ),
    (
        "fixed by name, size changed",
        rec("R", f("h", fixed("H", 8)), f("hs", map_("H"))),
        rec("R", f("h", fixed("H", 16)), f("hs", map_("H"))),
        False,
    ),
]

_AB = rec(
    "A",
    f("x", "int"),
    f("b", ["null", rec("B", f("y", "string"), f("a", ["null", "A"], None))], None),
)


def _mutual(b_type: str) -> Any:
    b = rec("B", f("y", b_type), f("a", ["null", "A"], None))
    return rec("A", f("x", "int"), f("b", ["null", b], None))


def _two_w(a_y: str) -> tuple[Any, Any]:
    """Reader union [a.W, b.W] whose branches share the record a.X, which points back at
    a.W; the writer c.W has the same shape, with ``y`` a string."""
    a_x = rec("X", f("back", ["null", "a.W"], None), ns="a")
    a_w = rec("W", f("x", a_x), f("y", a_y), ns="a")
    b_w = rec("W", f("x", "a.X"), f("y", "string"), ns="b")
    c_x = rec("X", f("back", ["null", "c.W"], None), ns="c")
    return [a_w, b_w], rec("W", f("x", c_x), f("y", "string"), ns="c")


_RECURSIVE = [
    ("linked list same", linked_list("long"), linked_list("long"), True),
    (
        "linked list, added default",
        linked_list("long", f("tag", "string", "")),
        linked_list("long"),
        True,
    ),
    (
        "linked list, added required",
        linked_list("long", f("tag", "string")),
        linked_list("long"),
        False,
    ),
    ("linked list promoted", linked_list("long"), linked_list("int"), True),
    ("linked list narrowed", linked_list("int"), linked_list("long"), False),
    (
        "linked list renamed (spec example)",
        linked_list("long", aliases=["LinkedLongs"]),
        linked_list("long", name="LinkedLongs"),
        True,
    ),
    ("tree same", tree("string"), tree("string"), True),
    (
        "tree of maps, added default",
        tree("string", f("w", "double", 1.0), children="map"),
        tree("string", children="map"),
        True,
    ),
    ("tree narrowed", tree("int"), tree("long"), False),
    ("mutually recursive same", _AB, _AB, True),
    ("mutually recursive, inner narrowed", _mutual("int"), _mutual("long"), False),
    ("mutually recursive, inner promoted", _mutual("string"), _mutual("bytes"), True),
    # a.W cannot read c.W (y), so neither can a.X (back), so neither can b.W (x)
    ("union branches sharing a recursive record", *_two_w("int"), False, RECURSIVE_MEMO),
    ("union branches sharing a recursive record, all fine", *_two_w("string"), True),
]

_LOGICAL = [
    ("date<-int", {"type": "int", "logicalType": "date"}, "int", True),
    (
        "timestamp-millis<-timestamp-micros",
        {"type": "long", "logicalType": "timestamp-millis"},
        {"type": "long", "logicalType": "timestamp-micros"},
        True,
    ),
    (
        "timestamp-millis<-date",
        {"type": "long", "logicalType": "timestamp-millis"},
        {"type": "int", "logicalType": "date"},
        True,
    ),
    (
        "date<-timestamp",
        {"type": "int", "logicalType": "date"},
        {"type": "long", "logicalType": "timestamp-millis"},
        False,
    ),
    ("uuid<-string", {"type": "string", "logicalType": "uuid"}, "string", True),
    ("unknown logical type", {"type": "string", "logicalType": "x-color"}, "string", True),
    ("decimal same", decimal(10, 2), decimal(10, 2), True),
    ("decimal scale differs", decimal(10, 2), decimal(10, 3), False, DECIMAL),
    ("decimal precision differs", decimal(12, 2), decimal(10, 2), False, DECIMAL),
    (
        "decimal scale omitted = 0",
        decimal(10, 0),
        {"type": "bytes", "logicalType": "decimal", "precision": 10},
        True,
    ),
    (
        "decimal fixed same",
        decimal(9, 2, fixed("Money", 8)),
        decimal(9, 2, fixed("Money", 8)),
        True,
    ),
    (
        "decimal fixed scale differs",
        decimal(9, 2, fixed("Money", 8)),
        decimal(9, 4, fixed("Money", 8)),
        False,
        DECIMAL,
    ),
    ("decimal vs plain bytes", decimal(10, 2), "bytes", True),
    ("plain bytes vs decimal", "bytes", decimal(10, 2), True),
    (
        "decimal field scale differs",
        rec("R", f("amount", decimal(10, 2))),
        rec("R", f("amount", decimal(10, 4))),
        False,
        DECIMAL,
    ),
    (
        "nullable decimal, scale differs",
        ["null", decimal(10, 2)],
        ["null", decimal(10, 4)],
        False,
        DECIMAL,
    ),
]

_NESTED = [
    ("nested 4 deep, same", nested(4, [_A]), nested(4, [_A]), True),
    (
        "nested 4 deep, leaf added required",
        nested(4, [_A, f("deep", "int")]),
        nested(4, [_A]),
        False,
    ),
    (
        "nested 4 deep, leaf added default",
        nested(4, [_A, f("deep", "int", 0)]),
        nested(4, [_A]),
        True,
    ),
    (
        "nested 4 deep, leaf promoted",
        nested(4, [f("a", "double")]),
        nested(4, [f("a", "float")]),
        True,
    ),
    (
        "nested 4 deep, leaf narrowed",
        nested(4, [f("a", "float")]),
        nested(4, [f("a", "double")]),
        False,
    ),
    (
        "nested 6 deep, leaf enum dropped",
        nested(6, [f("e", enum("E", "A"))]),
        nested(6, [f("e", enum("E", "A", "B"))]),
        False,
    ),
    (
        "record in array in map in record",
        rec("Top", f("m", map_(array(rec("Leaf", _A, f("n", "long", 0)))))),
        rec("Top", f("m", map_(array(rec("Leaf", _A))))),
        True,
    ),
]


def _cases() -> list[Case]:
    groups = [_PRIMITIVES, _RECORDS, _ENUMS, _FIXED, _CONTAINERS, _UNIONS]
    groups += [_NAMED_REFS, _RECURSIVE, _LOGICAL, _NESTED]
    cases = [Case(*row) for group in groups for row in group]
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES: list[Case] = _cases()
