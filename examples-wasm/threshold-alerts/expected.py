#!/usr/bin/env python3
"""Independent oracle for threshold-alerts, from event time alone.

The rule of a category in force at time t is the one with the latest ts at
or before t (a rule replaces the earlier ones of its category from its ts
on), whatever order the rules arrive in. An event whose amount exceeds the
max of the rule of its category in force at the event's ts is an alert; an
event without a rule in force is unmatched; any other event gives nothing.

Reads data/events.jsonl and data/rules.jsonl, writes one file per output,
each sorted as text:
  data/expected-alerts.jsonl     {"user","category","amount","ts","max","rule_ts"}
  data/expected-unmatched.jsonl  <event>
"""
import json
from collections import defaultdict
from pathlib import Path

here = Path(__file__).resolve().parent
data = here / "data"


def read(name):
    return [json.loads(line) for line in (data / name).read_text().splitlines() if line.strip()]


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


versions = defaultdict(dict)
for rule in read("rules.jsonl"):
    assert rule["ts"] not in versions[rule["category"]], f"two {rule['category']} rules at {rule['ts']}"
    versions[rule["category"]][rule["ts"]] = rule["max"]

alerts, unmatched = [], []
for event in read("events.jsonl"):
    in_force = [ts for ts in versions[event["category"]] if ts <= event["ts"]]
    if not in_force:
        unmatched.append(dumps(event))
        continue
    rule_ts = max(in_force)
    limit = versions[event["category"]][rule_ts]
    if event["amount"] > limit:
        alerts.append(dumps({
            "user": event["user"],
            "category": event["category"],
            "amount": event["amount"],
            "ts": event["ts"],
            "max": limit,
            "rule_ts": rule_ts,
        }))

for name, lines in [
    ("expected-alerts.jsonl", alerts),
    ("expected-unmatched.jsonl", unmatched),
]:
    (data / name).write_text("".join(line + "\n" for line in sorted(lines)))
    print(f"{name}: {len(lines)}")
