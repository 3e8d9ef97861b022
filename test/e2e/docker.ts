/** Test helpers for the real Docker engine: is one answering, is an image there, run the docker CLI. */
import { spawnSync } from "node:child_process";
import { missingRequirement } from "../provisioned.ts";

/** The image `scripts/image` builds and the Docker runtime tests deploy (CLIPPER_TEST_RUNTIME_IMAGE: another tag of it). */
export const RUNTIME_IMAGE = process.env.CLIPPER_TEST_RUNTIME_IMAGE || "clipper/python-runtime:latest";
export const SERVER_IMAGE = "clipper:latest";

/** Runs the docker CLI; never throws (a missing CLI is exit code 127). */
export function docker(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("docker", args, { encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? 127, stdout: (r.stdout ?? "").trim(), stderr: (r.stderr ?? "").trim() };
}

/** Why the Docker tests cannot run here, or undefined when an engine answers and `images` are built (in CI: throws). */
export function dockerMissing(...images: string[]): string | undefined {
  if (docker("info").code !== 0) return missingRequirement("no Docker engine answers `docker info` (scripts/test starts one: scripts/lib/docker-engine start)");
  const absent = images.filter((i) => docker("image", "inspect", i).code !== 0);
  return missingRequirement(absent.length ? `image ${absent.join(", ")} is not built (scripts/image builds it)` : undefined);
}

/** `docker inspect` of one container as JSON, or undefined when it does not exist. */
export function inspect(container: string): any | undefined {
  const r = docker("inspect", container);
  return r.code === 0 ? JSON.parse(r.stdout)[0] : undefined;
}

/** Names of the containers (running or not) carrying `label=value`. */
export function containersLabelled(label: string, value: string): string[] {
  const r = docker("ps", "-a", "--filter", `label=${label}=${value}`, "--format", "{{.Names}}");
  return r.stdout ? r.stdout.split("\n") : [];
}

/** The replicas' containers of a data directory, without the warm spares (`--docker-spares`, labelled `clipper.replica=<model>#spare`). */
export function replicaContainers(dataDir: string): string[] {
  const r = docker("ps", "-a", "--filter", `label=clipper.data-dir=${dataDir}`, "--format", '{{.Names}} {{.Label "clipper.replica"}}');
  if (!r.stdout) return [];
  return r.stdout
    .split("\n")
    .filter((line) => !line.endsWith("#spare"))
    .map((line) => line.split(" ")[0]!);
}
