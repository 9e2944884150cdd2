#!/usr/bin/env python3
"""redis-py's RedisCluster against a Ferrocache cluster.

Usage: redis_py_cluster.py PORT -- PORT is any node of the cluster. Discovers the cluster from that node, writes
and reads back one key in every slot, runs a cross-slot pipeline and multi-key commands on a hash tag, and checks
that the client's slot map agrees with the nodes' own. Exits non-zero with a message on the first mismatch.
"""

import sys

try:
    from redis.cluster import RedisCluster
    from redis.crc import key_slot
except ImportError as e:
    sys.exit(f"redis-py is missing ({e}): pip install redis (.ci/run does)")

SLOTS = 16384


def check(condition, message):
    if not condition:
        sys.exit(f"redis-py cluster: {message}")


def key_per_slot():
    """One key name for each of the 16384 slots."""
    keys = {}
    i = 0
    while len(keys) < SLOTS:
        name = f"py:{i}"
        keys.setdefault(key_slot(name.encode()), name)
        i += 1
    return [keys[slot] for slot in range(SLOTS)]


def main():
    port = int(sys.argv[1])
    rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True,
                      socket_timeout=10, socket_connect_timeout=10)
    primaries = rc.get_primaries()
    check(len(primaries) == 3, f"expected 3 primaries, found {primaries}")
    check(len(rc.get_replicas()) == 3, f"expected 3 replicas, found {rc.get_replicas()}")

    # Single commands, each routed on its own, on a sample of slots spread over every shard.
    for slot in range(0, SLOTS, 97):
        key = f"py-single:{slot}"
        check(rc.set(key, slot) is True, f"SET {key} failed")
        check(rc.get(key) == str(slot), f"GET {key} returned {rc.get(key)!r}")

    # One key in every slot, through a pipeline that the client splits by node.
    keys = key_per_slot()
    pipe = rc.pipeline()
    for key in keys:
        pipe.set(key, f"v-{key}")
    check(all(r is True for r in pipe.execute()), "a pipelined SET failed")
    pipe = rc.pipeline()
    for key in keys:
        pipe.get(key)
    values = pipe.execute()
    for key, value in zip(keys, values):
        check(value == f"v-{key}", f"GET {key} returned {value!r}")

    # The nodes agree with the client on where each key is.
    for key in keys[::1024]:
        slot = rc.keyslot(key)
        node = rc.get_node_from_key(key)
        check(rc.cluster_keyslot(key) == slot, f"CLUSTER KEYSLOT {key} disagrees with {slot}")
        check(rc.cluster_countkeysinslot(slot) >= 1, f"no key counted in slot {slot}")
        direct = rc.get_redis_connection(node)
        check(direct.get(key) == f"v-{key}", f"{key} is not on {node.name}")

    # Multi-key commands on one hash tag, and a pipeline on it (redis-py refuses multi-key commands in one).
    check(rc.mset({"{user1}:a": "1", "{user1}:b": "2"}) is True, "MSET on a hash tag failed")
    check(rc.mget("{user1}:a", "{user1}:b") == ["1", "2"], "MGET on a hash tag")
    pipe = rc.pipeline()
    pipe.incr("{user1}:counter")
    pipe.incr("{user1}:counter")
    pipe.get("{user1}:a")
    check(pipe.execute() == [1, 2, "1"], "pipeline on a hash tag")
    check(rc.mget("{user1}:a", "{user1}:counter") == ["1", "2"], "MGET after the pipeline")
    check(rc.delete("{user1}:a", "{user1}:b") == 2, "DEL on a hash tag")

    # DBSIZE on every primary, summed by the client.
    total = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
    expected = SLOTS + len(range(0, SLOTS, 97)) + 1
    check(total == expected, f"DBSIZE over the primaries is {total}, expected {expected}")
    rc.close()
    print("redis-py cluster: ok")


if __name__ == "__main__":
    main()
