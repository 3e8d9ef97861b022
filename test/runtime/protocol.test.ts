import { describe, expect, it } from "bun:test";
import { asRuntimeMessage, encodeFrame, FrameDecoder, frameParts, ProtocolError } from "../../src/runtime/protocol.ts";

describe("frames", () => {
  it("decodes frames split across chunks and several frames in one chunk", () => {
    const a = encodeFrame({ v: 1, type: "pong", id: 1 });
    const b = encodeFrame({ v: 1, type: "result", id: 2, outputs: ["1", { x: [1, 2] }] });
    const joined = new Uint8Array([...a, ...b]);
    const d = new FrameDecoder();
    const seen: unknown[] = [];
    for (let i = 0; i < joined.length; i += 3) seen.push(...d.push(joined.subarray(i, i + 3)));
    expect(seen).toEqual([
      { v: 1, type: "pong", id: 1 },
      { v: 1, type: "result", id: 2, outputs: ["1", { x: [1, 2] }] },
    ]);
  });

  it("calls a giant length prefix garbage", () => {
    const d = new FrameDecoder();
    expect(() => d.push(new TextEncoder().encode("Traceback (most recent call last)"))).toThrow(ProtocolError);
  });

  it("rejects another protocol version and unknown types", () => {
    expect(() => asRuntimeMessage({ v: 4, type: "hello", id: 0 })).toThrow("protocol version 4 is not supported");
    expect(asRuntimeMessage({ v: 3, type: "result", id: 1, tensor: { dtype: "f8", shape: [0], data: new Uint8Array(0) } }).type).toBe("result");
    expect(asRuntimeMessage({ v: 2, type: "result", id: 1, outputs: [] }).type).toBe("result");
    expect(() => asRuntimeMessage({ v: 1, type: "bogus", id: 0 })).toThrow("unknown message type 'bogus'");
    expect(() => asRuntimeMessage("x")).toThrow("not a msgpack map");
  });

  it("sends a predict's packed rows as their own part, and the parts decode as the whole frame does", () => {
    const rows = new Float64Array(384 * 5).map((_, i) => i / 7);
    const data = new Uint8Array(rows.buffer);
    const message = { v: 3, type: "predict" as const, id: 9, input_type: "doubles" as const, shape: [384, 5] as [number, number], dtype: "f8" as const, data };
    const parts = frameParts(message);
    expect(parts.length).toBe(2);
    expect(parts[1]).toBe(data);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    // The same message as the whole frame decodes to (the rows' bytes as a bin 32 where msgpackr may write a bin 16).
    const [decoded] = new FrameDecoder().push(joined) as { data: Uint8Array }[];
    const [whole] = new FrameDecoder().push(encodeFrame(message)) as { data: Uint8Array }[];
    expect(decoded).toEqual(whole!);
    expect(new Float64Array(new Uint8Array(decoded!.data).buffer)).toEqual(rows);
  });

  it("sends a small predict, a list of inputs and other messages as one part", () => {
    const small = {
      v: 3,
      type: "predict" as const,
      id: 1,
      input_type: "doubles" as const,
      shape: [1, 5] as [number, number],
      dtype: "f8" as const,
      data: new Uint8Array(40),
    };
    expect(frameParts(small)).toEqual([encodeFrame(small)]);
    const list = { v: 3, type: "predict" as const, id: 2, input_type: "strings" as const, inputs: ["a", "b"] };
    expect(frameParts(list)).toEqual([encodeFrame(list)]);
    expect(frameParts({ v: 1, type: "ping", id: 3 })).toEqual([encodeFrame({ v: 1, type: "ping", id: 3 })]);
  });
});
