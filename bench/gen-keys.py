#!/usr/bin/env python3
"""Writes COUNT `SET` commands in Redis protocol (RESP) to stdout, for `redis-cli --pipe`.

Keys are 16 bytes (`key:000000000042`), values 32 bytes (`val:0000000000000000000000000042`), so every server
stores exactly the same data. Used by bench/compare-redis.sh to measure memory per key.

    python3 bench/gen-keys.py 1000000 | redis-cli -p 6379 --pipe
"""

import sys

KEY_LEN = 16
VALUE_LEN = 32
BATCH = 10_000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    template = (
        f"*3\r\n$3\r\nSET\r\n${KEY_LEN}\r\nkey:%012d\r\n${VALUE_LEN}\r\nval:%028d\r\n"
    )
    out = sys.stdout.buffer
    for start in range(0, count, BATCH):
        end = min(start + BATCH, count)
        out.write("".join(template % (i, i) for i in range(start, end)).encode())
    out.flush()


if __name__ == "__main__":
    main()
