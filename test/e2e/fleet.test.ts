/**
 * The rehearsal of docs/scaling.md on a real engine: three clipper:latest containers, each running the
 * Kubernetes pod's start script (serve, then `clipper apply` of deploy/kubernetes/clipper.yaml), behind
 * nginx from Debian's packages, under steady load from the host. A rolling restart (`docker stop`, then
 * `docker start`, one container after another) fails no query; a `docker kill` fails at most the queries in
 * flight on the killed container, and the balancer stops sending to it; `docker start` brings it back.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { docker, dockerMissing, inspect, RUNTIME_IMAGE, SERVER_IMAGE } from "./docker.ts";
import { cleanup, makeFixtures, ROOT, tempDir, waitUntil } from "./harness.ts";

const missing = dockerMissing(SERVER_IMAGE, RUNTIME_IMAGE);
if (missing) console.log(`fleet tests skipped: ${missing}`);
const NGINX_IMAGE = "clipper-fleet/nginx:bookworm";
/** nginx's passive check: one failed attempt takes a server out of rotation for this long. */
const FAIL_TIMEOUT_S = 3;
const CONCURRENCY = 8;
const id = randomBytes(4).toString("hex");
const TOKEN = randomBytes(24).toString("hex");
const dir = tempDir("clipper-fleet-");
const names = [1, 2, 3].map((n) => `clipper-fleet-${id}-${n}`);
const nginxName = `clipper-fleet-${id}-nginx`;

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}
const ports = names.map(() => freePort());
const lbPort = freePort();

/** The pod's container script from the Deployment, unchanged. */
function podScript(): string {
  const deployment = parse(readFileSync(join(ROOT, "deploy/kubernetes/deployment.yaml"), "utf8"));
  return deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === "clipper").args[0];
}

function nginxConfig(): string {
  const servers = ports.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=${FAIL_TIMEOUT_S}s;`).join("\n");
  return `worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream fleet {
${servers}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${lbPort};
    location / {
      proxy_pass http://fleet;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # A query refused or reset by a stopping or dead server goes to the next one (POST included).
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 10s;
    }
  }
}
`;
}

/** What the Deployment's probes wait for: the start script's marker (config applied), then /ready. */
async function ready(port: number): Promise<boolean> {
  const name = names[ports.indexOf(port)]!;
  if (docker("exec", name, "test", "-f", "/tmp/clipper-applied").code !== 0) return false;
  return fetch(`http://127.0.0.1:${port}/ready`).then(
    (r) => r.status === 200,
    () => false,
  );
}

/** True once `what` holds, false after `timeoutMs`. */
const until = async (what: () => Promise<boolean>, timeoutMs: number) => (await waitUntil(what, timeoutMs)) < Infinity;

/** Queries the balancer from CONCURRENCY loops until stopped; counts answers and failures with their times. */
class Load {
  ok = 0;
  defaults = 0;
  failures: { atMs: number; why: string }[] = [];
  #running = true;
  readonly #loops: Promise<void>[];
  readonly #body = JSON.stringify({ input: [5.0, 3.0, 85.0, 4.5, 2.0] });

  constructor() {
    this.#loops = Array.from({ length: CONCURRENCY }, () => this.#loop());
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      try {
        const res = await fetch(`http://127.0.0.1:${lbPort}/hr-hiring/predict`, { method: "POST", body: this.#body });
        const json = (await res.json()) as { default?: boolean };
        if (res.status !== 200) this.failures.push({ atMs: performance.now(), why: `HTTP ${res.status}` });
        else if (json.default) this.defaults++;
        else this.ok++;
      } catch (err) {
        this.failures.push({ atMs: performance.now(), why: String(err) });
      }
    }
  }

  async stop(): Promise<this> {
    this.#running = false;
    await Promise.all(this.#loops);
    return this;
  }
}

/** Queries the container on `port` has answered (its own /metrics). */
async function served(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: "text/plain" } })).text();
  return [...text.matchAll(/^clipper_queries_total\{[^}]*app="hr-hiring"[^}]*\} (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
}

