"""Notice keys: readable for entity ids, unambiguous for any part."""

from __future__ import annotations

from urllib.parse import unquote

from dictamesh.catalog.system_outbox import notice_key


def test_keys_encode_only_what_could_split_them() -> None:
    assert notice_key("acme", "entity", "invoice_item", "i-1:2") == (
        "acme/entity/invoice_item/i-1:2"
    )
    odd = notice_key("a/b", "entity", "x", "50%/off")
    assert odd == "a%2Fb/entity/x/50%25%2Foff"
    assert [unquote(p) for p in odd.split("/")] == ["a/b", "entity", "x", "50%/off"]
