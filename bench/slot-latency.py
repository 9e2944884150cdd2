#!/usr/bin/env python3
"""A cluster client timing GET and SET on the keys of some hash slots, for bench/cluster-migration.sh.

    slot-latency.py run HOST:PORT SLOTS KEYS VALUE_SIZE OUT [--rate N] [--set-ratio F] [--max-seconds S]
    slot-latency.py report OUT FROM_NS TO_NS          -> "ops p50_ms p99_ms max_ms"

`run` sends commands on random keys of the dataset of bench/slotkeys.py (SLOTS "FIRST-LAST", KEYS keys), paced at
--rate commands per second, a --set-ratio share of them SETs of VALUE_SIZE bytes, the rest GETs. It follows
redirections as a cluster client does: `-MOVED slot host:port` updates its slot map and retries there, `-ASK slot
host:port` sends `ASKING` and the command to that node once; `-TRYAGAIN`, `-CLUSTERDOWN` and `-LOADING` are retried
after a millisecond. A command's latency covers all of that, from the first send to the final reply. It stops on
SIGTERM or SIGINT (or after --max-seconds) and writes one line per command to OUT:

    send_time_ns latency_us op redirects

and a last line `# moved=N ask=N retried=N missing=N errors=N`. `missing` counts GETs that found no value: every key
of the dataset exists, so it must stay 0 while slots migrate. `errors` counts commands answered with any other error.

`report` prints the count, median, 99th percentile and maximum latency of the commands sent in [FROM_NS, TO_NS).
"""

import random
import signal
import socket
import sys
import time

from slotkeys import SlotKeys, parse_range, random_value

RETRYABLE = (b"TRYAGAIN", b"CLUSTERDOWN", b"LOADING")


class ReplyError(Exception):
    pass


class Connection:
    """One RESP connection; replies are parsed as far as GET and SET need (bulk, simple, error, integer)."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def send(self, *commands) -> None:
        out = []
        for args in commands:
            out.append(b"*%d\r\n" % len(args))
            for arg in args:
                out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))

    def reply(self):
        line = self.reader.readline()
        if not line:
            raise ConnectionError("connection closed by the server")
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            return ReplyError(rest)
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            return data[:-2]
        raise ConnectionError("unexpected reply %r" % line)


class ClusterClient:
    """Routes each command to the node owning its slot, learning ownership from MOVED."""

    def __init__(self, seed: str):
        self.seed = seed
        self.owner = {}  # slot -> "host:port"
        self.connections = {}
        self.counts = {"moved": 0, "ask": 0, "retried": 0, "missing": 0, "errors": 0}

    def _connection(self, address: str) -> Connection:
        if address not in self.connections:
            host, _, port = address.rpartition(":")
            self.connections[address] = Connection(host, int(port))
        return self.connections[address]

    def execute(self, slot: int, args: tuple):
        """-> (reply, redirects)"""
        address = self.owner.get(slot, self.seed)
        asking = False
        for redirects in range(100):
            conn = self._connection(address)
            if asking:
                conn.send((b"ASKING",), args)
                conn.reply()
            else:
                conn.send(args)
            reply = conn.reply()
            asking = False
            if not isinstance(reply, ReplyError):
                return reply, redirects
            code, _, detail = bytes(reply.args[0]).partition(b" ")
            if code == b"MOVED":
                address = detail.split(b" ")[1].decode()
                self.owner[slot] = address
                self.counts["moved"] += 1
            elif code == b"ASK":
                address = detail.split(b" ")[1].decode()
                asking = True
                self.counts["ask"] += 1
            elif code in RETRYABLE:
                self.counts["retried"] += 1
                time.sleep(0.001)
            else:
                self.counts["errors"] += 1
                return reply, redirects
        self.counts["errors"] += 1
        return None, 100


def run(argv: list) -> None:
    seed, slots, keys, value_size, out = argv[:5]
    options = dict(zip(argv[5::2], argv[6::2]))
    rate = float(options.get("--rate", 2000))
    set_ratio = float(options.get("--set-ratio", 0.5))
    max_seconds = float(options.get("--max-seconds", 3600))
    names = SlotKeys(parse_range(slots))
    keys = int(keys)
    value = random_value(int(value_size)).encode()
    client = ClusterClient(seed)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rng = random.Random(7)
    samples = []
    start = time.monotonic()
    sent = 0
    while not stop and time.monotonic() - start < max_seconds:
        due = start + sent / rate
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        i = rng.randrange(keys)
        key = names.key(i).encode()
        is_set = rng.random() < set_ratio
        args = (b"SET", key, value) if is_set else (b"GET", key)
        sent_ns = time.time_ns()
        t0 = time.perf_counter_ns()
        reply, redirects = client.execute(names.slot(i), args)
        latency_us = (time.perf_counter_ns() - t0) // 1000
        if not is_set and reply is None:
            client.counts["missing"] += 1
        samples.append("%d %d %s %d\n" % (sent_ns, latency_us, "set" if is_set else "get", redirects))
        sent += 1
    with open(out, "w") as f:
        f.writelines(samples)
        f.write("# " + " ".join("%s=%d" % kv for kv in client.counts.items()) + "\n")


def percentile(sorted_values: list, fraction: float):
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def report(argv: list) -> None:
    path, first, last = argv[0], int(argv[1]), int(argv[2])
    latencies = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            sent_ns, latency_us = line.split()[:2]
            if first <= int(sent_ns) < last:
                latencies.append(int(latency_us))
    if not latencies:
        print("0 - - -")
        return
    latencies.sort()
    ms = [percentile(latencies, 0.5) / 1000, percentile(latencies, 0.99) / 1000, latencies[-1] / 1000]
    print(len(latencies), *("%.3f" % v for v in ms))


def main() -> None:
    if len(sys.argv) >= 7 and sys.argv[1] == "run":
        run(sys.argv[2:])
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
