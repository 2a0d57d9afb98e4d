"""Grammar-aware GraphQL documents from a node's real schema (its introspection): random
selections of real fields, aliases, arguments of the declared types given as literals or
variables, with values from a chosen alphabet of hostile inputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
INTROSPECTION = f"""{{ __schema {{
  queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }}
  types {{ kind name enumValues {{ name }}
    inputFields {{ name type {{ {TYPE_REF} }} }}
    fields {{ name type {{ {TYPE_REF} }} args {{ name type {{ {TYPE_REF} }} }} }} }} }} }}"""

TypeRef = Mapping[str, Any]
Json = Any

#: integers around every width a server may store them in, and beyond
EDGE_INTS = [0, -1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1]
huge_ints = st.sampled_from(EDGE_INTS) | st.integers(-(2**80), 2**80)
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=24)
#: lone surrogates and control characters (NUL above all): valid JSON escapes, invalid text
hostile_chars = st.characters(categories=["Cs", "Cc"]) | st.sampled_from(["\x00", "\ud800"])
hostile_text = st.lists(hostile_chars | st.sampled_from("a1-_. "), min_size=1, max_size=12).map(
    "".join
)


#: ids and type names of the sample sources, so that arguments also reach real data
REAL_WORDS = ["1", "2", "INV-2026-00001", "prd_1001", "customer", "invoice", "product", "a"]


@dataclass(frozen=True)
class Alphabet:
    """Which values fill the arguments."""

    text: st.SearchStrategy[str] = plain_text
    ints: st.SearchStrategy[int] = huge_ints


@dataclass
class Schema:
    types: dict[str, dict[str, Any]]
    roots: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_introspection(cls, data: Mapping[str, Any]) -> Schema:
        schema = data["__schema"]
        roots = {
            op: schema[f"{op}Type"]["name"]
            for op in ("query", "mutation", "subscription")
            if schema.get(f"{op}Type")
        }
        return cls({t["name"]: t for t in schema["types"]}, roots)


def unwrap(ref: TypeRef) -> TypeRef:
    while ref.get("ofType") is not None and ref["kind"] in ("NON_NULL", "LIST"):
        ref = ref["ofType"]
    return ref


def type_text(ref: TypeRef) -> str:
    if ref["kind"] == "NON_NULL":
        return type_text(ref["ofType"]) + "!"
    if ref["kind"] == "LIST":
        return f"[{type_text(ref['ofType'])}]"
    return str(ref["name"])


def literal(value: Json, enum: bool = False) -> str:
    """``value`` as a GraphQL literal (JSON string escapes are GraphQL's too)."""
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class EnumValue:
    name: str


def plain(value: Json) -> Json:
    """``value`` as JSON (variables): enum values are their names."""
    if isinstance(value, EnumValue):
        return value.name
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def junk(alphabet: Alphabet) -> st.SearchStrategy[Json]:
    """Any JSON value: what a confused or hostile client sends for a typed argument."""
    scalars = (
        st.none()
        | st.booleans()
        | alphabet.ints
        | st.floats(allow_nan=False, allow_infinity=False)
        | alphabet.text
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=3)
        ),
        max_leaves=8,
    )


def values(
    schema: Schema, ref: TypeRef, alphabet: Alphabet, depth: int = 3
) -> st.SearchStrategy[Json]:
    """Values of the input type ``ref`` mostly; sometimes null or of any type at all."""
    if depth <= 0:
        return junk(alphabet)
    typed = _typed(schema, ref, alphabet, depth)
    return st.one_of(typed, typed, typed, typed, st.just(None), junk(alphabet))


def _typed(schema: Schema, ref: TypeRef, alphabet: Alphabet, depth: int) -> st.SearchStrategy[Json]:
    kind = ref["kind"]
    if kind == "NON_NULL":
        return _typed(schema, ref["ofType"], alphabet, depth)
    if kind == "LIST":
        inner = _typed(schema, ref["ofType"], alphabet, depth - 1)
        return st.lists(inner, max_size=3) | inner  # a single value coerces to a list
    name = ref["name"]
    if kind == "ENUM":
        names = [v["name"] for v in schema.types[name]["enumValues"] or []]
        return st.sampled_from([*names, "NOT_A_VALUE"]).map(EnumValue)
    if kind == "INPUT_OBJECT":
        fields = schema.types[name]["inputFields"] or []
        required = {f["name"]: values(schema, f["type"], alphabet, depth - 1)
                    for f in fields if f["type"]["kind"] == "NON_NULL"}  # fmt: skip
        optional = {f["name"]: values(schema, f["type"], alphabet, depth - 1)
                    for f in fields if f["type"]["kind"] != "NON_NULL"}  # fmt: skip
        return st.fixed_dictionaries(required, optional=optional)
    if name == "Int":
        return alphabet.ints
    if name == "Float":
        return alphabet.ints | st.floats(allow_nan=False, allow_infinity=False)
    if name == "Boolean":
        return st.booleans()
    if name in ("String", "ID"):
        return alphabet.text | st.sampled_from(REAL_WORDS)
    return junk(alphabet)  # JSON and other custom scalars


@dataclass
class Operation:
    document: str
    variables: dict[str, Json]


class _Builder:
    def __init__(self, schema: Schema, alphabet: Alphabet, draw: Any) -> None:
        self.schema, self.alphabet, self.draw = schema, alphabet, draw
        self.declared: list[str] = []
        self.variables: dict[str, Json] = {}

    def argument(self, arg: Mapping[str, Any]) -> str:
        value = self.draw(values(self.schema, arg["type"], self.alphabet))
        if self.draw(st.booleans()):
            name = f"v{len(self.declared)}"
            self.declared.append(f"${name}: {type_text(arg['type'])}")
            self.variables[name] = plain(value)
            return f"{arg['name']}: ${name}"
        return f"{arg['name']}: {literal(value)}"

    def selection(self, type_name: str, depth: int) -> str:
        definition = self.schema.types[type_name]
        fields = definition.get("fields") or []
        if definition["kind"] == "UNION" or not fields:
            return "__typename"
        if depth <= 0:
            fields = [f for f in fields if unwrap(f["type"])["kind"] in ("SCALAR", "ENUM")]
            if not fields:
                return "__typename"
        chosen = self.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4))
        return " ".join(self.field(f, depth) for f in chosen)

    def field(self, spec: Mapping[str, Any], depth: int) -> str:
        alias = self.draw(st.none() | st.from_regex(r"[a-z][a-zA-Z0-9_]{0,8}", fullmatch=True))
        args = [
            self.argument(a)
            for a in spec["args"]
            if a["type"]["kind"] == "NON_NULL" or self.draw(st.booleans())
        ]
        text = (f"{alias}: " if alias else "") + str(spec["name"])
        if args:
            text += f"({', '.join(args)})"
        target = unwrap(spec["type"])
        if target["kind"] not in ("SCALAR", "ENUM"):
            text += " { " + self.selection(target["name"], depth - 1) + " }"
        return text


@st.composite
def operations(
    draw: Any, schema: Schema, alphabet: Alphabet, kinds: tuple[str, ...] = ("query",)
) -> Operation:
    kind = draw(st.sampled_from([k for k in kinds if k in schema.roots]))
    builder = _Builder(schema, alphabet, draw)
    body = builder.selection(schema.roots[kind], draw(st.integers(1, 3)))
    header = f"({', '.join(builder.declared)})" if builder.declared else ""
    return Operation(f"{kind} Attack{header} {{ {body} }}", builder.variables)
