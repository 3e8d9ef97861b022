import { describe, expect, it } from "bun:test";
import type { ModelRecord } from "../../src/registry/registry.ts";
import { dockerCommand, launchCommand } from "../../src/runtime/kinds.ts";

const model = (over: Partial<ModelRecord>): ModelRecord => ({
  name: "m",
  version: "2",
  inputType: "doubles",
  runtime: "python",
  artifactSha256: "a".repeat(64),
  artifactName: "m.pkl",
  predictMethod: "predict",
  replicas: 1,
  runtimeInfo: {},
  options: {},
  isCurrent: true,
  createdAt: "",
  ...over,
});
const ctx = { python: "/py", pythonWorker: "/w.py", self: ["/clipper"], artifactPath: "/d/artifacts/x" };

describe("launchCommand", () => {
  it("starts the Python worker, as a module for .py files", () => {
    expect(launchCommand(model({}), ctx)).toEqual(["/py", "/w.py", "--artifact", "/d/artifacts/x", "--predict-method", "predict"]);
    expect(launchCommand(model({ artifactName: "m.py" }), ctx).at(-1)).toBe("--module");
  });

  it("starts the Node runtime with this binary", () => {
    expect(launchCommand(model({ runtime: "node" }), ctx)).toEqual(["/clipper", "runtime", "node", "--artifact", "/d/artifacts/x"]);
  });
});

describe("dockerCommand", () => {
  it("passes resource flags through and mounts the artifact read-only", () => {
    expect(dockerCommand(model({ runtime: "docker", options: { image: "img:1", cpus: "2", memory: "1g" } }), "/a")).toEqual([
      "docker",
      "run",
      "-i",
      "--rm",
      "--init",
      "--pull",
      "never",
      "--log-driver",
      "none",
      "--cpus",
      "2",
      "--memory",
      "1g",
      "--label",
      "clipper.model=m",
      "--label",
      "clipper.version=2",
      "-v",
      "/a:/model/artifact:ro",
      "img:1",
      "--artifact",
      "/model/artifact",
      "--predict-method",
      "predict",
    ]);
  });

  it("names the container and labels it with the data directory and replica", () => {
    const argv = dockerCommand(model({ runtime: "docker", options: { image: "img:1" } }), undefined, {
      name: "clipper-x-m-2-1-abc",
      dataDir: "/d",
      replicaId: "m:2#1",
    });
    expect(argv.slice(argv.indexOf("--name"), -1)).toEqual([
      "--name",
      "clipper-x-m-2-1-abc",
      "--label",
      "clipper.data-dir=/d",
      "--label",
      "clipper.replica=m:2#1",
      "--label",
      "clipper.model=m",
      "--label",
      "clipper.version=2",
    ]);
  });

  it("runs an image on its own when there is no artifact", () => {
    expect(dockerCommand(model({ runtime: "docker", options: { image: "img:1" } }), undefined).slice(-2)).toEqual(["clipper.version=2", "img:1"]);
  });
});
