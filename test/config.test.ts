import { describe, expect, it } from "bun:test";
import { buildConfig } from "../src/config.ts";

describe("buildConfig", () => {
  it("takes flags over CLIPPER_* variables over defaults", () => {
    const c = buildConfig({ queryPort: "2000" }, { CLIPPER_QUERY_PORT: "3000", CLIPPER_MGMT_PORT: "3001" });
    expect(c.queryPort).toBe(2000);
    expect(c.mgmtPort).toBe(3001);
    expect(c.host).toBe("127.0.0.1");
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("names the setting that is out of range", () => {
    expect(() => buildConfig({ queryPort: "70000" }, {})).toThrow("queryPort (CLIPPER_QUERY_PORT) must be a whole number from 0 to 65535, got '70000'");
  });
});
