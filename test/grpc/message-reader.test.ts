import { describe, expect, it } from "bun:test";
import { MessageReader } from "../../src/grpc/message-reader.ts";

const framed = (message: Uint8Array) => {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
};

describe("gRPC message reader", () => {
  it("gathers a message split anywhere, even inside the prefix, into the frame it declared", () => {
    const message = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 255));
    const frame = framed(message);
    for (const size of [1, 3, 7, 1000, 2000]) {
      const reader = new MessageReader(4096);
      for (let at = 0; at < frame.length; at += size) expect(reader.push(frame.subarray(at, at + size)).kind).toBe("more");
      const read = reader.finish();
      expect("frame" in read && Buffer.compare(read.frame, frame)).toBe(0);
    }
  });

  it("refuses a declared length over the limit before reading the body", () => {
    const reader = new MessageReader(10);
    expect(reader.push(Buffer.from([0, 0, 0, 0, 11])).kind).toBe("too-large");
  });

  it("says how many bytes came when they are fewer or more than declared", () => {
    const short = new MessageReader(100);
    short.push(framed(Buffer.alloc(10)).subarray(0, 8));
    expect(short.finish()).toEqual({ error: "a unary call carries one message of 10 bytes, got 3 bytes after its prefix" });
    const long = new MessageReader(100);
    long.push(Buffer.concat([framed(Buffer.alloc(2)), Buffer.alloc(4)]));
    expect(long.finish()).toEqual({ error: "a unary call carries one message of 2 bytes, got 6 bytes after its prefix" });
    const tiny = new MessageReader(100);
    tiny.push(Buffer.from([0, 0]));
    expect(tiny.finish()).toEqual({ error: "a unary call carries one message, got 2 bytes" });
  });
});
