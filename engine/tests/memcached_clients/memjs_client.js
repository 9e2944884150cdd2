// memjs against a ferrocache-engine memcached port: node memjs_client.js PORT [USER PASSWORD]
// Prints "ok" when every operation behaved as memcached's; exits non-zero with the first difference.
"use strict";
const memjs = require("memjs");
const assert = require("assert");

const [port, username, password] = process.argv.slice(2);
const options = { retries: 0, timeout: 2, keepAlive: false };
if (username) Object.assign(options, { username, password });
const client = memjs.Client.create(`127.0.0.1:${port}`, options);

// Keys of this run only.
const p = `${process.pid}-${Date.now()}:`;

async function main() {
  assert.strictEqual(await client.set(p + "k", "v1", { expires: 100 }), true);
  assert.strictEqual((await client.get(p + "k")).value.toString(), "v1");
  assert.strictEqual(await client.add(p + "k", "x"), false);
  assert.strictEqual(await client.add(p + "fresh", "x"), true);
  assert.strictEqual(await client.replace(p + "k", "v2"), true);
  assert.strictEqual(await client.replace(p + "missing", "x"), false);
  assert.strictEqual(await client.append(p + "k", "!"), true);
  // (memjs 1.3.2 sends prepend with append's opcode, against memcached too: pylibmc and memccapable check
  // prepend.)
  assert.strictEqual((await client.get(p + "k")).value.toString(), "v2!");
  const created = await client.increment(p + "n", 5, { initial: 10 });
  assert.strictEqual(created.value, 10);
  assert.strictEqual((await client.increment(p + "n", 5, {})).value, 15);
  assert.strictEqual((await client.decrement(p + "n", 20, {})).value, 0);
  assert.strictEqual(await client.delete(p + "k"), true);
  assert.strictEqual((await client.get(p + "k")).value, null);
  const stats = await new Promise((resolve, reject) =>
    client.stats((err, server, s) => (err ? reject(err) : resolve(s)))
  );
  assert.ok(Number(stats.curr_items) >= 2, JSON.stringify(stats));
  if (username) {
    const intruder = memjs.Client.create(`127.0.0.1:${port}`, {
      ...options,
      username,
      password: "wrong",
      // The refused login is expected: keep memjs from printing it.
      logger: { log() {} },
    });
    await assert.rejects(intruder.get(p + "fresh"));
    intruder.close();
  }
  client.close();
  console.log("ok");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
