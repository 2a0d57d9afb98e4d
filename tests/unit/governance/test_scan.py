from dictamesh.core.models import Classification as C
from dictamesh.core.models import EntitySchema, FieldSpec, FieldType
from dictamesh.governance.scan import scan_adapter, scan_records
from dictamesh.testing.adapters import FakeAdapter

S = FieldType.STRING
SCHEMA = EntitySchema(
    entity_type="person",
    domain="people",
    fields=[
        FieldSpec(name="contact", type=S),
        FieldSpec(name="note", type=S),
        FieldSpec(name="first_name", type=S),
        FieldSpec(name="email", type=S, classification=C.PII_EMAIL),
        FieldSpec(name="meta", type=FieldType.JSON),
    ],
)


def test_suggests_tags_from_confirmed_values_and_masks_examples() -> None:
    rows = [
        {
            "contact": f"user{i}@example.com",
            "note": "n/a" if i % 2 else "call me",
            "first_name": "Jane",
            "email": "x@example.com",
            "meta": {"billing": {"iban": "DE89 3704 0044 0532 0130 00"}},
        }
        for i in range(10)
    ]
    report = scan_records(SCHEMA, rows)
    by_field = {s.field: s for s in report.suggestions}
    assert set(by_field) == {"contact", "first_name", "meta"}
    contact = by_field["contact"]
    assert contact.suggested is C.PII_EMAIL
    assert contact.evidence == "email"
    assert contact.share == 1.0
    assert contact.examples[0] == "u***@example.com"
    assert by_field["first_name"].evidence == "name"
    assert by_field["meta"].suggested is C.PII_PAYMENT
    assert report.tagged == {"email": C.PII_EMAIL}


def test_below_threshold_no_suggestion() -> None:
    rows = [{"contact": "a@example.com"}] + [{"contact": "nobody"}] * 4
    assert scan_records(SCHEMA, rows).suggestions == []


async def test_scan_adapter_samples_pages_from_the_source() -> None:
    adapter = FakeAdapter(
        records=[{"id": f"w{i}", "name": "4111 1111 1111 1111", "color": "red"} for i in range(30)]
    )
    async with adapter:
        report = await scan_adapter(adapter, sample_size=25)
    assert report.sampled_entities == 25
    assert [(s.field, s.suggested) for s in report.suggestions] == [("name", C.PII_PAYMENT)]
