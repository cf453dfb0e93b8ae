#!/usr/bin/env python3
"""Independent oracle for sessions: per user, session windows with a 30-minute
gap (Flink's EventTimeSessionWindows: each visit opens [ts, ts + gap), and
windows that overlap or touch merge). Computed on the final set of visits, so
arrival order does not matter: sorted by time, a visit joins the current
session when ts <= last_ts + gap.

Reads data/visits.jsonl, writes data/expected-sessions.jsonl:
{"user","session_start","session_end","events","duration_ms"} per session,
with session_start/end the window bounds (first ts, last ts + gap) and
duration_ms = last ts - first ts; lines sorted as text.
"""
import json
from collections import defaultdict
from pathlib import Path

GAP = 30 * 60_000

here = Path(__file__).resolve().parent
visits = defaultdict(list)
for line in (here / "data" / "visits.jsonl").read_text().splitlines():
    if line.strip():
        visit = json.loads(line)
        visits[visit["user"]].append(visit["ts"])

lines = []
for user, times in visits.items():
    times.sort()
    sessions = [[times[0]]]
    for ts in times[1:]:
        if ts <= sessions[-1][-1] + GAP:
            sessions[-1].append(ts)
        else:
            sessions.append([ts])
    for session in sessions:
        first, last = session[0], session[-1]
        lines.append(
            json.dumps(
                {
                    "user": user,
                    "session_start": first,
                    "session_end": last + GAP,
                    "events": len(session),
                    "duration_ms": last - first,
                },
                separators=(",", ":"),
            )
        )

lines.sort()
(here / "data" / "expected-sessions.jsonl").write_text("".join(line + "\n" for line in lines))
print(f"{len(lines)} sessions")
