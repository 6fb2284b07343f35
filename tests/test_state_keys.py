"""The cookie's short item keys: unique, stable, and as short as they can be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.state import _assign_keys, _hash_key


@given(st.lists(st.text(min_size=1, max_size=12), max_size=400))
def test_keys_are_the_shortest_unique_prefixes(identities: list[str]) -> None:
    keys = _assign_keys(identities)
    assert set(keys) == set(identities)
    assert len(set(keys.values())) == len(keys)  # unique
    hashes = {ident: _hash_key(ident) for ident in keys}
    for ident, key in keys.items():
        h = hashes[ident]
        assert h.startswith(key) and len(key) >= 3
        if len(key) > 3:  # one character shorter would clash with another item
            shorter = key[:-1]
            assert any(o != ident and hashes[o].startswith(shorter) for o in keys)


def test_a_key_does_not_move_when_unrelated_items_are_added() -> None:
    base = _assign_keys([f"page:/p/{i}" for i in range(50)])
    more = _assign_keys([*(f"page:/p/{i}" for i in range(50)), "event:signup"])
    moved = [i for i in base if base[i] != more[i]]
    assert len(moved) <= 2  # only items whose hash clashes with the new one may grow
