"""The consent table (catalog migration ``0015_consent`` creates it; the migration test
compares the migration against this).

``dictamesh_consent_records`` — append-only: one row per consent change of one data subject
(``customer:c-1``) and purpose: given or withdrawn, when, from where (``api``, ``cli``,
``import``), by whom, with what evidence. A subject's current state per purpose is its newest
row. Tenant rows (row-level security on PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from dictamesh.catalog.models import UTCDateTime

__all__ = ["CONSENT", "consent_metadata"]

_ID = BigInteger().with_variant(Integer(), "sqlite")
consent_metadata = MetaData()

CONSENT = Table(
    "dictamesh_consent_records",
    consent_metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tenant_id", String(64), nullable=False, server_default="default"),
    #: ``<entity type>:<entity id>``, as erasure names one
    Column("subject", String(320), nullable=False),
    Column("purpose", String(63), nullable=False),
    #: ``given`` or ``withdrawn``
    Column("state", String(10), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    #: ``api``, ``cli`` or ``import``
    Column("source", String(16), nullable=False),
    #: who recorded it (the caller's subject)
    Column("actor", String(255), nullable=False),
    Column("evidence", Text(), nullable=False, server_default=""),
    Index("ix_dictamesh_consent_records_subject", "tenant_id", "subject", "purpose", "id"),
    Index("ix_dictamesh_consent_records_purpose", "tenant_id", "purpose", "id"),
)
