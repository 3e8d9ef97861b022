/**
 * The server as a container on a real engine: `docker run clipper:latest` with a volume serves both APIs on
 * published ports (management with the token given in CLIPPER_TOKEN); `docker stop` drains what is in
 * flight and exits 0; a new container on the same volume restores every app and model.
 */
import { afterAll, describe, expect, it } from "bun:test";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { docker, dockerMissing, inspect, SERVER_IMAGE } from "./docker.ts";
import { makeFixtures, runCli } from "./harness.ts";

const missing = dockerMissing(SERVER_IMAGE);
if (missing) console.log(`server container tests skipped: ${missing}`);
const fx = makeFixtures();
const id = randomBytes(4).toString("hex");
const volume = `clipper-test-data-${id}`;
const TOKEN = randomBytes(24).toString("hex");
const started: string[] = [];

/** Starts a server container on the volume, ports published on 127.0.0.1; resolves with its URLs once /health answers. */
async function runServer(name: string): Promise<{ query: string; mgmt: string }> {
  const r = docker(
    "run",
    "--detach",
    "--name",
    name,
    "--env",
    `CLIPPER_TOKEN=${TOKEN}`,
    "--volume",
    `${volume}:/data`,
    "--publish",
    "127.0.0.1::1337",
    "--publish",
    "127.0.0.1::1338",
    SERVER_IMAGE,
  );
  if (r.code !== 0) throw new Error(`docker run failed: ${r.stderr}`);
  started.push(name);
  const port = (p: number) => docker("port", name, `${p}/tcp`).stdout.split("\n")[0]!;
  const urls = { query: `http://${port(1337)}`, mgmt: `http://${port(1338)}` };
  const until = performance.now() + 60_000;
  while (performance.now() < until) {
    const ok = await fetch(`${urls.query}/ready`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return urls;
    if (!inspect(name)?.State.Running) break;
    await Bun.sleep(200);
  }
  throw new Error(`${name} did not become ready: ${docker("logs", "--tail", "20", name).stderr}`);
}

const cli = (mgmt: string, ...args: string[]) => runCli([...args, "--url", mgmt], { CLIPPER_TOKEN: TOKEN });
const predict = async (query: string, app: string, input: unknown): Promise<any> =>
  (await fetch(`${query}/${app}/predict`, { method: "POST", body: JSON.stringify({ input }) })).json();

afterAll(() => {
  if (missing) return;
  if (started.length) docker("rm", "--force", ...started);
  docker("volume", "rm", "--force", volume);
});

describe.skipIf(missing !== undefined)("clipper:latest as a container", () => {
  let urls: { query: string; mgmt: string };

  it("serves with a volume; the management API answers from the host with the token, and only with it", async () => {
    urls = await runServer(`clipper-test-server-${id}-a`);
    expect((await fetch(`${urls.mgmt}/admin/get_all_models`, { method: "POST", body: "{}" })).status).toBe(401);
    const deployed = await cli(urls.mgmt, "deploy", join(fx.dir, "hr.pkl"), "--name", "hr");
    expect(deployed.stderr + deployed.stdout).not.toContain("clipper: ");
    expect(deployed.code).toBe(0);
    const slow = await cli(urls.mgmt, "deploy", join(fx.dir, "portable", "slow.pkl"), "--name", "slow", "--slo-micros", "10000000");
    expect(slow.code).toBe(0);
    for (let i = 0; i < 3; i++) expect(await predict(urls.query, "hr", fx.rows[i])).toMatchObject({ output: fx.hrExpected[i], default: false });
  }, 120_000);

  it("drains the queries in flight on docker stop, and exits 0", async () => {
    const name = started.at(-1)!;
    // Eight queries of half a second each on one replica: about four seconds of work in flight.
    const inFlight = Array.from({ length: 8 }, () => predict(urls.query, "slow", [1, 2]));
    const busy = async () =>
      (
        (await (
          await fetch(`${urls.mgmt}/admin/get_all_containers`, {
            method: "POST",
            body: "{}",
            headers: { authorization: `Bearer ${TOKEN}` },
          })
        ).json()) as { model_name: string; outstanding_rows: number }[]
      ).some((c) => c.model_name === "slow" && c.outstanding_rows > 0);
    while (!(await busy())) await Bun.sleep(20);
    const stop = docker("stop", "--time", "30", name);
    expect(stop.code).toBe(0);
    const answers = await Promise.all(inFlight);
    expect(answers.map((a) => a.default)).toEqual(Array(8).fill(false));
    expect(answers.map((a) => a.output)).toEqual(Array(8).fill("3.0"));
    expect(inspect(name).State.ExitCode).toBe(0);
  }, 120_000);

  it("restores every app and model in a new container on the same volume", async () => {
    urls = await runServer(`clipper-test-server-${id}-b`);
    const models = await cli(urls.mgmt, "models", "--json");
    expect(
      JSON.parse(models.stdout)
        .map((m: { model_name: string }) => m.model_name)
        .sort(),
    ).toEqual(["hr", "slow"]);
    expect(await predict(urls.query, "hr", fx.rows[3])).toMatchObject({ output: fx.hrExpected[3], default: false });
  }, 120_000);
});
