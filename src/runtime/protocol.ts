/**
 * The runtime wire protocol, versions 1 to 3 (docs/runtime-protocol.md is the contract).
 * Each frame is a 4-byte little-endian unsigned length followed by that many bytes of one msgpack map.
 * Version 2 adds per-row errors: a runtime whose hello says `protocol: 2` is sent `v: 2` predicts and may
 * answer them with a `result` carrying `row_errors`; frames before the hello are always version 1. Version 3
 * adds packed outputs: a `result` may carry `tensor` (dtype, shape, bytes) instead of `outputs`.
 */
import { Packr, Unpackr } from "msgpackr";

/** The version of the frames before a hello (and to runtimes that speak only it). */
export const PROTOCOL_VERSION = 1;
/** Per-row errors in a `result`. */
export const PROTOCOL_VERSION_ROW_ERRORS = 2;
/** Packed outputs: a `result` with `tensor` instead of `outputs`. The newest version this server speaks. */
export const PROTOCOL_VERSION_PACKED = 3;
/** A frame larger than this is treated as garbage and the replica is killed. */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

import type { InputType } from "../domain.ts";

export type { InputType };

/** Numeric rows travel as one packed little-endian buffer plus a shape; others as a list. */
export type PredictRequest = {
  v: number;
  type: "predict";
  id: number;
  input_type: InputType;
} & ({ shape: [number, number]; dtype: "f8" | "f4" | "i4"; data: Uint8Array } | { inputs: unknown[] });

export type ServerMessage =
  | PredictRequest
  | { v: number; type: "ping"; id: number }
  /** To a Python worker started with --standby only: the model to load (it then says hello as usual). */
  | ({ v: number; type: "load"; id: number } & LoadFields)
  | { v: number; type: "shutdown"; id: number };

export interface RuntimeInfo {
  readonly [key: string]: unknown;
}

export type RuntimeMessage =
  | { v: number; type: "hello"; id: number; runtime: RuntimeInfo }
  /** `row_errors` (version 2): `[row, message]` for each row the model raised on alone; its output is nil. */
  | { v: number; type: "result"; id: number; outputs: unknown[]; row_errors?: [number, string][] }
  /** `tensor` (version 3): the outputs as one packed little-endian array of shape [rows] or [rows, k]. */
  | { v: number; type: "result"; id: number; tensor: { dtype: string; shape: number[]; data: Uint8Array } }
  /** `contract` (version 2): the model broke the output contract (not an input problem: never split). */
  | { v: number; type: "error"; id: number; message: string; fatal?: boolean; contract?: boolean }
  | { v: number; type: "pong"; id: number };

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Encodes one message as a complete frame (length prefix included). */
export function encodeFrame(message: ServerMessage | RuntimeMessage): Uint8Array {
  const body = packr.pack(message);
  const n = body.length;
  const frame = new Uint8Array(4 + n);
  putLength(frame, n);
  frame.set(body, 4);
  return frame;
}

/** A frame's length prefix (uint32, little-endian) into its first 4 bytes. */
function putLength(frame: Uint8Array, n: number): void {
  // Bytes written one by one: a DataView would need the typed array's .buffer, which JSC materializes at a cost.
  frame[0] = n & 0xff;
  frame[1] = (n >>> 8) & 0xff;
  frame[2] = (n >>> 16) & 0xff;
  frame[3] = n >>> 24;
}

/** A predict's packed rows at least this long go as their own part of the frame (frameParts), not copied into it. */
const OWN_PART_BYTES = 1024;

/**
 * One message's frame as the parts to write in turn: a predict's packed `data` (its rows' bytes) is the last part
 * as it is, after the length prefix, the rest of the map and the `data` key with its bin32 header; any other
 * message is one part (encodeFrame). Bun copies one Uint8Array into another at an unaligned offset a byte at
 * a time (12-25 µs for a batch of 15 KB against 0.2 µs aligned), and the rows' bytes are most of a predict frame.
 */
export function frameParts(message: ServerMessage): Uint8Array[] {
  const data = "data" in message ? message.data : undefined;
  if (!(data instanceof Uint8Array) || data.length < OWN_PART_BYTES) return [encodeFrame(message)];
  const { data: _, ...rest } = message as { data: Uint8Array };
  const head = packr.pack(rest);
  // The map (msgpackr writes a map 16; a fixmap would do too) gains the one key; anything else is encoded whole.
  const fixmap = head[0]! >= 0x80 && head[0]! < 0x8f;
  if (!fixmap && !(head[0] === 0xde && (head[1]! << 8) + head[2]! < 0xffff)) return [encodeFrame(message)];
  const prefix = new Uint8Array(4 + head.length + DATA_KEY.length + 5);
  putLength(prefix, prefix.length - 4 + data.length);
  prefix.set(head, 4);
  if (fixmap) {
    prefix[4] = head[0]! + 1;
  } else {
    const keys = (head[1]! << 8) + head[2]! + 1;
    prefix[5] = keys >>> 8;
    prefix[6] = keys & 0xff;
  }
  let at = 4 + head.length;
  prefix.set(DATA_KEY, at);
  at += DATA_KEY.length;
  // bin 32: 0xc6 and the length, big-endian.
  prefix[at] = 0xc6;
  prefix[at + 1] = data.length >>> 24;
  prefix[at + 2] = (data.length >>> 16) & 0xff;
  prefix[at + 3] = (data.length >>> 8) & 0xff;
  prefix[at + 4] = data.length & 0xff;
  return [prefix, data];
}

