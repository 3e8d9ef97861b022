/**
 * The Node runtime, run by the same binary as `clipper runtime node --artifact FILE`: loads a JS/TS module
 * exporting `predict(inputs)` (sync or async) and optionally `load()`, and speaks protocol version 1
 * on stdin/stdout (docs/runtime-protocol.md). console output goes to stderr, the replica's log.
 */
import { encodeFrame, FrameDecoder, PROTOCOL_VERSION, type RuntimeMessage } from "./protocol.ts";

type PredictFn = (inputs: unknown[]) => unknown[] | Promise<unknown[]>;
type Incoming = { type?: string; id?: number; shape?: [number, number]; dtype?: string; data?: Uint8Array; inputs?: unknown[]; input_type?: string };

const TYPED = { f8: Float64Array, f4: Float32Array, i4: Int32Array } as const;

function send(message: Omit<RuntimeMessage, "v"> & Record<string, unknown>): void {
  process.stdout.write(encodeFrame({ ...message, v: PROTOCOL_VERSION } as RuntimeMessage));
}

/** One row's prediction as clients expect: strings stay, numbers become strings, structures nest. */
function toOutput(value: unknown): unknown {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (value === null || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
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

async function handle(predict: PredictFn, msg: Incoming): Promise<void> {
  const id = msg.id ?? 0;
  if (msg.type === "ping") return send({ type: "pong", id });
  if (msg.type !== "predict") return send({ type: "error", id, message: `unknown message type '${msg.type}'` });
  try {
    const inputs = toInputs(msg);
    const started = performance.now();
    const result = await predict(inputs);
    const micros = Math.round((performance.now() - started) * 1000);
    if (!Array.isArray(result) || result.length !== inputs.length) {
      throw new Error(`predict returned ${Array.isArray(result) ? result.length : typeof result} outputs for ${inputs.length} inputs`);
    }
    send({ type: "result", id, outputs: result.map(toOutput), predict_micros: micros });
  } catch (err) {
    console.error(err);
    send({ type: "error", id, message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  }
}

/** A module's optional `inputShape` export (a positive integer, or a list of them: one row's shape). */
function declaredShape(value: unknown): number[] | undefined {
  const shape = typeof value === "number" ? [value] : value;
  if (!Array.isArray(shape) || shape.length === 0) return undefined;
  return shape.every((d) => Number.isInteger(d) && d > 0) ? (shape as number[]) : undefined;
}

export async function runNodeRuntime(artifact: string): Promise<number> {
  // Keep stdout for frames only.
  console.log = console.error;
  console.info = console.error;
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
      protocol: PROTOCOL_VERSION,
      bun: Bun.version,
      pid: process.pid,
      ...(inputShape ? { input_shape: inputShape } : {}),
    },
  });
  const decoder = new FrameDecoder();
  // Batches are answered in order, one at a time, like the Python runtime.
  let chain = Promise.resolve();
  for await (const chunk of Bun.stdin.stream()) {
    for (const raw of decoder.push(chunk)) {
      const msg = raw as Incoming;
      if (msg.type === "shutdown") {
        await chain;
        return 0;
      }
      chain = chain.then(() => handle(predict, msg));
    }
  }
  await chain;
  return 0;
}
