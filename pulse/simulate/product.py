"""Product changes: a catalogue whose products are created, updated, deleted and re-created,
from the API or from CDC, with versions and before/after images that chain
(docs/ARCHITECTURE.md, "Simulating traffic")."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pulse.simulate.clock import EventClock, run_tag

CATALOGUE = 1_000
DELETE_SHARE = 0.03

# category: (adjectives, nouns, lowest price, highest price)
_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], float, float]] = {
    "footwear": (
        ("Trail", "Road", "Court", "Hiking", "Canvas"),
        ("shoe", "runner", "boot", "sneaker"),
        40,
        180,
    ),
    "apparel": (
        ("Merino", "Rain", "Down", "Linen", "Fleece"),
        ("jacket", "shirt", "hoodie", "vest"),
        20,
        250,
    ),
    "electronics": (
        ("Wireless", "Smart", "Compact", "Pro", "Noise-cancelling"),
        ("headphones", "speaker", "watch", "charger"),
        15,
        600,
    ),
    "home": (
        ("Ceramic", "Oak", "Cast-iron", "Glass", "Bamboo"),
        ("mug", "pan", "lamp", "shelf"),
        8,
        300,
    ),
    "outdoor": (
        ("Ultralight", "Family", "Alpine", "Folding", "Insulated"),
        ("tent", "stove", "chair", "bottle"),
        10,
        700,
    ),
}
_CURRENCIES = ("EUR", "EUR", "USD", "USD", "GBP", "INR")
_RENAMES = (" II", " Pro", " Plus", " Lite", " 2026")


def product_events(seed: int, rate: float, start: datetime) -> Iterator[dict[str, Any]]:
    """Changes to the run's product catalogue, event `i` at `start + i / rate`."""
    clock = EventClock(start, rate)
    rng = random.Random(f"product/{seed}")
    namespace = f"{seed}-{run_tag(start)}"
    change_prefix = f"pc-{namespace}-"
    states: list[dict[str, Any] | None] = [None] * CATALOGUE
    versions = [0] * CATALOGUE
    index = 0
    while True:
        us = clock.micros(index)
        # Squaring skews picks to the first products: a few hot sellers change all the time.
        number = int(rng.random() ** 2 * CATALOGUE)
        before = states[number]
        if before is None:
            op, after = "create", _new_product(rng)
        elif rng.random() < DELETE_SHARE:
            op, after = "delete", None
        else:
            op, after = "update", _changed(before, rng)
        versions[number] += 1
        states[number] = after
        event: dict[str, Any] = {
            "change_id": f"{change_prefix}{index}",
            "product_id": f"sku-{namespace}-{number:05d}",
            "version": versions[number],
            "op": op,
            "source": "cdc" if rng.random() < 0.4 else "api",
        }
        if before is not None:
            event["before"] = before
        if after is not None:
            event["after"] = after
        event["ts"] = clock.stamp(us)
        yield event
        index += 1


def _new_product(rng: random.Random) -> dict[str, Any]:
    category = rng.choice(tuple(_CATEGORIES))
    adjectives, nouns, low, high = _CATEGORIES[category]
    return {
        "name": f"{rng.choice(adjectives)} {rng.choice(nouns)}",
        "category": category,
        "price": round(rng.uniform(low, high), 2),
        "currency": rng.choice(_CURRENCIES),
        "stock": rng.randint(0, 200),
    }


def _changed(before: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A new image: the old one is never mutated, because it is the next event's `before`."""
    after = dict(before)
    roll = rng.random()
    if roll < 0.45:  # sales
        after["stock"] = max(0, before["stock"] - rng.randint(1, 5))
    elif roll < 0.65:
        after["stock"] = before["stock"] + rng.randint(20, 100)
    elif roll < 0.95:
        after["price"] = round(max(0.5, before["price"] * rng.uniform(0.8, 1.15)), 2)
    elif len(before["name"]) < 180:
        after["name"] = before["name"] + rng.choice(_RENAMES)
    else:
        after["stock"] = before["stock"] + 1
    return after
