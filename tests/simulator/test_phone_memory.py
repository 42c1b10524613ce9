"""What keeps an idle simulated phone small without changing what it does (issue #25)."""

from __future__ import annotations

import random

from simulator.phone import Phone, PhoneConfig
from simulator.phone.radio import LazyRandom, lazy_random


def test_a_lazy_random_draws_the_seeded_sequence_and_is_made_at_its_first_use() -> None:
    lazy = lazy_random(42)
    assert isinstance(lazy, LazyRandom) and lazy._random is None
    eager = random.Random(42)
    assert [lazy.random() for _ in range(5)] == [eager.random() for _ in range(5)]
    assert lazy.randint(1, 100) == eager.randint(1, 100) and lazy.choice("abc") == eager.choice("abc")


def test_an_idle_phone_makes_no_random_generator() -> None:
    phone = Phone(PhoneConfig(server="http://127.0.0.1:1/api/mobile/v1", name="idle", seed=7))
    assert phone.rng._random is None and phone.radio.random._random is None  # type: ignore[attr-defined]
    assert phone.sender.rng is phone.rng  # one generator, shared as before
