/** Reading a container's memory: `docker stats` figures, and the memory cgroup of a process from /proc. */
import { describe, expect, it } from "bun:test";
import { existsSync } from "node:fs";
import { memoryCgroupDir, statsMb } from "../../src/runtime/docker.ts";

describe("container memory", () => {
  it("reads docker stats' usage column in MiB", () => {
    expect(statsMb("992KiB / 23.54GiB")).toBeCloseTo(992 / 1024, 5);
    expect(statsMb("212.5MiB / 1GiB")).toBe(212.5);
    expect(statsMb("1.5GiB / 2GiB")).toBe(1536);
    expect(statsMb("512B / 1GiB")).toBeCloseTo(512 / 1048576, 9);
    expect(statsMb("--")).toBeUndefined();
  });

  it("finds this process's own memory cgroup (v1 memory controller or v2), or says it cannot", () => {
    const dir = memoryCgroupDir(process.pid);
    if (dir !== undefined) expect(existsSync(dir)).toBe(true);
    expect(memoryCgroupDir(2 ** 30)).toBeUndefined();
  });
});
