"""The catalog's Avro compatibility checker against the ``avro`` package's
``ReaderWriterCompatibilityChecker`` on a shared table of cases (``avro_compat_cases``):
both must give the specification's answer, except where the table marks the reference as
deviating from the specification."""

from __future__ import annotations

import warnings

import pytest
from tests.unit.catalog.avro_compat_cases import CASES, Case

from dictamesh.catalog._avro_compat import avro_compatibility_reasons, validate_avro_schema
from dictamesh.catalog.records import Compatibility

avro_schema = pytest.importorskip("avro.schema")
avro_compatibility = pytest.importorskip("avro.compatibility")
avro_errors = pytest.importorskip("avro.errors")


def reference_compatible(reader: str, writer: str) -> bool:
    checker = avro_compatibility.ReaderWriterCompatibilityChecker()
    with warnings.catch_warnings():  # unknown logical types are ignored, as they should be
        warnings.simplefilter("ignore", avro_errors.IgnoredLogicalType)
        parsed = avro_schema.parse(reader), avro_schema.parse(writer)
    result = checker.get_compatibility(*parsed)
    return result.compatibility is avro_compatibility.SchemaCompatibilityType.compatible


def test_the_table_is_large_and_balanced() -> None:
    assert len(CASES) >= 80
    assert sum(case.compatible for case in CASES) >= 30
    assert sum(not case.compatible for case in CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_checker_and_reference(case: Case) -> None:
    reader, writer = case.reader_text, case.writer_text
    for text in (reader, writer):
        validate_avro_schema(text)
    # BACKWARD: the new schema reads the old one's data; FORWARD the other way round
    backward = avro_compatibility_reasons(reader, [writer], Compatibility.BACKWARD)
    forward = avro_compatibility_reasons(writer, [reader], Compatibility.FORWARD)
    assert (not backward) is case.compatible, backward
    assert (not forward) is case.compatible, forward
    reference = reference_compatible(reader, writer)
    if case.deviation is None:
        assert reference is case.compatible, "the reference disagrees: see the spec, mark it"
    else:  # if this fails, avro fixed it: drop the mark
        assert reference is not case.compatible
