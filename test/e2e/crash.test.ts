/**
 * End to end, crash consistency: 20 trials, each starts a random management operation, SIGKILLs the server
 * at a random moment of it, starts it again on the same data directory and checks that the invariants hold
 * (the next start finished or rolled back what was cut short, and says so in its log), and that the app
 * answers predictions from its model's current version. CLIPPER_CRASH_TRIALS changes the count; the seed
 * is printed on failure (CLIPPER_CRASH_SEED replays it).
 */
import { afterAll, describe, expect, it } from "bun:test";
import { cleanup, nodeModel, type Server, settledInvariants, startServer, tempDir, waitFor } from "./harness.ts";
import { prng } from "../../scripts/lib/bodies.ts";

const TRIALS = Number(process.env.CLIPPER_CRASH_TRIALS ?? 20);
const SEED = Number(process.env.CLIPPER_CRASH_SEED ?? Date.now() % 1_000_000);
const dataDir = tempDir("clipper-crash-");
const files = tempDir("clipper-crash-models-");
let server: Server | undefined;

afterAll(async () => {
  await server?.stop("SIGKILL");
  cleanup(dataDir);
});

const start = () => startServer({ dataDir, args: ["--python-spares", "0"] });

describe("SIGKILL at a random moment of a random operation", () => {
  it(
    `restores a state where every invariant holds, ${TRIALS} trials (seed ${SEED})`,
    async () => {
      const random = prng(SEED);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const outcomes = new Map<string, number>();
      let recovered = 0;
      server = await start();
      await server.cliOk("deploy", nodeModel(files, "c-base", "base", 300), "--name", "c", "--app", "ca", "--slo-micros", "5000000");
      for (let trial = 1; trial <= TRIALS; trial++) {
        const s = server;
        const listed = await s.admin("get_model_versions", { model_name: "c" });
        // A trial's stop_models may have removed the model: the next deploy brings it back.
        const versions = listed.status === 200 ? (listed.json as { model_version: string }[]).map((v) => v.model_version) : [];
        const kind = pick(["deploy", "deploy-link", "rollback", "scale", "stop-version", "stop-inactive", "stop", "upload"]);
        const path = nodeModel(files, `c-${trial}`, `out-${trial}`, Math.floor(random() * 600));
        const op: Promise<unknown> = (async () => {
          if (kind === "deploy" || kind === "deploy-link")
            return s.cli("deploy", path, "--name", "c", ...(kind === "deploy-link" ? ["--app", "ca"] : []), "--url", "$MGMT");
          if (kind === "rollback") return s.admin("set_model_version", { model_name: "c", model_version: pick(versions.length ? versions : ["1"]) });
          if (kind === "scale") return s.admin("set_num_replicas", { model_name: "c", num_replicas: 1 + Math.floor(random() * 3) });
          if (kind === "stop-version" && versions.length > 1) return s.admin("delete_versioned_model", { model_name: "c", model_version: pick(versions) });
          if (kind === "stop-inactive") return s.admin("stop_inactive_model_versions", { model_names: ["c"] });
          if (kind === "stop") return s.admin("stop_models", { model_names: ["c"] });
          return fetch(`${s.mgmtUrl}/admin/artifacts`, { method: "PUT", headers: { authorization: `Bearer ${s.token}` }, body: Bun.file(path) });
        })().catch(() => undefined);
        // The kill's moment is what varies: anywhere from the operation's first step to after its end.
        await Bun.sleep(Math.floor(random() * 1500));
        await s.stop("SIGKILL");
        await op;
        server = await start();
        const log = server.log();
        if (log.includes('"event":"recovered"')) recovered++;
        const report = await settledInvariants(server);
        if (report.violations.length > 0) throw new Error(`trial ${trial} (${kind}, seed ${SEED}): ${report.violations.join("; ")}\n${log.slice(-3000)}`);
        expect(report.violations).toEqual([]);
        // An app linked to the model predicts from its current version whenever it has one.
        const after = await server.admin("get_model_versions", { model_name: "c" });
        const current = after.status === 200 ? (after.json as { model_version: string; is_current: boolean }[]).find((v) => v.is_current) : undefined;
        const apps = (await server.admin("get_all_applications", { verbose: true })).json as { name: string; linked_models: string[] }[];
        const app = apps.find((a) => a.linked_models.includes("c"));
        if (current && app) {
          const answer = await waitFor(async () => {
            const res = await server!.predict(app.name, { input: [1] });
            return res.json.default === false ? res.json : undefined;
          }, 20_000);
          expect(answer).toBeDefined();
        }
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }
      console.log(
        `crash trials (seed ${SEED}): ${TRIALS} (${JSON.stringify(Object.fromEntries(outcomes))}); ${recovered} restarts reported an operation cut short or a leftover removed`,
      );
    },
    TRIALS * 20_000,
  );
});
