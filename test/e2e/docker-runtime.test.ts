/**
 * The Docker runtime on a real engine, beyond the shared runtime contract: resource flags, names and labels
 * reach the container; containers go when their model stops and when a restarted server sweeps what a
 * SIGKILLed one left; a memory limit that kills replicas ends in "failed"; a bad image fails the deploy with
 * its name and its own last words, registering nothing; an engine that goes away leaves the server up,
 * answering defaults with the reason, until the engine is back.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server as Server_, type Socket } from "node:net";
import { join } from "node:path";
import { containersLabelled, docker, dockerMissing, inspect, replicaContainers, RUNTIME_IMAGE } from "./docker.ts";
import { cleanup, makeFixtures, type Server, shutdown, startServer, tempDir, waitFor } from "./harness.ts";

const missing = dockerMissing(RUNTIME_IMAGE);
if (missing) console.log(`Docker runtime tests skipped: ${missing}`);
const fx = makeFixtures();
const portable = (name: string) => join(fx.dir, "portable", `${name}.pkl`);

interface Container {
  model_name: string;
  state: string;
  container: string | null;
  replica_id: string;
}

describe.skipIf(missing !== undefined)("Docker runtime on a real engine", () => {
  let server: Server;
  const badImages: string[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await shutdown(server);
    if (badImages.length) docker("rmi", "--force", ...badImages);
  });

  const containers = async (model: string): Promise<Container[]> =>
    (await server.admin("get_all_containers", {})).json.filter((c: Container) => c.model_name === model);

  it("runs each replica in its own named, labelled container with --cpus and --memory applied", async () => {
    await server.cliOk(
      "deploy",
      portable("sum"),
      "--image",
      RUNTIME_IMAGE,
      "--name",
      "dsum",
      "--replicas",
      "2",
      "--cpus",
      "0.5",
      "--memory",
      "256m",
      "--input-type",
      "integers",
    );
    expect((await server.predict("dsum", { input: [2, 3] })).json).toMatchObject({ output: "5", default: false });
    const replicas = await containers("dsum");
    expect(replicas).toHaveLength(2);
    expect(new Set(replicas.map((r) => r.container)).size).toBe(2);
    for (const r of replicas) {
      const c = inspect(r.container!);
      expect(c.State.Running).toBe(true);
      expect(c.Config.Image).toBe(RUNTIME_IMAGE);
      expect(c.HostConfig.NanoCpus).toBe(500_000_000);
      expect(c.HostConfig.Memory).toBe(256 * 1024 * 1024);
      expect(c.Config.Labels).toMatchObject({
        "clipper.model": "dsum",
        "clipper.version": "1",
        "clipper.replica": r.replica_id,
        "clipper.data-dir": server.dataDir,
      });
      expect(c.Mounts.map((m: { Destination: string; RW: boolean }) => [m.Destination, m.RW])).toEqual([["/model/artifact", false]]);
    }
  });

  it("removes the containers when the model is stopped", async () => {
    const names = (await containers("dsum")).map((r) => r.container!);
    await server.cliOk("stop", "dsum");
    const gone = await waitFor(() => (names.every((n) => inspect(n) === undefined) ? true : undefined), 15_000);
    expect(gone).toBe(true);
  });

  it("replaces a container its memory limit kills, then marks the version failed with the reason", async () => {
    await server.cliOk("deploy", portable("hog"), "--image", RUNTIME_IMAGE, "--name", "dhog", "--memory", "96m", "--default-output", "fallback");
    const status = await waitFor(async () => {
      const { json } = await server.predict("dhog", { input: [1] });
      expect(json).toMatchObject({ output: "fallback", default: true });
      const m = (await server.admin("status")).json.models.find((x: { model_name: string }) => x.model_name === "dhog");
      return m.state === "failed" ? m : undefined;
    }, 90_000);
    expect(status).toBeDefined();
    expect(status.last_error).toContain("exited with code 137");
    expect(status.last_error).toContain("--memory 96m");
    const metrics = await (await fetch(`${server.queryUrl}/metrics`, { headers: { accept: "text/plain" } })).text();
    const restarts = Number(/clipper_replica_restarts_total\{model="dhog:1"\} (\d+)/.exec(metrics)?.[1]);
    expect(restarts).toBeGreaterThanOrEqual(3);
  }, 120_000);

  /** A throwaway image on top of the runtime image whose entrypoint misbehaves. */
  function badImage(tag: string, script: string): string {
    const dir = tempDir("clipper-bad-image-");
    writeFileSync(join(dir, "Dockerfile"), `FROM ${RUNTIME_IMAGE}\nENTRYPOINT ["/bin/sh", "-c", ${JSON.stringify(script)}]\n`);
    const r = docker("build", "--quiet", "--tag", tag, dir);
    cleanup(dir);
    if (r.code !== 0) throw new Error(`docker build ${tag} failed: ${r.stderr}`);
    badImages.push(tag);
    return tag;
  }

  async function expectDeployRefused(image: string, ...said: string[]) {
    const res = await server.cli("deploy", portable("sum"), "--image", image, "--name", "dbad", "--url", "$MGMT");
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`image ${image}`);
    for (const s of said) expect(res.stderr).toContain(s);
    expect((await server.admin("get_all_models", {})).json).not.toContain("dbad:1");
    expect(containersLabelled("clipper.model", "dbad").filter((n) => inspect(n)?.State.Running)).toEqual([]);
  }

  it("refuses an image that does not exist, naming it, without waiting on a registry", async () => {
    const started = performance.now();
    await expectDeployRefused("clipper-test/no-such-image:1", "No such image");
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it("refuses an image whose entrypoint exits at once, with its last stderr lines", async () => {
    await expectDeployRefused(
      badImage("clipper-test/exits:1", "echo 'cannot start: no model here' >&2; exit 3"),
      "exited with code 3",
      "cannot start: no model here",
    );
  });

  it("refuses an image that writes garbage to stdout, with its last stderr lines", async () => {
    await expectDeployRefused(
      badImage("clipper-test/garbage:1", "echo 'about to misbehave' >&2; sleep 0.5; while true; do echo garbage garbage garbage; sleep 0.1; done"),
      "protocol",
      "about to misbehave",
    );
  });
});