/** "data" as a msgpack fixstr. */
const DATA_KEY = new Uint8Array([0xa4, 0x64, 0x61, 0x74, 0x61]);

export class ProtocolError extends Error {}

/** Stands in the decoded stream for a well-formed frame that was over the size limit and was skipped. */
export class OversizedFrame {
  constructor(readonly bytes: number) {}
}

/** True when `byte` can start a msgpack map (fixmap, map16, map32): every frame body does. */
const startsMap = (byte: number) => (byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf;

/**
 * Incremental frame reader: feed it chunks, it hands back whole decoded messages. A frame over
 * `maxFrameBytes` whose body starts like a msgpack map is skipped and reported as an OversizedFrame;
 * anything else malformed throws ProtocolError (the stream cannot be trusted any more).
 */
export class FrameDecoder {
  #pending: Uint8Array = new Uint8Array(0);
  /** Bytes of an oversized frame still to be discarded. */
  #skip = 0;
  readonly #maxFrameBytes: number;

  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Returns every complete message in the buffered bytes; throws ProtocolError on garbage. */
  push(chunk: Uint8Array): unknown[] {
    if (this.#skip > 0) {
      const n = Math.min(this.#skip, chunk.length);
      this.#skip -= n;
      chunk = chunk.subarray(n);
      if (chunk.length === 0) return [];
    }
    let buf: Uint8Array;
    if (this.#pending.length === 0) {
      buf = chunk;
    } else {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending, 0);
      buf.set(chunk, this.#pending.length);
    }
    const out: unknown[] = [];
    let offset = 0;
    while (buf.length - offset >= 4) {
      const length = (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16)) + buf[offset + 3]! * 0x1000000;
      if (length > this.#maxFrameBytes) {
        if (buf.length - offset < 5) break;
        if (length > MAX_FRAME_BYTES || !startsMap(buf[offset + 4]!)) {
          throw new ProtocolError(`a frame of ${length} bytes that is not a msgpack map (garbage on stdout?)`);
        }
        out.push(new OversizedFrame(length));
        const available = buf.length - offset - 4;
        if (available < length) {
          this.#skip = length - available;
          offset = buf.length;
          break;
        }
        offset += 4 + length;
        continue;
      }
      if (buf.length - offset - 4 < length) break;
      const body = buf.subarray(offset + 4, offset + 4 + length);
      offset += 4 + length;
      if (length === 0 || !startsMap(body[0]!)) throw new ProtocolError("a frame that is not a msgpack map (garbage on stdout?)");
      let message: unknown;
      try {
        message = unpackr.unpack(body);
      } catch (err) {
        throw new ProtocolError(`undecodable msgpack frame: ${(err as Error).message}`);
      }
      out.push(message);
    }
    // Copy the remainder so the caller's chunk can be reused.
    this.#pending = offset >= buf.length ? new Uint8Array(0) : buf.slice(offset);
    return out;
  }
}

/** Checks that a decoded value is a runtime message of this protocol version. */
export function asRuntimeMessage(value: unknown): RuntimeMessage {
  if (typeof value !== "object" || value === null) throw new ProtocolError("frame is not a msgpack map");
  const m = value as { v?: unknown; type?: unknown; id?: unknown };
  if (m.v !== PROTOCOL_VERSION && m.v !== PROTOCOL_VERSION_ROW_ERRORS && m.v !== PROTOCOL_VERSION_PACKED) {
    throw new ProtocolError(`protocol version ${String(m.v)} is not supported (this server speaks ${PROTOCOL_VERSION} to ${PROTOCOL_VERSION_PACKED})`);
  }
  if (typeof m.type !== "string" || typeof m.id !== "number") {
    throw new ProtocolError("frame lacks a string 'type' and a numeric 'id'");
  }
  switch (m.type) {
    case "hello":
    case "result":
    case "error":
    case "pong":
      return value as RuntimeMessage;
    default:
      throw new ProtocolError(`unknown message type '${m.type}'`);
  }
}

/** What a `load` frame names: the model a warm spare loads, as a cold start's command line would have said it. */
export interface LoadFields {
  artifact: string;
  predict_method: string;
  module: boolean;
  /** A model format and its loader's options (--format, --threads, --input-shape, --output). */
  format?: string;
  threads?: number;
  input_shape?: readonly number[];
  output?: string;
  /** Packages whose versions the hello reports (CLIPPER_REPORT_PACKAGES of a cold start). */
  report_packages?: readonly string[];
}
