import pytest

from dictamesh.core.models import Classification
from dictamesh.governance.detectors import detect, iban_valid, luhn_valid


def kinds(text: str) -> list[str]:
    return [d.kind for d in detect(text)]


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "6011000990139424"]
)
def test_valid_card_numbers_pass_luhn(number: str) -> None:
    assert luhn_valid(number)
    assert kinds(f"card: {number}") == ["credit_card"]


def test_a_card_shaped_number_failing_luhn_is_not_a_card() -> None:
    assert not luhn_valid("4111 1111 1111 1112")
    assert "credit_card" not in kinds("order 4111 1111 1111 1112")


@pytest.mark.parametrize(
    "iban", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606"]
)
def test_valid_ibans(iban: str) -> None:
    assert iban_valid(iban)
    assert kinds(f"pay to {iban} please") == ["iban"]


def test_iban_with_a_wrong_check_digit_or_length_is_rejected() -> None:
    assert not iban_valid("DE88 3704 0044 0532 0130 00")
    assert not iban_valid("DE89 3704 0044 0532 0130")  # German IBANs have 22 characters
    assert kinds("DE88 3704 0044 0532 0130 00") != ["iban"]


def test_email_phone_ip_and_ssn() -> None:
    found = detect("mail jane.doe@example.com or call +44 20 7946 0958 from 192.168.1.20")
    assert [(d.kind, d.classification) for d in found] == [
        ("email", Classification.PII_EMAIL),
        ("ip_address", Classification.CONFIDENTIAL),
        ("phone", Classification.PII_PHONE),
    ]
    assert kinds("SSN 123-45-6789") == ["national_id"]
    assert kinds("SSN 000-45-6789") != ["national_id"]


def test_version_strings_and_short_numbers_are_not_pii() -> None:
    assert kinds("version 1.2.3 released, 42 items, code 999.1.1.1") == []
    assert kinds("IPv6 ::1 and 2001:db8::8a2e:370:7334") == ["ip_address", "ip_address"]
    assert kinds("at 12:30:45") == []


def test_a_card_number_is_not_also_reported_as_a_phone_number() -> None:
    assert kinds("4111111111111111") == ["credit_card"]
