#!/usr/bin/env python3
"""Compare eddy's Nexmark results with the Flink peer's reference semantics.

    python3 check_all.py PEER_DIR EVENTS.jsonl QUERY=RESULTS.jsonl [QUERY=RESULTS.jsonl ...]

PEER_DIR holds the peer's `check.py` (../shared/peers/flink/nexmark): its
`reference()` is the batch semantics of every query and its comparison is
the one used here (multisets of JSON objects; for q4 the last update per
category). Unlike running check.py once per file, the events are parsed
once and each query's reference is computed once, however many result
files (parallelisms) are checked against it. Prints one line per file,
`QUERY FILE: OK, N results` or a MISMATCH with examples, and exits 1 if
any file differs.
"""
import json
import sys


def main():
    peer, events_path, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
    sys.path.insert(0, peer)
    import check  # the peer's reference

    events = check.load(events_path)
    references = {}
    failed = False
    for pair in pairs:
        query, path = pair.split("=", 1)
        if query not in references:
            references[query] = check.canon(check.reference(events, query))
        got = check.load(path)
        if query == "q4":
            last = {}
            for row in got:
                last[row["category"]] = row
            got = list(last.values())
        want, have = references[query], check.canon(got)
        if want == have:
            print(f"{query} {path}: OK, {sum(want.values())} results")
            continue
        failed = True
        missing, unexpected = want - have, have - want
        print(f"{query} {path}: MISMATCH: reference {sum(want.values())}, got {len(got)}; "
              f"{sum(missing.values())} missing, {sum(unexpected.values())} unexpected")
        for row in list(missing)[:3]:
            print("  missing   ", row)
        for row in list(unexpected)[:3]:
            print("  unexpected", row)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
