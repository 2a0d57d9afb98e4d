import pytest

from dictamesh.core.models import Classification as C
from dictamesh.governance.masking import REDACTED, Masker
from dictamesh.governance.masking import MaskStrategy as M


@pytest.fixture
def masker() -> Masker:
    return Masker(key=b"k" * 32)


@pytest.mark.parametrize(
    ("value", "strategy", "tag", "expected"),
    [
        ("jane.doe@example.com", M.PARTIAL, C.PII_EMAIL, "j***@example.com"),
        ("4111 1111 1111 1234", M.PARTIAL, C.PII_PAYMENT, "**** **** **** 1234"),
        ("+44 20 7946 0958", M.LAST4, C.PII_PHONE, "+** ** **** 0958"),
        ("Jane", M.PARTIAL, C.PII_NAME, "J***"),
        ("123", M.LAST4, C.PII_NATIONAL_ID, "***"),
        ("anything", M.REDACT, C.CONFIDENTIAL, REDACTED),
        ("clear", M.NONE, C.PII_NAME, "clear"),
        (None, M.REDACT, C.PII_NAME, None),
        ({"street": "1 Main St"}, M.PARTIAL, C.PII_ADDRESS, None),
        (1234, M.REDACT, C.CONFIDENTIAL, None),
    ],
)
def test_strategies(masker: Masker, value: object, strategy: M, tag: C, expected: object) -> None:
    assert masker.mask(value, strategy, tag) == expected


def test_hash_and_token_are_keyed_deterministic_and_distinct(masker: Masker) -> None:
    h = masker.mask("jane@example.com", M.HASH, C.PII_EMAIL)
    t = masker.mask("jane@example.com", M.TOKENIZE, C.PII_EMAIL)
    assert h.startswith("sha256:")
    assert t.startswith("tok_")
    assert h == masker.mask("jane@example.com", M.HASH, C.PII_EMAIL)
    assert t == masker.mask("jane@example.com", M.TOKENIZE, C.PII_EMAIL)
    assert "jane" not in h + t
    other = Masker(key=b"x" * 32)
    assert other.mask("jane@example.com", M.HASH, C.PII_EMAIL) != h