beforeAll(async () => {
  if (missing) return;
  // nginx from Debian's packages, on the runtime image's Debian (built once, kept for the next run).
  if (docker("image", "inspect", NGINX_IMAGE).code !== 0) {
    const ctx = join(dir, "nginx-image");
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, "Dockerfile"),
      `FROM ${RUNTIME_IMAGE}\nUSER root\n` +
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light && rm -rf /var/lib/apt/lists/*\n" +
        'ENTRYPOINT ["nginx", "-g", "daemon off;", "-c", "/fleet/nginx.conf"]\n',
    );
    const built = docker("build", "--quiet", "--tag", NGINX_IMAGE, ctx);
    if (built.code !== 0) throw new Error(`building ${NGINX_IMAGE} failed: ${built.stderr}`);
  }
  const fx = makeFixtures();
  mkdirSync(join(dir, "config"));
  mkdirSync(join(dir, "artifacts"));
  writeFileSync(join(dir, "config", "clipper.yaml"), readFileSync(join(ROOT, "deploy/kubernetes/clipper.yaml")));
  writeFileSync(join(dir, "artifacts", "hr.pkl"), readFileSync(join(fx.dir, "hr.pkl")));
  writeFileSync(join(dir, "nginx.conf"), nginxConfig());
  names.forEach((name, i) => {
    const r = docker(
      "run",
      "--detach",
      "--name",
      name,
      "--env",
      `CLIPPER_TOKEN=${TOKEN}`,
      "--volume",
      `${join(dir, "config")}:/config:ro`,
      "--volume",
      `${join(dir, "artifacts")}:/artifacts:ro`,
      "--publish",
      `127.0.0.1:${ports[i]}:1337`,
      "--entrypoint",
      "/bin/sh",
      SERVER_IMAGE,
      "-c",
      podScript(),
    );
    if (r.code !== 0) throw new Error(`docker run ${name} failed: ${r.stderr}`);
  });
  for (const [i, name] of names.entries()) {
    if (!(await until(() => ready(ports[i]!), 120_000))) throw new Error(`${name} did not become ready: ${docker("logs", "--tail", "20", name).stderr}`);
  }
  const lb = docker("run", "--detach", "--name", nginxName, "--network", "host", "--volume", `${dir}:/fleet:ro`, NGINX_IMAGE);
  if (lb.code !== 0) throw new Error(`nginx failed to start: ${lb.stderr}`);
  const up = await until(
    () =>
      fetch(`http://127.0.0.1:${lbPort}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    20_000,
  );
  if (!up) throw new Error(`nginx does not answer: ${docker("logs", nginxName).stderr}`);
}, 300_000);

afterAll(() => {
  if (!missing) docker("rm", "--force", "--volumes", ...names, nginxName);
  cleanup(dir);
});

describe.skipIf(missing !== undefined)("a fleet of three clipper containers behind nginx", () => {
  it("serves every container's share of the load", async () => {
    const before = await Promise.all(ports.map(served));
    const load = new Load();
    await Bun.sleep(2000);
    await load.stop();
    const after = await Promise.all(ports.map(served));
    console.log(`fleet: steady load ${load.ok} answers in 2 s (${load.defaults} defaults), per container ${after.map((a, i) => a - before[i]!).join("/")}`);
    expect(load.failures).toEqual([]);
    for (const [i, a] of after.entries()) expect(a - before[i]!).toBeGreaterThan(0);
  }, 60_000);

  it("fails no query through a rolling restart (docker stop, docker start, one after another)", async () => {
    const load = new Load();
    const started = performance.now();
    for (const [i, name] of names.entries()) {
      const stop = docker("stop", "--time", "20", name);
      expect(stop.code).toBe(0);
      expect(inspect(name).State.ExitCode).toBe(0);
      expect(docker("start", name).code).toBe(0);
      expect(await until(() => ready(ports[i]!), 120_000)).toBe(true);
    }
    await load.stop();
    const seconds = (performance.now() - started) / 1000;
    console.log(`fleet: rolling restart of 3 in ${seconds.toFixed(1)} s: ${load.ok} answered, ${load.defaults} defaults, ${load.failures.length} failed`);
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(0);
  }, 600_000);

  it("loses at most the queries in flight on a killed container, stops routing to it, and uses it again once started", async () => {
    const load = new Load();
    await Bun.sleep(1000);
    const killedAt = performance.now();
    expect(docker("kill", names[0]!).code).toBe(0);
    await Bun.sleep((FAIL_TIMEOUT_S + 2) * 1000);
    const failedSoon = load.failures.length;
    const lastFailureMs = Math.max(0, ...load.failures.map((f) => f.atMs - killedAt));
    expect(docker("start", names[0]!).code).toBe(0);
    expect(await until(() => ready(ports[0]!), 120_000)).toBe(true);
    const before = await served(ports[0]!);
    await Bun.sleep((FAIL_TIMEOUT_S + 2) * 1000);
    const back = (await served(ports[0]!)) - before;
    await load.stop();
    console.log(
      `fleet: docker kill: ${failedSoon} failed (in flight: at most ${CONCURRENCY}), last failure ${lastFailureMs.toFixed(0)} ms after the kill; ` +
        `${load.ok} answered in all; after docker start the container answered ${back} queries in ${FAIL_TIMEOUT_S + 2} s`,
    );
    expect(failedSoon).toBeLessThanOrEqual(CONCURRENCY);
    expect(load.failures.length).toBe(failedSoon);
    expect(lastFailureMs).toBeLessThan(1000);
    expect(back).toBeGreaterThan(0);
  }, 600_000);
});
