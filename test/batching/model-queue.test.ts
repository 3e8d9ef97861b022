import { describe, expect, it } from "bun:test";
import { ModelQueue, packBatch, RowFailure } from "../../src/batching/model-queue.ts";
import { ModelRaisedError, ReplicaExitError } from "../../src/errors.ts";
import type { Replica } from "../../src/runtime/replica.ts";

const quietObserver = {
  onBatch() {},
  onSplit() {},
  onRowsFailed() {},
  onClientGone() {},
  onShed() {},
  onQueueWait() {},
  onHang() {},
  onQuarantine() {},
};

/** A stand-in replica that answers every batch at once with one output per row, recording batch sizes. */
function fakeReplica(sizes: number[]): Replica {
  const r = {
    state: "ready",
    inflightBatches: 0,
    outstandingRows: 0,
    predict(_message: unknown, rows: number) {
      sizes.push(rows);
      return Promise.resolve({ outputs: Array.from({ length: rows }, () => "1"), predictMicros: 1 });
    },
  };
  return r as unknown as Replica;
}

it("grows the batch limit past a request's size when requests of 100 rows arrive together", async () => {
  const sizes: number[] = [];
  const replicas = [fakeReplica(sizes)];
  const queue = new ModelQueue("m:1", "doubles", 256, () => replicas);
  const rows = Array.from({ length: 100 }, () => [1, 2, 3]);
  // Rounds of 8 concurrent 100-row requests: once the limit passes 200, two requests share a batch.
  for (let round = 0; round < 60; round++) {
    await Promise.all(Array.from({ length: 8 }, () => queue.enqueueRows(rows, performance.now() + 10_000, 100_000)));
  }
  expect(queue.batchSize).toBeGreaterThanOrEqual(200);
  expect(sizes.slice(-8).some((n) => n >= 200)).toBe(true);
});

/**
 * A stand-in replica running `model` on each batch's rows (decoded from the packed doubles): it raises the
 * way a runtime answers an error frame, with ModelRaisedError. Batch sizes are recorded.
 */
function modelReplica(model: (rows: number[][]) => unknown[], sizes: number[]): Replica {
  return {
    state: "ready",
    inflightBatches: 0,
    outstandingRows: 0,
    predict(message: { shape: [number, number]; data: Uint8Array }, rows: number) {
      sizes.push(rows);
      const values = new Float64Array(message.data.buffer, message.data.byteOffset, rows * message.shape[1]);
      const decoded = Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * message.shape[1], (r + 1) * message.shape[1])));
      try {
        return Promise.resolve({ outputs: model(decoded), predictMicros: 1 });
      } catch (err) {
        return Promise.reject(new ModelRaisedError(`the model raised: ${(err as Error).message}`));
      }
    },
  } as unknown as Replica;
}

const picky = (rows: number[][]) => {
  if (rows.some((r) => r[0] === 13)) throw new Error("13 is not a valid first value");
  return rows.map((r) => String(r[0]));
};

