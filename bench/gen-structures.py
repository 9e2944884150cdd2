#!/usr/bin/env python3
"""Writes Redis protocol for bench/compare-redis-structures.sh, for `redis-cli --pipe`.

    gen-structures.py zset N    one sorted set `lb` with N members `m:%012d`, score = index (1000 per ZADD)
    gen-structures.py hashes N  N hashes `h:%012d`, each with 5 fields of 8-byte values
    gen-structures.py stream N  one stream `es` of N entries `<i>-0` with fields user=<i> action=click, and a
                                consumer group per redis-benchmark pipeline depth (`g1`, `g16`) reading from 0
"""

import sys


def resp(args):
    out = [f"*{len(args)}\r\n"]
    for a in args:
        out.append(f"${len(a)}\r\n{a}\r\n")
    return "".join(out)


def main() -> None:
    kind, count = sys.argv[1], int(sys.argv[2])
    out = sys.stdout
    if kind == "zset":
        for start in range(0, count, 1000):
            args = ["ZADD", "lb"]
            for i in range(start, min(start + 1000, count)):
                args += [str(i), f"m:{i:012d}"]
            out.write(resp(args))
    elif kind == "hashes":
        for i in range(count):
            args = ["HSET", f"h:{i:012d}"]
            for f in range(5):
                args += [f"field{f}", f"v{i % 10_000_000:07d}"]
            out.write(resp(args))
    elif kind == "stream":
        for i in range(1, count + 1):
            out.write(resp(["XADD", "es", f"{i}-0", "user", str(i), "action", "click"]))
        for group in ("g1", "g16"):
            out.write(resp(["XGROUP", "CREATE", "es", group, "0"]))
    else:
        sys.exit(f"unknown kind {kind}")
    out.flush()


if __name__ == "__main__":
    main()
