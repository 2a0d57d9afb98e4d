"""PII detectors: a regular expression finds candidates, a validator (checksum, parser) confirms.

A regex alone flags order numbers as card numbers and version strings as IP addresses; every
detector here therefore confirms a match (Luhn for cards, ISO 7064 mod 97 for IBANs, the
``ipaddress`` parser for IPs, digit counts for phone numbers) before it counts.

Example::

    detect("4111 1111 1111 1111")          # [Detection(kind='credit_card', ...)]
    detect("DE89 3704 0044 0532 0130 00")  # [Detection(kind='iban', ...)]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from dictamesh.core.models import Classification

__all__ = ["DETECTORS", "Detection", "Detector", "detect", "iban_valid", "luhn_valid"]


@dataclass(frozen=True, slots=True)
class Detection:
    kind: str
    classification: Classification
    match: str


@dataclass(frozen=True, slots=True)
class Detector:
    kind: str
    classification: Classification
    pattern: re.Pattern[str]
    confirm: Callable[[str], bool]


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check every payment card number satisfies."""
    digits = _digits(number)
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = int(ch)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# ISO 13616 lengths of the countries most often seen; an unknown country is checked by
# checksum and the general 15..34 bound only.
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18,
    "FR": 27, "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28,
    "PT": 25, "SE": 24,
}  # fmt: skip


def iban_valid(text: str) -> bool:
    """ISO 7064 mod 97-10 over the rearranged IBAN, plus the country's length."""
    iban = re.sub(r"\s+", "", text).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def _ip_valid(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _phone_valid(text: str) -> bool:
    # E.164 allows at most 15 digits; fewer than 7 are extensions or codes, not numbers.
    return 7 <= len(_digits(text)) <= 15


def _email_valid(text: str) -> bool:
    local, _, domain = text.rpartition("@")
    return bool(local) and len(text) <= 254 and ".." not in domain and not domain.startswith("-")


def _ssn_valid(text: str) -> bool:
    # US SSN rules: no 000/666/9xx area, no 00 group, no 0000 serial.
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "email",
        Classification.PII_EMAIL,
        re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        _email_valid,
    ),
    Detector(
        "iban",
        Classification.PII_PAYMENT,
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        iban_valid,
    ),
    Detector(
        "credit_card",
        Classification.PII_PAYMENT,
        re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"),
        luhn_valid,
    ),
    Detector(
        "national_id",
        Classification.PII_NATIONAL_ID,
        re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
        _ssn_valid,
    ),
    Detector(
        "ip_address",
        Classification.CONFIDENTIAL,
        re.compile(
            r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
            r"|(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"
        ),
        _ip_valid,
    ),
    Detector(
        "phone",
        Classification.PII_PHONE,
        re.compile(r"(?<![\w+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w)"),
        _phone_valid,
    ),
)


def detect(text: str, detectors: tuple[Detector, ...] = DETECTORS) -> list[Detection]:
    """Every confirmed detection in ``text``; a span claimed by an earlier detector (a card
    number) is not reported again by a later, looser one (a phone number)."""
    found: list[Detection] = []
    claimed: list[tuple[int, int]] = []
    for detector in detectors:
        for m in detector.pattern.finditer(text):
            span = m.span()
            if any(s < span[1] and span[0] < e for s, e in claimed):
                continue
            if detector.confirm(m.group(0)):
                found.append(Detection(detector.kind, detector.classification, m.group(0)))
                claimed.append(span)
    return found