describe.skipIf(missing !== undefined)("a restarted server and the containers of the one before", () => {
  it("removes the containers a SIGKILLed server left running, and starts its models afresh", async () => {
    const dataDir = tempDir();
    mkdirSync(dataDir, { recursive: true });
    let server = await startServer({ dataDir });
    await server.cliOk("deploy", portable("hang"), "--image", RUNTIME_IMAGE, "--name", "dhang");
    // A query the model never answers: its container is busy, not waiting on a stdin that would close.
    void server.predict("dhang", { input: [1] }).catch(() => "the server is SIGKILLed below");
    const busy = await waitFor(async () => ((await server.admin("get_all_containers", {})).json[0]?.outstanding_rows > 0 ? true : undefined));
    expect(busy).toBe(true);
    const before = replicaContainers(dataDir);
    expect(before).toHaveLength(1);
    // Its version's warm spare too, once started (--docker-spares 1): the sweep removes both.
    const all = await waitFor(() => {
      const names = containersLabelled("clipper.data-dir", dataDir);
      return names.length === 2 ? names : undefined;
    });
    expect(all).toContain(before[0]!);
    await server.stop("SIGKILL");
    expect(inspect(before[0]!)?.State.Running).toBe(true); // nothing else would remove it
    server = await startServer({ dataDir });
    try {
      for (const name of all!) expect(inspect(name)).toBeUndefined();
      expect(server.log()).toContain("removed 2 containers left by a previous run");
      const now = replicaContainers(dataDir);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(before[0]);
    } finally {
      await shutdown(server);
    }
    expect(containersLabelled("clipper.data-dir", dataDir)).toEqual([]);
  }, 120_000);
});

/** A stand-in for the engine's socket that the test can take away and bring back (the engine itself stays up). */
class EngineLink {
  readonly path: string;
  #server: Server_ | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(dir: string) {
    this.path = join(dir, "docker.sock");
  }

  async up(): Promise<void> {
    rmSync(this.path, { force: true });
    const engine = (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace(/^unix:\/\//, "");
    this.#server = createServer((client) => {
      const upstream = connect(engine);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.path, resolve));
  }

  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server?.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}

describe.skipIf(missing !== undefined)("a Docker engine that goes away while models run", () => {
  it("answers the default with the reason, stays up, and brings the replicas back when the engine returns", async () => {
    const dir = tempDir("clipper-engine-link-");
    const link = new EngineLink(dir);
    await link.up();
    const server = await startServer({ env: { DOCKER_HOST: `unix://${link.path}` } });
    try {
      await server.cliOk(
        "deploy",
        portable("sum"),
        "--image",
        RUNTIME_IMAGE,
        "--name",
        "dgone",
        "--input-type",
        "integers",
        "--default-output",
        "fallback",
        "--slo-micros",
        "2000000",
      );
      expect((await server.predict("dgone", { input: [1, 2] })).json).toMatchObject({ output: "3", default: false });
      await link.down();
      const during = await waitFor(async () => {
        const { json } = await server.predict("dgone", { input: [2, 2] });
        return json.default_explanation?.includes("the Docker engine is not answering") ? json : undefined;
      });
      expect(during).toMatchObject({ output: "fallback", default: true });
      expect((await fetch(`${server.queryUrl}/health`)).status).toBe(200);
      const status = (await server.admin("status")).json.models.find((m: { model_name: string }) => m.model_name === "dgone");
      expect(status.state).not.toBe("failed");
      await link.up();
      const back = await waitFor(async () => {
        const { json } = await server.predict("dgone", { input: [3, 3] });
        return json.default === false ? json : undefined;
      }, 30_000);
      expect(back).toMatchObject({ output: "6", default: false });
      // The container whose client died with the link is removed once the engine answers again.
      // (Its version's warm spare died with the link too: a new one takes its place.)
      expect(await waitFor(() => (replicaContainers(server.dataDir).length === 1 ? true : undefined), 20_000)).toBe(true);
    } finally {
      await shutdown(server);
      await link.down();
      cleanup(dir);
    }
  }, 120_000);
});
