#!/usr/bin/env python3
"""Independent oracle for clicks-per-user: clicks per user in every 5-minute
event-time window sliding by 1 minute (Flink's SlidingEventTimeWindows: the
windows [start, start + 5m) with start a multiple of 1m that contain ts).

Reads data/clicks.jsonl, writes data/expected-windows.jsonl: one compact JSON
line per (user, window), lines sorted as text.
"""
import json
from collections import Counter
from pathlib import Path

SIZE = 5 * 60_000
SLIDE = 60_000

here = Path(__file__).resolve().parent
counts = Counter()
for line in (here / "data" / "clicks.jsonl").read_text().splitlines():
    if not line.strip():
        continue
    click = json.loads(line)
    ts = click["ts"]
    start = ts - ts % SLIDE
    while start > ts - SIZE:
        counts[(click["user"], start)] += 1
        start -= SLIDE

lines = sorted(
    json.dumps(
        {"user": user, "window_start": start, "window_end": start + SIZE, "clicks": n},
        separators=(",", ":"),
    )
    for (user, start), n in counts.items()
)
(here / "data" / "expected-windows.jsonl").write_text("".join(l + "\n" for l in lines))
print(f"{len(lines)} windows")
