"""Validate emitted OpenLineage events against the spec's JSON schemas (vendored beside this
file, ``openlineage_spec/``): the event against ``OpenLineage.json`` (RunEvent, DatasetEvent or
JobEvent), then every facet against the schema its ``_schemaURL`` names, which must be one of
the vendored ones (a facet without a known schema fails the test)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC = Path(__file__).parent / "openlineage_spec"
ROOT_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@cache
def registry() -> Registry[Any]:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        document = json.loads(path.read_text())
        resources.append((document["$id"], Resource.from_contents(document, DRAFT202012)))
    return Registry().with_resources(resources)


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=FormatChecker())


def facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, facet) for every facet in ``event``."""

    def of(where: str, holder: dict[str, Any] | None, key: str) -> Iterator[tuple[str, Any]]:
        for name, facet in ((holder or {}).get(key) or {}).items():
            yield f"{where}.{key}.{name}", facet

    yield from of("run", event.get("run"), "facets")
    yield from of("job", event.get("job"), "facets")
    yield from of("dataset", event.get("dataset"), "facets")
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, dataset in enumerate(event.get(side) or []):
            yield from of(f"{side}[{i}]", dataset, "facets")
            yield from of(f"{side}[{i}]", dataset, extra)


def validate(event: dict[str, Any]) -> dict[str, Any]:
    """Raise ``jsonschema.ValidationError`` unless ``event`` and each facet are valid."""
    _validator(ROOT_ID).validate(event)
    for where, facet in facets_of(event):
        url = facet["_schemaURL"]
        base = url.partition("#")[0]
        assert registry().get(base) is not None, f"{where}: no vendored schema for {url}"
        try:
            _validator(url).validate(facet)
        except Exception as exc:
            raise AssertionError(f"{where} ({url}): {exc}") from exc
    return event