describe("a batch the model raised on", () => {
  it("settles every query: the raising rows with a RowFailure or a rejection, the others with their outputs", async () => {
    const sizes: number[] = [];
    const replicas = [modelReplica(picky, sizes)];
    const queue = new ModelQueue("m:1", "doubles", 64, () => replicas);
    const deadline = performance.now() + 10_000;
    const singles = Array.from({ length: 20 }, (_, i) => queue.enqueue([i === 5 || i === 11 ? 13 : 100 + i, 1], deadline, 100_000));
    const batch = queue.enqueueRows(
      [
        [1, 0],
        [13, 0],
        [3, 0],
      ],
      deadline,
      100_000,
    );
    const settled = await Promise.allSettled(singles);
    settled.forEach((s, i) => {
      if (i === 5 || i === 11) expect(s).toMatchObject({ status: "rejected", reason: { message: "the model raised: 13 is not a valid first value" } });
      else expect(s).toEqual({ status: "fulfilled", value: String(100 + i) });
    });
    const outputs = await batch;
    expect(outputs[0]).toBe("1");
    expect(outputs[1]).toBeInstanceOf(RowFailure);
    expect(outputs[2]).toBe("3");
    expect(queue.depth).toBe(0);
  });

  it("splits at most log2(rows) levels deep", async () => {
    const sizes: number[] = [];
    const replicas = [modelReplica(picky, sizes)];
    const queue = new ModelQueue("m:1", "doubles", 64, () => replicas);
    queue.batchSize = 64;
    const deadline = performance.now() + 10_000;
    const rows = Array.from({ length: 64 }, (_, i) => [i === 40 ? 13 : 100 + i, 0]);
    await queue.enqueueRows(rows, deadline, 100_000);
    // 64 → 32 → 16 → 8 → 4 → 2 → 1: the first batch, then two halves per level.
    expect(sizes[0]).toBe(64);
    expect(sizes.length).toBe(1 + 2 * 6);
  });

  it("answers a part at once, without splitting further, once the model fails every row it is given", async () => {
    const sizes: number[] = [];
    const replicas = [
      modelReplica(() => {
        throw new Error("always");
      }, sizes),
    ];
    const queue = new ModelQueue("m:1", "doubles", 64, () => replicas);
    queue.batchSize = 64;
    const deadline = performance.now() + 10_000;
    const first = await queue.enqueueRows(
      Array.from({ length: 16 }, (_, i) => [i, 0]),
      deadline,
      100_000,
    );
    expect(first.every((o) => o instanceof RowFailure)).toBe(true);
    const before = sizes.length;
    const second = await queue.enqueueRows(
      Array.from({ length: 16 }, (_, i) => [i, 0]),
      deadline,
      100_000,
    );
    expect(second.every((o) => o instanceof RowFailure)).toBe(true);
    // The batch and its two halves.
    expect(sizes.length - before).toBe(3);
  });

  it("rejects a query whose deadline passes before its part is retried, with a reason starting 'deadline'", async () => {
    let calls = 0;
    const slowFail = {
      state: "ready",
      inflightBatches: 0,
      outstandingRows: 0,
      predict() {
        calls++;
        return new Promise((_, reject) => setTimeout(() => reject(new ModelRaisedError("the model raised: no")), 30));
      },
    } as unknown as Replica;
    const queue = new ModelQueue("m:1", "doubles", 64, () => [slowFail]);
    const res = await Promise.allSettled([queue.enqueue([1, 0], performance.now() + 10, 10_000), queue.enqueue([2, 0], performance.now() + 10, 10_000)]);
    for (const r of res) expect(r).toMatchObject({ status: "rejected", reason: { message: expect.stringMatching(/^deadline:/) } });
    expect(calls).toBe(1);
  });
});

describe("queries of clients that went away", () => {
  it("are dropped before they are sent and counted", async () => {
    const sizes: number[] = [];
    const gone: number[] = [];
    const observer = { ...quietObserver, onClientGone: (_: string, n: number) => gone.push(n) };
    const replicas = [modelReplica(picky, sizes)];
    const queue = new ModelQueue("m:1", "doubles", 64, () => replicas, observer);
    const left = new AbortController();
    const deadline = performance.now() + 10_000;
    const dropped = queue.enqueue([1, 0], deadline, 100_000, left.signal);
    const kept = queue.enqueue([2, 0], deadline, 100_000, new AbortController().signal);
    left.abort();
    expect(await kept).toBe("2");
    expect(dropped).rejects.toThrow("the client went away");
    expect(sizes).toEqual([1]);
    expect(gone).toEqual([1]);
  });
});

