#!/usr/bin/env node
// ioredis' Cluster client against a Ferrocache cluster.
//
// Usage: node ioredis_cluster.js PORT -- PORT is any node of the cluster. Discovers the cluster from that node,
// writes and reads back keys spread over every shard, runs a pipeline, a transaction and multi-key commands on a
// hash tag, and checks every primary got its share. Exits non-zero with a message on the first mismatch.
'use strict';

let Redis;
try {
  Redis = require('ioredis');
} catch (e) {
  console.error(`ioredis is missing (${e.message}): run npm ci in engine/tests/cluster (.ci/run does)`);
  process.exit(2);
}

const KEYS = 3000;

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

async function main(port) {
  const cluster = new Redis.Cluster([{ host: '127.0.0.1', port }], {
    redisOptions: { connectTimeout: 10000, commandTimeout: 10000 },
    clusterRetryStrategy: (times) => (times > 20 ? null : 100),
  });
  try {
    await cluster.ping();
    const primaries = cluster.nodes('master');
    check(primaries.length === 3, `expected 3 primaries, found ${primaries.length}`);
    check(cluster.nodes('slave').length === 3, `expected 3 replicas, found ${cluster.nodes('slave').length}`);

    for (let i = 0; i < KEYS; i++) {
      check((await cluster.set(`js:${i}`, `v-${i}`)) === 'OK', `SET js:${i}`);
    }
    for (let i = 0; i < KEYS; i++) {
      const value = await cluster.get(`js:${i}`);
      check(value === `v-${i}`, `GET js:${i} returned ${value}`);
    }

    // Multi-key commands, a pipeline and a transaction on one hash tag (ioredis sends each to one node).
    check((await cluster.mset('{user1}:a', '1', '{user1}:b', '2')) === 'OK', 'MSET on a hash tag');
    const both = await cluster.mget('{user1}:a', '{user1}:b');
    check(both[0] === '1' && both[1] === '2', `MGET on a hash tag returned ${both}`);
    const piped = await cluster.pipeline()
      .incr('{user1}:n').incr('{user1}:n').get('{user1}:a').exec();
    check(JSON.stringify(piped) === JSON.stringify([[null, 1], [null, 2], [null, '1']]),
      `pipeline on a hash tag returned ${JSON.stringify(piped)}`);
    const tx = await cluster.multi().set('{user1}:c', '3').incr('{user1}:n').exec();
    check(JSON.stringify(tx) === JSON.stringify([[null, 'OK'], [null, 3]]),
      `MULTI/EXEC on a hash tag returned ${JSON.stringify(tx)}`);
    check((await cluster.del('{user1}:a', '{user1}:b', '{user1}:c', '{user1}:n')) === 4, 'DEL on a hash tag');

    // Every primary holds a share, and the shares add up to what was written.
    let total = 0;
    for (const node of primaries) {
      const size = await node.dbsize();
      check(size > 0, `primary ${node.options.port} holds no keys`);
      total += size;
    }
    check(total === KEYS, `the primaries hold ${total} keys, expected ${KEYS}`);
    // The node the client picked for a key is the one that has it.
    for (let i = 0; i < KEYS; i += 101) {
      const slot = await cluster.cluster('KEYSLOT', `js:${i}`);
      const counts = await Promise.all(primaries.map((n) => n.cluster('COUNTKEYSINSLOT', slot)));
      check(counts.filter((c) => c > 0).length === 1, `slot ${slot} has keys on ${counts} primaries`);
    }
  } finally {
    cluster.disconnect();
  }
}

const port = Number(process.argv[2]);
setTimeout(() => {
  console.error('ioredis cluster: timed out');
  process.exit(3);
}, 60000).unref();
main(port).then(
  () => console.log('ioredis cluster: ok'),
  (e) => {
    console.error(`ioredis cluster: ${e.stack || e}`);
    process.exit(1);
  },
);
