import { describe, expect, it } from "bun:test";
import { asRuntimeMessage, encodeFrame, FrameDecoder, ProtocolError } from "../../src/runtime/protocol.ts";

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
});
