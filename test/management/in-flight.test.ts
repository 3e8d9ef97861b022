/** References held by operations in flight and uploads' leases: a deploy ends one lease, not another client's. */
import { describe, expect, it } from "bun:test";
import { InFlight } from "../../src/management/ports.ts";

describe("InFlight", () => {
  it("counts holds, and says when the last one goes", () => {
    const refs = new InFlight();
    const released: string[] = [];
    refs.onReleased = (n) => void released.push(n);
    const a = refs.hold("x");
    const b = refs.hold("x", undefined);
    expect(refs.count("x")).toBe(2);
    a();
    a();
    expect(refs.count("x")).toBe(1);
    expect(released).toEqual([]);
    b();
    expect(refs.has("x")).toBe(false);
    expect(released).toEqual(["x"]);
  });

  it("ends one upload's lease per claim: two clients uploading the same bytes keep one lease for the second deploy", () => {
    const refs = new InFlight();
    refs.lease("x", 60_000);
    refs.lease("x", 60_000);
    const deployA = refs.hold("x");
    refs.claim("x");
    expect(refs.count("x")).toBe(2);
    expect(refs.heldByOperation("x")).toBe(true);
    deployA();
    // Deploy A failed and let go: B's upload still holds the artifact for B's deploy.
    expect(refs.has("x")).toBe(true);
    expect(refs.heldByOperation("x")).toBe(false);
    refs.claim("x");
    expect(refs.has("x")).toBe(false);
  });
});