/** A stand-in replica whose batches stay in flight until the test finishes them, each with its predict time. */
function heldReplica(events: string[]) {
  const held: { rows: number; resolve: (r: { outputs: unknown[]; predictMicros: number }) => void }[] = [];
  const replica = {
    state: "ready",
    inflightBatches: 0,
    outstandingRows: 0,
    predict(_message: unknown, rows: number) {
      replica.inflightBatches++;
      events.push(`sent ${rows}`);
      return new Promise((resolve) => held.push({ rows, resolve }));
    },
  };
  /** Answers the oldest batch in flight as if its predict took `predictMicros`. */
  const finish = (predictMicros: number) => {
    const b = held.shift()!;
    replica.inflightBatches--;
    b.resolve({ outputs: Array.from({ length: b.rows }, () => "1"), predictMicros });
  };
  return { replica: replica as unknown as Replica, finish, held };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("batches in flight on one replica", () => {
  it("are two for a fast model and one for a slow one, whose waiting rows then form one bigger batch", async () => {
    const events: string[] = [];
    const { replica, finish, held } = heldReplica(events);
    const queue = new ModelQueue("m:1", "doubles", 8, () => [replica]);
    const deadline = performance.now() + 60_000;
    const ask = (n: number) => Array.from({ length: n }, (_, i) => queue.enqueue([i, 1], deadline, 100_000));
    const first = ask(10);
    await tick();
    // A model not yet known to be slow: a batch computing and one more on the pipe.
    expect(events).toEqual(["sent 8", "sent 2"]);
    finish(200_000);
    finish(200_000);
    await Promise.all(first);
    events.length = 0;
    const second = ask(12);
    await tick();
    // 200 ms a batch: one at a time; the rows that arrive meanwhile wait for the next one.
    expect(events).toEqual(["sent 8"]);
    expect(held.length).toBe(1);
    finish(200_000);
    await tick();
    expect(events).toEqual(["sent 8", "sent 4"]);
    finish(200_000);
    await Promise.all(second);
  });

  it("go out, the next one, as soon as the replica is free: before the finished batch's queries are answered", async () => {
    const events: string[] = [];
    const { replica, finish } = heldReplica(events);
    const queue = new ModelQueue("m:1", "doubles", 2, () => [replica]);
    const deadline = performance.now() + 60_000;
    const answered = Array.from({ length: 6 }, (_, i) => queue.enqueue([i, 1], deadline, 100_000).then(() => events.push(`answered ${i}`)));
    await tick();
    expect(events).toEqual(["sent 2", "sent 2"]);
    finish(100);
    await tick();
    expect(events.slice(2, 4)).toEqual(["sent 2", "answered 0"]);
    finish(100);
    finish(100);
    await Promise.all(answered);
  });
});

/**
 * Stand-in replicas of a model that answers at once but hangs on any batch holding a row whose first value
 * is 13, until the watchdog kills it; a killed replica is replaced by a new one (as the runtime manager does).
 */
function hangingPool(sent: number[][]) {
  const pool: Replica[] = [];
  let spawned = 0;
  /** Spawns a replica: routed (in the pool, replaced when killed) or a probe (neither). */
  const spawn = (routed = true) => {
    const pending: ((err: Error) => void)[] = [];
    const r = {
      id: `h:1#${++spawned}`,
      state: "ready",
      hung: false,
      inflightBatches: 0,
      outstandingRows: 0,
      predict(message: { shape: [number, number]; data: Uint8Array }, rows: number) {
        const values = new Float64Array(message.data.buffer, message.data.byteOffset, rows * message.shape[1]);
        const firsts = Array.from({ length: rows }, (_, i) => values[i * message.shape[1]]!);
        sent.push(routed ? firsts : [-1, ...firsts]);
        if (firsts.includes(13)) {
          r.inflightBatches++;
          return new Promise((_, reject) => pending.push(reject));
        }
        return Promise.resolve({ outputs: firsts.map(String), predictMicros: 100 });
      },
      kill(reason: string) {
        r.state = "exited";
        for (const reject of pending) reject(new ReplicaExitError(reason));
        if (!routed) return;
        pool.splice(pool.indexOf(r as unknown as Replica), 1);
        spawn();
        setImmediate(() => queue?.kick());
      },
      async stop() {
        r.state = "exited";
        stopped++;
      },
    };
    if (routed) pool.push(r as unknown as Replica);
    return r as unknown as Replica;
  };
  spawn();
  let queue: ModelQueue | undefined;
  let stopped = 0;
  return {
    pool,
    spawned: () => spawned,
    stopped: () => stopped,
    probe: () => spawn(false),
    attach: (q: ModelQueue) => (queue = q),
  };
}

describe("a batch that hangs", () => {
  it("kills its replica, gets its batch-mates their predictions, and quarantines the input that hangs alone", async () => {
    const sent: number[][] = [];
    const { pool, spawned, attach } = hangingPool(sent);
    const hangs: string[] = [];
    const observer = { ...quietObserver, onHang: (_: string, __: string, detail: string) => hangs.push(detail) };
    const queue = new ModelQueue("h:1", "doubles", 64, () => pool, observer, Infinity, { predictTimeoutMs: 200, quarantineMs: 60_000, maxQueuedRows: 1000 });
    attach(queue);
    const deadline = performance.now() + 10_000;
    const answers = [1, 13, 2, 3].map((x) => queue.enqueue([x, 0], deadline, 10_000_000).then(String, (e: Error) => e.message));
    expect(await Promise.all(answers)).toEqual(["1", expect.stringMatching(/^quarantined: this input made model h:1 hang for 0\.\d s$/), "2", "3"]);
    // The batch of four hung, then each row went alone: 13 hung again and was quarantined.
    expect(sent).toEqual([[1, 13, 2, 3], [1], [13], [2], [3]]);
    expect(hangs).toHaveLength(2);
    expect(hangs[0]).toContain("did not answer a batch of 4 rows within 200 ms");
    expect(spawned()).toBe(3);
    // The same input again: the default at once, without reaching the model.
    const before = sent.length;
    expect(await queue.enqueue([13, 0], performance.now() + 10_000, 10_000_000).catch((e: Error) => e.message)).toMatch(/^quarantined:/);
    expect(sent.length).toBe(before);
    expect(queue.quarantined()).toHaveLength(1);
  });
});

it("refuse: admission on its own turns away at once a query whose expected wait exceeds its time, and counts it", async () => {
  // 5 ms a row; learned from answered batches, then the replica is busy (two batches in flight) and rows wait.
  const r = {
    state: "ready",
    inflightBatches: 0,
    outstandingRows: 0,
    predict: (_m: unknown, rows: number) =>
      new Promise((resolve) => setTimeout(() => resolve({ outputs: Array.from({ length: rows }, () => "1"), predictMicros: rows * 5000 }), rows * 5)),
  };
  const shed: string[] = [];
  const queue = new ModelQueue("m:1", "doubles", 64, () => [r as unknown as Replica], { ...quietObserver, onShed: (_m, reason) => shed.push(reason) });
  for (let i = 0; i < 10; i++) await queue.enqueue([i], performance.now() + 10_000, 10_000_000);
  r.inflightBatches = 2;
  for (let i = 0; i < 20; i++) void queue.enqueue([i], performance.now() + 10_000, 10_000_000).catch(() => undefined);
  expect(queue.depth).toBe(20);
  // 20 rows ahead at 5 ms a row: ~100 ms of wait; 30 ms left cannot make it, a minute can.
  const refused = queue.refuse(1, performance.now() + 30);
  expect(refused).toMatchObject({ reason: "overload", retryAfterSeconds: 1 });
  expect(refused?.message).toMatch(/^overload: model m:1 cannot answer in time \(expected wait \d+ ms, \d+ ms left\)$/);
  expect(queue.refuse(1, performance.now() + 60_000)).toBeUndefined();
  expect(shed).toEqual(["overload"]);
  // Refused by refuse() means not queued: the depth is unchanged.
  expect(queue.depth).toBe(20);
  queue.drain("test over");
});

describe("the suspects of a hang, on a probe", () => {
  it("go one by one to a replica of their own: the culprit hangs it, not the traffic, and is quarantined", async () => {
    const sent: number[][] = [];
    const { pool, probe, spawned, stopped, attach } = hangingPool(sent);
    const shed: string[] = [];
    const observer = { ...quietObserver, onShed: (_: string, reason: string) => shed.push(reason) };
    const queue = new ModelQueue("h:1", "doubles", 64, () => pool, observer, Infinity, {
      predictTimeoutMs: 200,
      quarantineMs: 60_000,
      maxQueuedRows: 1000,
    });
    attach(queue);
    let probes = 0;
    // The probe takes a while to start (a cold start): the suspects wait for it.
    queue.startProbe = () => {
      probes++;
      return Bun.sleep(100).then(probe);
    };
    const deadline = performance.now() + 10_000;
    const answers = [1, 13, 2, 3].map((x) => queue.enqueue([x, 0], deadline, 10_000_000).then(String, (e: Error) => e.message));
    // Once the batch hung (200 ms), traffic goes on on the replacement while the probe tries the suspects.
    while (spawned() < 2) await Bun.sleep(5);
    const traffic = await queue.enqueue([4, 0], performance.now() + 10_000, 10_000_000);
    expect(traffic).toBe("4");
    expect(queue.quarantined()).toHaveLength(0);
    // The suspected input sent again meanwhile waits for the probe's verdict instead of hanging the traffic's replica.
    const copy = queue.enqueue([13, 0], performance.now() + 10_000, 10_000_000).catch((e: Error) => e.message);
    expect(await Promise.all(answers)).toEqual(["1", expect.stringMatching(/^quarantined: this input made model h:1 hang for 0\.\d s$/), "2", "3"]);
    expect(await copy).toMatch(/^quarantined: /);
    expect(shed).toEqual(["quarantined"]);
    // On the probe (marked -1): 1, then 13, which hung it; the suspects left went back to the traffic.
    expect(sent).toEqual([[1, 13, 2, 3], [4], [-1, 1], [-1, 13], [2], [3]]);
    expect(probes).toBe(1);
    // The watchdog killed the probe (it was not stopped as one that finished).
    expect(stopped()).toBe(0);
    // The pool's replica was replaced once (the probe is not): 1 + 1 replacement + 1 probe.
    expect(spawned()).toBe(3);
    expect(queue.idle).toBe(true);
  });

  it("stop when every suspect answered (a hang that was none: nothing is quarantined)", async () => {
    const sent: number[][] = [];
    const { pool, probe, stopped, attach } = hangingPool(sent);
    const queue = new ModelQueue("h:1", "doubles", 64, () => pool, quietObserver, Infinity, {
      predictTimeoutMs: 200,
      quarantineMs: 60_000,
      maxQueuedRows: 1000,
    });
    attach(queue);
    // 13 hangs within a batch, but not alone on this probe: its stand-in answers it.
    queue.startProbe = () => {
      const p = probe();
      const predict = p.predict.bind(p);
      (p as { predict: unknown }).predict = (m: Parameters<typeof predict>[0], rows: number) => {
        const r = predict(m, rows);
        return sent.at(-1)![1] === 13 ? Promise.resolve({ outputs: ["13"], predictMicros: 100, failedRows: 0 }) : r;
      };
      return Promise.resolve(p);
    };
    const deadline = performance.now() + 10_000;
    const answers = [1, 13].map((x) => queue.enqueue([x, 0], deadline, 10_000_000).then(String, (e: Error) => e.message));
    expect(await Promise.all(answers)).toEqual(["1", "13"]);
    expect(queue.quarantined()).toHaveLength(0);
    expect(stopped()).toBe(1);
  });
});

describe("packBatch", () => {
  it("packs rows that arrived as bytes (consecutive views, a subset of them, single views) exactly like JSON rows", () => {
    const json = Array.from({ length: 6 }, (_, r) => [r + 0.5, -r, r * 3]);
    const all = new Float64Array(json.flat());
    const views = json.map((_, r) => all.subarray(r * 3, r * 3 + 3));
    const queries = [{ rows: views.slice(0, 3) }, { rows: [views[3]!, views[5]!] }, { rows: [views[4]!] }];
    const expected = [{ rows: json.slice(0, 3) }, { rows: [json[3]!, json[5]!] }, { rows: [json[4]!] }];
    const packed = packBatch("doubles", queries).message as { shape: number[]; data: Uint8Array };
    const fromJson = packBatch("doubles", expected).message as { shape: number[]; data: Uint8Array };
    expect(packed.shape).toEqual([6, 3]);
    expect(Buffer.compare(Buffer.from(packed.data), Buffer.from(fromJson.data))).toBe(0);
  });
});
