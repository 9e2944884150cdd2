#!/usr/bin/env python3
"""The keys of the cluster benchmark: key number `i` of a dataset spread evenly over a range of hash slots.

Key `i` lives in slot `first + i % (last - first + 1)`: its hash tag (`{...}`) is a short string whose CRC16 falls in
that slot, as Redis Cluster computes it (CRC16/XMODEM of the tag, modulo 16384). Both servers therefore store the
same keys in the same slots, and the latency client (bench/slot-latency.py) can pick any key of the dataset by number.

Run as a script, it writes the dataset as `SET` commands in Redis protocol (RESP) for `redis-cli --pipe`:

    python3 bench/slotkeys.py 0-1023 1000000 1024 | redis-cli -p 7000 --pipe    # SLOTS KEYS VALUE_SIZE

Values are VALUE_SIZE random printable bytes (the same for every key), so no server can compress them.
"""

import random
import string
import sys

SLOTS = 16384
BATCH = 2_000


def _crc16_table() -> list:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16/XMODEM, the checksum Redis Cluster hashes keys with."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    """The hash slot of a key, honouring a non-empty `{hash tag}` as Redis Cluster does."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key) % SLOTS


def parse_range(text: str) -> range:
    """"FIRST-LAST" (inclusive) -> range of slots."""
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


class SlotKeys:
    """Names key number `i` of a dataset spread over a range of slots."""

    def __init__(self, slots: range):
        self.slots = slots
        self.tags = self._tags_for(slots)

    @staticmethod
    def _tags_for(slots: range) -> dict:
        wanted = set(slots)
        tags = {}
        n = 0
        while wanted:
            tag = format(n, "x")
            slot = crc16(tag.encode()) % SLOTS
            if slot in wanted:
                tags[slot] = tag
                wanted.discard(slot)
            n += 1
        return tags

    def slot(self, i: int) -> int:
        return self.slots[i % len(self.slots)]

    def key(self, i: int) -> str:
        return "{%s}:%d" % (self.tags[self.slot(i)], i)


def random_value(size: int, seed: int = 42) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: slotkeys.py FIRST-LAST KEYS VALUE_SIZE")
    keys = SlotKeys(parse_range(sys.argv[1]))
    count, size = int(sys.argv[2]), int(sys.argv[3])
    tail = "$%d\r\n%s\r\n" % (size, random_value(size))
    out = sys.stdout.buffer
    for start in range(0, count, BATCH):
        chunk = []
        for i in range(start, min(start + BATCH, count)):
            key = keys.key(i)
            chunk.append("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n%s" % (len(key), key, tail))
        out.write("".join(chunk).encode())
    out.flush()


if __name__ == "__main__":
    main()
