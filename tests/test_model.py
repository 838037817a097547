"""The stored form of session data."""

from __future__ import annotations

import tracemalloc

from sessionhub.model import encode_value


def test_a_stored_value_costs_about_its_own_length() -> None:
    # orjson's bytes hold its whole 4 KiB write buffer; a store keeping one per key of every session would spend
    # forty times the data's size.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [encode_value("cart", [{"sku": "SKU-100231", "qty": number}]) for number in range(200)]
        per_value = (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()
    assert per_value < 256
