/**
 * The Node runtime, run by the same binary as `clipper runtime node --artifact FILE`: loads a JS/TS module
 * exporting `predict(inputs)` (sync or async) and optionally `load()`, and speaks protocol version 2 on
 * stdin/stdout (docs/runtime-protocol.md): a version 2 batch that raises is retried by halves here and
 * answered with an output or an error per row. console output goes to stderr, the replica's log.
 */
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, PROTOCOL_VERSION_ROW_ERRORS, type RuntimeMessage } from "./protocol.ts";

type PredictFn = (inputs: unknown[]) => unknown | Promise<unknown>;
type Incoming = {
  v?: number;
  type?: string;
  id?: number;
  shape?: [number, number];
  dtype?: string;
  data?: Uint8Array;
  inputs?: unknown[];
  input_type?: string;
};

const TYPED = { f8: Float64Array, f4: Float32Array, i4: Int32Array } as const;
/** A batch that failed this many single rows and answered none is taken to raise on everything: the rest fails at once. */
const ALL_FAILING_AFTER_ROWS = 8;

function send(message: Omit<RuntimeMessage, "v"> & Record<string, unknown>, version = PROTOCOL_VERSION): void {
  process.stdout.write(encodeFrame({ ...message, v: version } as RuntimeMessage));
}

/** The model broke the output contract: its fault whatever the rows, so never isolated row by row. */
class ContractError extends Error {}

const inputsText = (n: number) => `${n} input${n === 1 ? "" : "s"}`;

/** One row's prediction as clients expect: strings stay, numbers become strings, structures nest. */
function toOutput(value: unknown, i: number, n: number): unknown {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isNaN(value)) throw new ContractError(`returned NaN for input ${i + 1} of ${n}`);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null || value === undefined) throw new ContractError(`returned nothing (${value}) for input ${i + 1} of ${n}`);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** The outputs of n inputs, checked against the contract (one per input; no nothing, no NaN). */
function toOutputs(result: unknown, n: number): unknown[] {
  const list = ArrayBuffer.isView(result) ? Array.from(result as unknown as ArrayLike<number>) : result;
  if (!Array.isArray(list)) {
    const what = typeof list === "string" ? "a single string" : list === null || list === undefined ? `nothing (${list})` : `a ${typeof list}`;
    throw new ContractError(`returned ${what} for ${inputsText(n)}`);
  }
  if (list.length !== n) throw new ContractError(`returned ${list.length} output${list.length === 1 ? "" : "s"} for ${inputsText(n)}`);
  return list.map((o, i) => toOutput(o, i, n));
}

function toInputs(msg: Incoming): unknown[] {
  if (msg.data && msg.shape && msg.dtype) {
    const [rows, cols] = msg.shape;
    const Typed = TYPED[msg.dtype as keyof typeof TYPED];
    // Copy into an aligned buffer: the msgpack bin may start at any byte offset.
    const values = new Typed(new Uint8Array(msg.data).buffer);
    return Array.from({ length: rows }, (_, r) => Array.from(values.subarray(r * cols, (r + 1) * cols)));
  }
  return msg.inputs ?? [];
}

const errorText = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

const logged = new Set<string>();
/** A model's exception goes to the log once per distinct message: isolating a row makes it raise several times. */
function logFailure(err: unknown): void {
  const text = errorText(err);
  if (logged.has(text)) return;
  if (logged.size > 1000) logged.clear();
  logged.add(text);
  console.error(err);
}

/** Rows that raised alone lately (by their values): a batch that raises again tries them alone first and the rest together. */
const suspects = new Set<string>();
const MAX_SUSPECTS = 4096;
const rowKey = (row: unknown) =>
  typeof row === "string" ? row : JSON.stringify(ArrayBuffer.isView(row) ? Array.from(row as unknown as ArrayLike<number>) : row);

/**
 * Finds the rows of a raising batch that raise alone, without round trips: rows that raised alone before are
 * tried alone and the others together; a part that raises is split in halves until single rows remain.
 */
async function isolateRows(predict: PredictFn, inputs: unknown[], firstError: unknown): Promise<{ outputs: unknown[]; rowErrors: [number, string][] }> {
  const n = inputs.length;
  const outputs: unknown[] = new Array(n).fill(null);
  const rowErrors: [number, string][] = [];
  const keys = inputs.map(rowKey);
  const suspected = suspects.size > 0 ? keys.flatMap((k, i) => (suspects.has(k) ? [i] : [])) : [];
  const all = Array.from({ length: n }, (_, i) => i);
  const pending: [number[], unknown][] =
    suspected.length > 0 && suspected.length < n
      ? [[all.filter((i) => !suspects.has(keys[i]!)), undefined], ...suspected.map((i): [number[], unknown] => [[i], undefined])]
      : [[all, firstError]];
  let succeeded = false;
  while (pending.length > 0) {
    const [idx, known] = pending.pop()!;
    let err = known;
    if (err === undefined) {
      try {
        const part = toOutputs(await predict(idx.map((i) => inputs[i])), idx.length);
        idx.forEach((i, j) => (outputs[i] = part[j]));
        succeeded = true;
        if (idx.length === 1) suspects.delete(keys[idx[0]!]!);
        continue;
      } catch (partErr) {
        if (partErr instanceof ContractError) throw partErr;
        err = partErr ?? new Error(String(partErr));
      }
    }
    if (idx.length === 1 || (!succeeded && rowErrors.length >= ALL_FAILING_AFTER_ROWS)) {
      logFailure(err);
      for (const i of idx) rowErrors.push([i, errorText(err)]);
      if (idx.length === 1) {
        if (suspects.size >= MAX_SUSPECTS) suspects.clear();
        suspects.add(keys[idx[0]!]!);
      }
      continue;
    }
    const mid = idx.length >> 1;
    pending.push([idx.slice(mid), undefined], [idx.slice(0, mid), undefined]);
  }
  rowErrors.sort((x, y) => x[0] - y[0]);
  return { outputs, rowErrors };
}

