#!/usr/bin/env python3
"""Writes the sample data of threshold-alerts, deterministically (fixed seed).

data/events.jsonl: 300 random purchase events {"ts","user","category","amount"} of
20 users in 4 categories over 10 minutes, plus 12 hand-placed edge cases,
in an arrival order that is out of order by at most 4 s (each event arrives
with a random delay of 0-4 s), so a bounded out-of-orderness of 5 s holds.

data/rules.jsonl: 11 rule versions {"ts","category","max"}, written in the
order listed below: two pairs arrive out of order (within 3 s), and
groceries has no rule for its first 5 minutes, games for its first 30 s.
"""
import json
import random
from pathlib import Path

T0 = 1_700_000_000_000
SECOND = 1000
DURATION = 600 * SECOND
USERS = [f"u{n}" for n in range(1, 21)]
CATEGORIES = ["books", "electronics", "games", "groceries"]

# (seconds after T0, category, max), in file (arrival) order.
RULES = [
    (0, "books", 100),
    (0, "electronics", 250),
    (30, "games", 80),
    (120, "books", 150),
    (200, "electronics", 180),
    (302, "games", 120),  # arrives before the groceries rule 2 s older
    (300, "groceries", 60),
    (420, "books", 90),
    (450, "electronics", 220),
    (543, "games", 60),  # arrives before the groceries rule 3 s older
    (540, "groceries", 40),
]

# Edge cases: (ms after T0, user, category, amount).
EDGES = [
    (0, "u1", "books", 101),  # at the very first rule's time: alert (max 100)
    (119_999, "u2", "books", 120),  # 1 ms before books 150: old max 100, alert
    (120_000, "u2", "books", 120),  # at books 150's time: new max, no alert
    (120_001, "u3", "books", 150),  # equal to max: no alert
    (29_999, "u4", "games", 500),  # 1 ms before the first games rule: unmatched
    (30_000, "u4", "games", 81),  # at the first games rule's time: alert
    (299_999, "u5", "groceries", 999),  # before any groceries rule: unmatched
    (300_000, "u5", "groceries", 61),  # at the first groceries rule: alert
    (301_000, "u6", "games", 100),  # games 120 arrived already but is not in force: max 80, alert
    (541_000, "u7", "games", 100),  # games 60 arrived already but is not in force: max 120
    (541_000, "u7", "groceries", 41),  # groceries 40 arrived after games 60: alert
    (541_000, "u7", "groceries", 40),  # same user and time, equal to max: no alert
]

here = Path(__file__).resolve().parent
rng = random.Random(20240611)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


events = [
    (rng.randrange(DURATION), rng.choice(USERS), rng.choice(CATEGORIES), rng.randint(1, 200))
    for _ in range(300)
] + EDGES
# Arrival order: each event is delayed by 0-4 s, so one arriving after
# another is at most 4 s older than it.
arrival = sorted(events, key=lambda event: (event[0] + rng.randrange(4 * SECOND), event))
lines = [
    dumps({"ts": T0 + offset, "user": user, "category": category, "amount": amount})
    for offset, user, category, amount in arrival
]
(here / "data" / "events.jsonl").write_text("".join(line + "\n" for line in lines))

rules = [dumps({"ts": T0 + s * SECOND, "category": c, "max": m}) for s, c, m in RULES]
(here / "data" / "rules.jsonl").write_text("".join(line + "\n" for line in rules))
print(f"events.jsonl: {len(lines)}, rules.jsonl: {len(rules)}")
