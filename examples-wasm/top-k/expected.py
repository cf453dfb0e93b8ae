#!/usr/bin/env python3
"""Independent oracle for top-k: the 10 most frequent items per category in
each 1-minute tumbling event-time window (Flink's TumblingEventTimeWindows:
[start, start + 1m) with start a multiple of 1m).

Reads data/events.jsonl, writes data/expected-top.jsonl: one compact JSON line
per (category, window), items sorted by count descending then item ascending
(as text), at most 10; lines sorted as text.
"""
import json
from collections import Counter, defaultdict
from pathlib import Path

SIZE = 60_000
K = 10

here = Path(__file__).resolve().parent
windows = defaultdict(Counter)
for line in (here / "data" / "events.jsonl").read_text().splitlines():
    if not line.strip():
        continue
    event = json.loads(line)
    start = event["ts"] - event["ts"] % SIZE
    windows[(event["category"], start)][event["item"]] += 1

lines = []
for (category, start), counts in windows.items():
    top = sorted(counts.items(), key=lambda entry: (-entry[1], entry[0]))[:K]
    lines.append(
        json.dumps(
            {
                "category": category,
                "window_start": start,
                "window_end": start + SIZE,
                "top": [{"item": item, "count": count} for item, count in top],
            },
            separators=(",", ":"),
        )
    )
lines.sort()
(here / "data" / "expected-top.jsonl").write_text("".join(l + "\n" for l in lines))
print(f"{len(lines)} windows")
