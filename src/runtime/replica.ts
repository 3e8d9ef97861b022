/**
 * One runtime process speaking the frame protocol over stdin/stdout.
 * Invariant: every pending request settles exactly once; a replica that exits rejects all it had in flight.
 */
import { appendFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { OUTPUT_DTYPES, type OutputDtype, OutputTensor, RowFailure, TensorRow } from "../domain.ts";
import { ModelContractError, ModelRaisedError, ReplicaExitError, RuntimeFailure } from "../errors.ts";
import type { Spare } from "./spare.ts";
import {
  asRuntimeMessage,
  frameParts,
  FrameDecoder,
  type LoadFields,
  OversizedFrame,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_PACKED,
  PROTOCOL_VERSION_ROW_ERRORS,
  ProtocolError,
  type RuntimeInfo,
  type ServerMessage,
} from "./protocol.ts";

export type ReplicaState = "starting" | "ready" | "stopping" | "exited";

export interface PredictResult {
  /** One per row; a RowFailure where the runtime isolated a row the model raised on (protocol version 2). */
  readonly outputs: unknown[];
  readonly predictMicros: number;
  /** How many of `outputs` are RowFailures. */
  readonly failedRows: number;
}

export interface ReplicaOptions {
  readonly id: string;
  /** `name:version` of the model, for messages (`model short:1 returned 1 output for 2 inputs`); the id by default. */
  readonly model?: string;
  readonly command: readonly string[];
  /** Docker runtime: the name of the replica's container. */
  readonly container?: string;
  readonly env?: Record<string, string>;
  /** stderr of the process is appended here. */
  readonly logPath: string;
  /** Largest answer frame accepted; a larger one fails its batch and is skipped. */
  readonly maxResponseBytes?: number;
  /** A batch unanswered this long means the runtime hangs: it is killed (and replaced). */
  readonly predictTimeoutMs?: number;
  /** The model broke the output contract: `message` is what its queries' defaults say. */
  readonly onContractError?: (replica: Replica, message: string) => void;
  /** Called once when the process exits for any reason. */
  readonly onExit?: (replica: Replica, reason: string) => void;
  /** A warm Python worker to adopt instead of spawning `command`, and the model it is to load. */
  readonly spare?: { readonly spare: Spare; readonly load: LoadFields };
}

type Distributive<T> = T extends unknown ? Omit<T, "v" | "id"> : never;
type Pending = { resolve(r: PredictResult): void; reject(e: Error): void; rows: number; timer: Timer | undefined };

const STDERR_TAIL_BYTES = 4096;

export class Replica {
  readonly id: string;
  readonly container: string | undefined;
  state: ReplicaState = "starting";
  info: RuntimeInfo | undefined;
  /** Rows sent and not answered yet: the load measure for least-outstanding-work routing. */
  outstandingRows = 0;
  inflightBatches = 0;
  exitReason: string | undefined;
  /** Set by the hang watchdog before it kills the replica: not ready, and its exit is no crash of the model. */
  hung = false;
  /** performance.now() when the hello arrived. */
  readyAtMs: number | undefined;
  /** The protocol version of predict frames: the hello's (2: per-row errors, 3: packed outputs too), else 1. */
  protocol = PROTOCOL_VERSION;

  readonly #opts: ReplicaOptions;
  readonly #pending = new Map<number, Pending>();
  readonly #decoder: FrameDecoder;
  #proc: Subprocess<"pipe", "pipe", "pipe"> | undefined;
  #nextId = 1;
  #stderrTail = "";
  #ready!: { resolve(info: RuntimeInfo): void; reject(e: Error): void };
  /** Settles after #onExit has run, so callers of stop() see the final state. */
  #exited: Promise<void> = Promise.resolve();
  #markExited: () => void = () => {};
  #stopRequested = false;
  /** The exit reason was set before the process ended: add what it said on stderr by then (what it was doing). */
  #tailWithReason = false;

  constructor(opts: ReplicaOptions) {
    this.id = opts.id;
    this.container = opts.container;
    this.#opts = opts;
    this.#decoder = new FrameDecoder(opts.maxResponseBytes);
  }

  /** True once stop() was called: the exit that follows is expected, not a crash. */
  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  /** True when the replica started from a warm spare (its runtime was loaded ahead). */
  get warm(): boolean {
    return this.#opts.spare !== undefined;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Spawns the process and resolves with its hello once the model is loaded. */
  start(timeoutMs: number): Promise<RuntimeInfo> {
    const ready = new Promise<RuntimeInfo>((resolve, reject) => (this.#ready = { resolve, reject }));
    this.#exited = new Promise((resolve) => (this.#markExited = resolve));
    const onExit = (code: number | null, signal: number | string | null) => this.#onExit(code, signal);
    const adopted = this.#opts.spare;
    const proc = adopted
      ? adopted.spare.adopt(onExit)
      : Bun.spawn([...this.#opts.command], {
          stdin: "pipe",
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, ...this.#opts.env, PYTHONUNBUFFERED: "1" },
          onExit: (_p, code, signal) => onExit(code, signal),
        });
    this.#proc = proc;
    void this.#readFrames(proc.stdout);
    void this.#readStderr(proc.stderr);
    if (adopted) {
      try {
        this.#send({ v: PROTOCOL_VERSION, type: "load", id: 0, ...adopted.load });
      } catch {
        // The spare died as it was adopted: its exit handler reports it.
      }
    }
    const timer = setTimeout(() => {
      this.#fail(`the runtime did not finish loading within ${timeoutMs} ms`);
    }, timeoutMs);
    return ready.finally(() => clearTimeout(timer));
  }

  /** Sends one batch; resolves with one output per row. */
  predict(message: Distributive<Extract<ServerMessage, { type: "predict" }>>, rows: number): Promise<PredictResult> {
    const id = this.#nextId++;
    const ms = this.#opts.predictTimeoutMs;
    const timer = ms ? setTimeout(() => this.#fail(`the runtime did not answer a batch within ${ms} ms (hung?)`), ms) : undefined;
    const promise = new Promise<PredictResult>((resolve, reject) => this.#pending.set(id, { resolve, reject, rows, timer }));
    this.outstandingRows += rows;
    this.inflightBatches++;
    this.#send({ ...message, v: this.protocol, id } as ServerMessage);
    return promise;
  }

  /** Kills the process, recording `reason` as why it exited (what status and the log show). */
  kill(reason: string): void {
    this.#fail(reason);
  }

  /** Asks the runtime to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    this.#stopRequested = true;
    if (!this.#proc || this.state === "exited") return;
    this.state = "stopping";
    try {
      this.#send({ v: PROTOCOL_VERSION, type: "shutdown", id: 0 });
      this.#proc.stdin.end();
    } catch {
      // The pipe may already be closed; the kill below settles it.
    }
    const timer = setTimeout(() => this.#proc?.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** The last lines the runtime wrote to stderr, for error messages. */
  stderrTail(): string {
    return this.#stderrTail.trim();
  }

  /**
   * Writes one frame. A runtime that died meanwhile (EPIPE, now or when the flush completes) must not crash
   * the server: it is killed (if not dead yet) and its exit handler settles everything it had.
   */
  #send(message: ServerMessage): void {
    const sink = this.#proc!.stdin;
    try {
      for (const part of frameParts(message)) sink.write(part);
      const flushed = sink.flush();
      // The exit that follows gives the reason (its code and last stderr lines), so none is set here.
      if (flushed instanceof Promise) flushed.catch(() => this.#proc?.kill("SIGKILL"));
    } catch {
      this.#proc?.kill("SIGKILL");
    }
  }

  async #readFrames(stdout: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of stdout) {
        for (const raw of this.#decoder.push(chunk)) this.#handle(raw);
      }
    } catch (err) {
      const why = err instanceof ProtocolError ? `protocol error: ${err.message}` : `stdout read failed: ${String(err)}`;
      this.#tailWithReason = true;
      this.#fail(why);
    }
  }

  async #readStderr(stderr: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stderr) {
      const text = decoder.decode(chunk, { stream: true });
      this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL_BYTES);
      try {
        appendFileSync(this.#opts.logPath, text);
      } catch {
        // Logging must never take a replica down.
      }
    }
  }

  #handle(raw: unknown): void {
    if (raw instanceof OversizedFrame) {
      // Runtimes answer batches in order, so the skipped answer belongs to the oldest batch.
      const oldest = this.#pending.keys().next();
      if (!oldest.done) {
        this.#take(oldest.value)!.reject(
          new RuntimeFailure(
            `the runtime's answer of ${raw.bytes} bytes is over the limit of ${this.#opts.maxResponseBytes} bytes`,
            "return smaller outputs or raise CLIPPER_MAX_RESPONSE_BYTES",
          ),
        );
      }
      return;
    }
    const msg = asRuntimeMessage(raw);
    switch (msg.type) {
      case "hello":
        if (this.state === "starting") {
          this.state = "ready";
          this.readyAtMs = performance.now();
          this.info = msg.runtime;
          const spoken = msg.runtime.protocol;
          if (spoken === PROTOCOL_VERSION_ROW_ERRORS || spoken === PROTOCOL_VERSION_PACKED) this.protocol = spoken;
          this.#ready.resolve(msg.runtime);
        }
        return;
      case "result": {
        const outputs = "tensor" in msg ? packedOutputs(msg.tensor) : msg.outputs;
        // Checked before the batch is taken: a malformed list kills the replica, which rejects the batch with the rest.
        const rowErrors = "row_errors" in msg ? msg.row_errors : undefined;
        const failedRows = rowErrors === undefined ? 0 : rowFailures(outputs, rowErrors);
        const p = this.#take(msg.id);
        if (!p) return;
        const broken = contractBreak(outputs, p.rows);
        if (broken !== undefined) {
          p.reject(this.#contractError(broken));
          return;
        }
        const micros = (msg as { predict_micros?: unknown }).predict_micros;
        p.resolve({ outputs, predictMicros: typeof micros === "number" ? micros : 0, failedRows });
        return;
      }
      case "error": {
        if (msg.fatal || this.state === "starting") {
          this.#fail(msg.message);
          return;
        }
        const p = this.#take(msg.id);
        if (!p) return;
        p.reject(msg.contract === true ? this.#contractError(msg.message) : new ModelRaisedError(`the model raised: ${msg.message}`));
        return;
      }
      case "pong":
        return;
    }
  }

  /** The model broke the output contract: said once per batch, the same way for every runtime kind. */
  #contractError(what: string): ModelContractError {
    const message = `model ${this.#opts.model ?? this.id} ${what}`;
    this.#opts.onContractError?.(this, message);
    return new ModelContractError(message, "a model's predict must return one output per input: a list as long as its inputs");
  }

  #take(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (!p) return undefined;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    this.outstandingRows -= p.rows;
    this.inflightBatches--;
    return p;
  }

  /** Kills the process; the exit handler rejects everything outstanding with `reason`. */
  #fail(reason: string): void {
    if (this.exitReason === undefined) this.exitReason = reason;
    this.#proc?.kill("SIGKILL");
  }

  #onExit(code: number | null, signal: number | null | string): void {
    const wasStopping = this.#stopRequested;
    this.state = "exited";
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const tail = this.stderrTail().split("\n").slice(-3).join(" | ");
    const reason =
      this.exitReason !== undefined
        ? `${this.exitReason}${this.#tailWithReason && tail ? `; its stderr: ${tail}` : ""}`
        : wasStopping
          ? "replica stopped"
          : `the runtime ${how}${tail ? `: ${tail}` : ""}`;
    this.exitReason = reason;
    const error = new ReplicaExitError(reason);
    this.#ready?.reject(error);
    for (const id of [...this.#pending.keys()]) this.#take(id)?.reject(error);
    this.#opts.onExit?.(this, reason);
    this.#markExited();
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * What breaks the output contract in a runtime's answer (docs/runtime-protocol.md), or undefined: not a list
 * as long as the batch, or an output that is nil or NaN (a runtime answers such a model's batch with a
 * `contract` error itself; this catches runtimes that pass the model's answer on as it is).
 */
function contractBreak(outputs: unknown, rows: number): string | undefined {
  if (!Array.isArray(outputs)) return `returned no list of outputs for ${plural(rows, "input")}`;
  if (outputs.length !== rows) return `returned ${plural(outputs.length, "output")} for ${plural(rows, "input")}`;
  for (let i = 0; i < rows; i++) {
    const o = outputs[i];
    if (o === null || o === undefined) return `returned nothing (nil) for input ${i + 1} of ${rows}`;
    if (typeof o === "number" && Number.isNaN(o)) return `returned NaN for input ${i + 1} of ${rows}`;
  }
  return undefined;
}

/**
 * A version 3 `tensor` as the batch's outputs, one TensorRow each (its bytes copied once, never expanded); a
 * tensor that is not [rows] or [rows, k] of a known dtype with exactly its bytes is a protocol error. NaN breaks
 * the output contract as it does in a list (contractBreak then says which row).
 */
function packedOutputs(t: unknown): unknown[] {
  const { dtype, shape, data } = (typeof t === "object" && t !== null ? t : {}) as { dtype?: unknown; shape?: unknown; data?: unknown };
  const Typed = typeof dtype === "string" && Object.hasOwn(OUTPUT_DTYPES, dtype) ? OUTPUT_DTYPES[dtype as OutputDtype] : undefined;
  const dims =
    Array.isArray(shape) && (shape.length === 1 || shape.length === 2) && shape.every((d) => Number.isSafeInteger(d) && d >= 0)
      ? (shape as number[])
      : undefined;
  if (!Typed || !dims || !(data instanceof Uint8Array) || data.length !== dims[0]! * (dims[1] ?? 1) * Typed.BYTES_PER_ELEMENT) {
    throw new ProtocolError("'tensor' must be {dtype, shape: [rows] or [rows, k], data: rows·k little-endian values}");
  }
  const tensor = new OutputTensor(dtype as OutputDtype, dims[0]!, dims.length === 2 ? dims[1]! : 0, data);
  const outputs: unknown[] = new Array(tensor.rows);
  const floats = dtype === "f8" || dtype === "f4";
  const per = tensor.perRow;
  for (let r = 0; r < tensor.rows; r++) {
    let nan = false;
    if (floats) for (let c = 0; c < per; c++) nan ||= Number.isNaN(tensor.values[r * per + c]);
    outputs[r] = nan ? Number.NaN : new TensorRow(tensor, r);
  }
  return outputs;
}

/** Puts a RowFailure where the runtime isolated a row (version 2's `row_errors`); returns how many. */
function rowFailures(outputs: unknown[], rowErrors: unknown): number {
  if (!Array.isArray(rowErrors) || !Array.isArray(outputs)) throw new ProtocolError("'row_errors' must be a list of [row, message] pairs");
  for (const e of rowErrors) {
    const row = Array.isArray(e) ? e[0] : undefined;
    if (typeof row !== "number" || !Number.isInteger(row) || row < 0 || row >= outputs.length || typeof e[1] !== "string") {
      throw new ProtocolError(`'row_errors' holds ${JSON.stringify(e)}, not a [row, message] pair within the batch`);
    }
    outputs[row] = new RowFailure(`the model raised: ${e[1]}`);
  }
  return rowErrors.length;
}
