#!/usr/bin/env python3
"""Independent oracle for the connect job (job-connect.toml, enrich-connect).

Each event is enriched with the latest profile of its user whose ts is at or
before the event's ts (event-time semantics, whatever order the two inputs
arrive in), or with null when there is none.

Reads data/events.jsonl and data/profiles.jsonl, writes
data/expected-connect.jsonl: {"user","action","ts","profile":<profile>|null}
per event, lines sorted as text.
"""
import json
from collections import defaultdict
from pathlib import Path

here = Path(__file__).resolve().parent
data = here / "data"


def read(name):
    return [json.loads(line) for line in (data / name).read_text().splitlines() if line.strip()]


versions = defaultdict(list)
for profile in read("profiles.jsonl"):
    versions[profile["user"]].append(profile)

lines = []
for event in read("events.jsonl"):
    earlier = [p for p in versions[event["user"]] if p["ts"] <= event["ts"]]
    profile = max(earlier, key=lambda p: p["ts"]) if earlier else None
    enriched = {"user": event["user"], "action": event["action"], "ts": event["ts"], "profile": profile}
    lines.append(json.dumps(enriched, separators=(",", ":")))

lines.sort()
(data / "expected-connect.jsonl").write_text("".join(line + "\n" for line in lines))
print(f"{len(lines)} events")
