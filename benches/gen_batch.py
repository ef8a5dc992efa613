#!/usr/bin/env python3
"""Writes a check batch of N orders (default 100,000) as JSON to stdout.

    python3 benches/gen_batch.py 100000 > /tmp/batch.json
    /usr/bin/time -v target/release/rms-preflight check --format json /tmp/batch.json > /dev/null

One order in seven has the -9,999 shipping fee (S13), one in eleven was already
confirmed (S1), the rest are clean; `shop` and `now` come first so the batch streams.
"""
import json
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
out = sys.stdout
out.write('{"shop":{"api_option":false,"license_expires_at":"2027-01-31T23:59:59+09:00"},')
out.write('"now":"2026-11-30T12:00:00+09:00","requests":[\n')
for i in range(n):
    postage = -9999 if i % 7 == 0 else 660
    req = {
        "action": "confirm",
        "order": {
            "orderNumber": f"375055-20261130-{i:08d}",
            "orderProgress": 100,
            "orderDatetime": "2026-11-29T10:00:00+0900",
            "goodsPrice": 3980,
            "postagePrice": postage,
            "totalPrice": 4640 if postage > 0 else -9999,
            "requestPrice": 4640 if postage > 0 else -9999,
            "PackageModelList": [{"basketId": i, "postagePrice": postage, "goodsPrice": 3980}],
        },
        "oms": {"confirm_sent": i % 11 == 0, "label": "processing" if i % 11 == 0 else "none"},
    }
    out.write(("," if i else "") + json.dumps(req, separators=(",", ":")) + "\n")
out.write("]}\n")