async function handle(predict: PredictFn, msg: Incoming): Promise<void> {
  const id = msg.id ?? 0;
  const version = msg.v === PROTOCOL_VERSION_ROW_ERRORS ? PROTOCOL_VERSION_ROW_ERRORS : PROTOCOL_VERSION;
  if (msg.type === "ping") return send({ type: "pong", id }, version);
  if (msg.type !== "predict") return send({ type: "error", id, message: `unknown message type '${msg.type}'` }, version);
  try {
    const inputs = toInputs(msg);
    const started = performance.now();
    let outputs: unknown[];
    let rowErrors: [number, string][] = [];
    try {
      outputs = toOutputs(await predict(inputs), inputs.length);
    } catch (err) {
      if (err instanceof ContractError || version < PROTOCOL_VERSION_ROW_ERRORS || inputs.length === 1) throw err;
      ({ outputs, rowErrors } = await isolateRows(predict, inputs, err));
    }
    const micros = Math.round((performance.now() - started) * 1000);
    send({ type: "result", id, outputs, predict_micros: micros, ...(rowErrors.length > 0 ? { row_errors: rowErrors } : {}) }, version);
  } catch (err) {
    if (err instanceof ContractError) {
      logFailure(`the model broke the output contract: it ${err.message}`);
      return send({ type: "error", id, message: err.message, contract: true }, version);
    }
    logFailure(err);
    send({ type: "error", id, message: errorText(err) }, version);
  }
}

/** A module's optional `inputShape` export (a positive integer, or a list of them: one row's shape). */
function declaredShape(value: unknown): number[] | undefined {
  const shape = typeof value === "number" ? [value] : value;
  if (!Array.isArray(shape) || shape.length === 0) return undefined;
  return shape.every((d) => Number.isInteger(d) && d > 0) ? (shape as number[]) : undefined;
}

/** Loads the module and says hello; the predict function, or the exit code after a fatal load error. */
async function loadModel(artifact: string): Promise<PredictFn | number> {
  let predict: PredictFn;
  let inputShape: number[] | undefined;
  try {
    type Api = { predict?: PredictFn; load?: () => unknown; inputShape?: unknown };
    const mod = (await import(artifact)) as Api & { default?: Api };
    const api = typeof mod.predict === "function" ? mod : (mod.default ?? {});
    if (typeof api.predict !== "function") throw new TypeError("the module exports no predict(inputs) function");
    if (typeof api.load === "function") await api.load();
    predict = api.predict;
    inputShape = declaredShape(api.inputShape);
  } catch (err) {
    console.error(err);
    send({ type: "error", id: 0, fatal: true, message: `could not load the model: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
    return 3;
  }
  send({
    type: "hello",
    id: 0,
    runtime: {
      kind: "node",
      protocol: PROTOCOL_VERSION_ROW_ERRORS,
      bun: Bun.version,
      pid: process.pid,
      ...(inputShape ? { input_shape: inputShape } : {}),
    },
  });
  return predict;
}

/**
 * Runs the runtime: loads `artifact`, or (undefined: a warm spare, `--standby`) waits for a `load` frame
 * naming it; a spare whose stdin closes, or that gets anything else first, exits 0.
 */
export async function runNodeRuntime(artifact: string | undefined): Promise<number> {
  // Keep stdout for frames only.
  console.log = console.error;
  console.info = console.error;
  let predict: PredictFn | undefined;
  if (artifact !== undefined) {
    const loaded = await loadModel(artifact);
    if (typeof loaded === "number") return loaded;
    predict = loaded;
  }
  const decoder = new FrameDecoder();
  // Batches are answered in order, one at a time, like the Python runtime.
  let chain = Promise.resolve();
  for await (const chunk of Bun.stdin.stream()) {
    for (const raw of decoder.push(chunk)) {
      const msg = raw as Incoming & { artifact?: unknown };
      if (!predict) {
        if (msg.type !== "load" || typeof msg.artifact !== "string") return 0;
        const loaded = await loadModel(msg.artifact);
        if (typeof loaded === "number") return loaded;
        predict = loaded;
        continue;
      }
      if (msg.type === "shutdown") {
        await chain;
        return 0;
      }
      const p = predict;
      chain = chain.then(() => handle(p, msg));
    }
  }
  await chain;
  return 0;
}
