#!/usr/bin/env python3
"""Independent oracle for order-payment-join, from event time alone.

An order and the payment with the same order_id match when their timestamps
are at most 15 minutes apart (either may come first); a match is one joined
record. Otherwise the order, if any, is unpaid, and the payment, if any, is an
orphan. The sample has at most one order and one payment per order_id.

Reads data/orders.jsonl and data/payments.jsonl, writes one file per output,
each sorted as text:
  data/expected-joined.jsonl           {"order": <order>, "payment": <payment>}
  data/expected-unpaid.jsonl           {"alert": "unpaid", "order_id", "order_ts"}
  data/expected-orphan-payments.jsonl  <payment>
"""
import json
from pathlib import Path

TIMEOUT_MS = 15 * 60_000

here = Path(__file__).resolve().parent
data = here / "data"


def read(name):
    rows = {}
    for line in (data / name).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            assert row["order_id"] not in rows, f"two records for {row['order_id']} in {name}"
            rows[row["order_id"]] = row
    return rows


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


orders, payments = read("orders.jsonl"), read("payments.jsonl")
joined, unpaid, orphans = [], [], []
for order_id in orders.keys() | payments.keys():
    order, payment = orders.get(order_id), payments.get(order_id)
    if order and payment and abs(order["ts"] - payment["ts"]) <= TIMEOUT_MS:
        joined.append(dumps({"order": order, "payment": payment}))
        continue
    if order:
        unpaid.append(dumps({"alert": "unpaid", "order_id": order_id, "order_ts": order["ts"]}))
    if payment:
        orphans.append(dumps(payment))

for name, lines in [
    ("expected-joined.jsonl", joined),
    ("expected-unpaid.jsonl", unpaid),
    ("expected-orphan-payments.jsonl", orphans),
]:
    (data / name).write_text("".join(line + "\n" for line in sorted(lines)))
    print(f"{name}: {len(lines)}")
