/** scripts/soak: serves the HR model under steady load for N minutes with deploys and rollbacks, and judges RSS growth and failures. */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { describeMachine } from "../lib/machine.ts";
import { freePort, installCleanup, logTail, run, spawnService, waitFor, type Service } from "../lib/proc.ts";
import { runEvents } from "./events.ts";
import { countsAddUp, startLoad } from "./load.ts";
import { makePlan, type Plan } from "./plan.ts";
import { markdown, type SoakResults } from "./report.ts";
import { startSampler } from "./sampler.ts";
import { rssSvg } from "./svg.ts";
import { growth, judge } from "./verdict.ts";

const ROOT = resolve(import.meta.dir, "../..");
const MODEL = "hr";
const CACHE_ENTRIES = 1024;
const BATCH_EVERY = 25;
const REQUEST_TIMEOUT_MS = 10_000;

const HELP = `usage: scripts/soak [--minutes N] [--out DIR] [--quick] [flags]

Starts ./clipper serve on free ports with a temp data dir, deploys the HR model, and runs steady
load on 127.0.0.1 for the duration while deploying a new version every --event-every seconds,
rolling back, and scaling up and down once. Samples the RSS of the server and of each replica,
counts every answer, and fails (exit 1) on any 5xx, any request without an answer, a failed
admin command, or RSS growth above --max-growth between the first window after the warm-up
and the last window. Writes soak.md, soak.json and soak-rss.svg.

  --minutes N        minutes of load (default 10); the first 20% (at least 30 s) is warm-up
  --out DIR          where the report goes (default bench/, or a temp dir with --quick)
  --quick            ~25 s: 5 s warm-up, one deploy and one rollback (what the test suite runs)
  --concurrency N    request loops (default 16)
  --rate N           requests per second over all loops (default 400)
  --event-every SEC  seconds between admin events in full mode (default 60)
  --max-growth PCT   RSS growth allowed, in percent (default 10)
  --clipper PATH     the binary to test (default ./clipper; a private copy runs)
  -h, --help         this help`;

interface Options {
  readonly plan: Plan;
  readonly out: string;
  readonly concurrency: number;
  readonly ratePerSec: number;
  readonly maxGrowthPct: number;
  readonly clipper: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      minutes: { type: "string" },
      out: { type: "string" },
      quick: { type: "boolean", default: false },
      concurrency: { type: "string" },
      rate: { type: "string" },
      "event-every": { type: "string" },
      "max-growth": { type: "string" },
      clipper: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const num = (name: string, raw: string | undefined, dflt: number, min: number) => {
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min) throw new Error(`--${name} must be a number ≥ ${min}, got '${raw}'`);
    return v;
  };
  const quick = values.quick ?? false;
  if (quick && values.minutes !== undefined) throw new Error("--quick runs ~25 s; it does not take --minutes");
  const concurrency = Math.round(num("concurrency", values.concurrency, 16, 1));
  return {
    plan: makePlan({ quick, minutes: num("minutes", values.minutes, 10, 1), eventEverySec: num("event-every", values["event-every"], 60, 10) }),
    out: resolve(values.out ?? (quick ? mkdtempSync(join(tmpdir(), "clipper-soak-quick-")) : join(ROOT, "bench"))),
    concurrency,
    ratePerSec: num("rate", values.rate, 400, concurrency / 10),
    maxGrowthPct: num("max-growth", values["max-growth"], 10, 0),
    clipper: resolve(values.clipper ?? join(ROOT, "clipper")),
  };
}

const log = (line: string) => process.stderr.write(`[soak] ${line}\n`);
const MB = 1024 * 1024;

/** The HR model twice: examples/hr/train.py's tree, and a shallower one, so consecutive versions differ. */
async function trainArtifacts(python: string, work: string): Promise<string[]> {
  const a = join(work, "hr-a.pkl");
  const b = join(work, "hr-b.pkl");
  for (const [cmd, out] of [
    [[python, join(ROOT, "examples/hr/train.py"), a], a],
    [[python, join(import.meta.dir, "train_variant.py"), b], b],
  ] as const) {
    const r = await run([...cmd], { cwd: ROOT, timeoutMs: 120_000 });
    if (r.code !== 0 || !existsSync(out)) throw new Error(`${cmd.slice(1).join(" ")} failed (exit ${r.code}):\n${r.stderr.trim()}`);
  }
  return [a, b];
}

async function startServer(bin: string, python: string, work: string, token: string): Promise<{ service: Service; queryUrl: string; mgmtUrl: string }> {
  const [q, m] = [await freePort(), await freePort()];
  const service = spawnService(
    "clipper serve",
    [
      bin,
      "serve",
      "--data-dir",
      join(work, "data"),
      "--query-port",
      String(q),
      "--mgmt-port",
      String(m),
      "--grpc-port",
      "0",
      "--cache-entries",
      String(CACHE_ENTRIES),
    ],
    { cwd: ROOT, env: { CLIPPER_PYTHON: python, CLIPPER_TOKEN: token }, logPath: join(work, "server.log") },
  );
  const queryUrl = `http://127.0.0.1:${q}`;
  const mgmtUrl = `http://127.0.0.1:${m}`;
  await waitFor("clipper serve", async () => (await fetch(`${queryUrl}/health`)).ok && (await fetch(`${mgmtUrl}/admin/ping`)).ok, 30_000, 50, service);
  return { service, queryUrl, mgmtUrl };
}

async function predictsOk(queryUrl: string): Promise<boolean> {
  const res = await fetch(`${queryUrl}/${MODEL}/predict`, { method: "POST", body: '{"input":[5.0,3.0,85.0,4.5,2.0]}', signal: AbortSignal.timeout(5000) });
  return res.status === 200 && ((await res.json()) as { default?: boolean }).default === false;
}

async function soak(o: Options, argv: string[], work: string): Promise<number> {
  const p = o.plan;
  mkdirSync(o.out, { recursive: true });
  if (!existsSync(o.clipper)) throw new Error(`no clipper binary at ${o.clipper}: run scripts/build first`);
  // A private copy: a rebuild of ./clipper during a 10-minute run must not change what runs.
  const bin = join(work, "clipper");
  copyFileSync(o.clipper, bin);
  chmodSync(bin, 0o755);
  const python = join(ROOT, ".venv/bin/python");
  if (!existsSync(python)) throw new Error(`no ${python}: run scripts/bootstrap first`);
  const token = crypto.randomUUID().replace(/-/g, "");

  log("training two HR models (examples/hr/train.py, scripts/soak.d/train_variant.py)");
  const artifacts = await trainArtifacts(python, work);
  const machine = await describeMachine({ root: ROOT, clipperBin: bin, python });
  const { service, queryUrl, mgmtUrl } = await startServer(bin, python, work, token);
  try {
    const deploy = await run([bin, "deploy", artifacts[0]!, "--name", MODEL, "--app", MODEL, "--version", "1", "--url", mgmtUrl], {
      cwd: ROOT,
      env: { CLIPPER_TOKEN: token },
      timeoutMs: 120_000,
    });
    if (deploy.code !== 0) throw new Error(`clipper deploy exited ${deploy.code}: ${deploy.stderr || deploy.stdout}`);
    await waitFor("the first prediction", () => predictsOk(queryUrl), 30_000, 50, service);

    log(
      `${p.quick ? "quick" : "full"} soak: ${p.durationSec} s of load at ${o.ratePerSec} req/s over ${o.concurrency} loops, warm-up ${p.warmupSec} s, ` +
        `${p.events.length} events, RSS every ${p.sampleEveryMs / 1000} s`,
    );
    const t0 = performance.now();
    const sampler = startSampler({ serverPid: service.pid, mgmtUrl, token, everyMs: p.sampleEveryMs, t0 });
    const load = startLoad({
      url: `${queryUrl}/${MODEL}/predict`,
      concurrency: o.concurrency,
      ratePerSec: o.ratePerSec,
      batchEvery: BATCH_EVERY,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    let ended = false;
    const events = runEvents(p.events, t0, { root: ROOT, clipperBin: bin, mgmtUrl, token, artifacts, model: MODEL, log }, () => ended);
    const progressEveryMs = p.quick ? 5000 : 30_000;
    const progress = setInterval(() => {
      const c = load.counts;
      const s = sampler.samples.at(-1);
      log(
        `t=${((performance.now() - t0) / 1000).toFixed(0)} s: sent ${c.sent}, ok ${c.ok}, default ${c.defaults}, 4xx ${c.errors4xx}, 5xx ${c.errors5xx}, ` +
          `failed ${c.failed}; RSS server ${s ? (s.serverBytes / MB).toFixed(1) : "?"} MB, replicas ${s?.replicasBytes ? (s.replicasBytes / MB).toFixed(1) : "?"} MB`,
      );
    }, progressEveryMs);
    await Promise.race([Bun.sleep(p.durationSec * 1000), service.exited]);
    ended = true;
    clearInterval(progress);
    const counts = await load.stop();
    const loadSec = (performance.now() - t0) / 1000;
    const samples = await sampler.stop();
    const eventResults = await events;
    const serverExit = service.exitCode();
    const finalMetrics = await fetch(`${queryUrl}/metrics.json`)
      .then((r) => r.json())
      .catch((err: unknown) => ({ error: String(err) }));

    const growths = [growth("server process", samples, p, (s) => s.serverBytes), growth("replicas (sum)", samples, p, (s) => s.replicasBytes)];
    const verdict = judge({ counts, growths, maxGrowthPct: o.maxGrowthPct, events: eventResults, serverExit });
    const results: SoakResults = {
      generatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      command: ["scripts/soak", ...argv].join(" "),
      plan: p,
      settings: {
        concurrency: o.concurrency,
        ratePerSec: o.ratePerSec,
        batchEvery: BATCH_EVERY,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        cacheEntries: CACHE_ENTRIES,
        maxGrowthPct: o.maxGrowthPct,
        artifacts: ["v1, v3, …: examples/hr/train.py (decision tree, depth 10)", "v2, v4, …: scripts/soak.d/train_variant.py (depth 4)"],
      },
      loadSec,
      counts,
      growths,
      events: eventResults,
      verdict,
      machine,
      finalMetrics,
      samples,
    };
    writeFileSync(join(o.out, "soak.json"), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(o.out, "soak.md"), markdown(results));
    writeFileSync(
      join(o.out, "soak-rss.svg"),
      rssSvg({ plan: p, samples, events: eventResults, title: `clipper soak: RSS over ${p.durationSec} s of load (${p.quick ? "quick" : "full"})` }),
    );

    log(
      `counts: sent ${counts.sent}, 200 ok ${counts.ok}, 200 default ${counts.defaults}, 4xx ${counts.errors4xx}, 5xx ${counts.errors5xx}, ` +
        `other ${counts.otherStatus}, failed ${counts.failed}${countsAddUp(counts) ? "" : " (DO NOT ADD UP)"}`,
    );
    for (const g of growths) {
      log(
        `${g.name}: ${g.baselineBytes === null ? "n/a" : (g.baselineBytes / MB).toFixed(1)} MB at warm-up end → ` +
          `${g.endBytes === null ? "n/a" : (g.endBytes / MB).toFixed(1)} MB at the end (${g.growthPct === null ? "n/a" : `${g.growthPct.toFixed(1)}%`})`,
      );
    }
    log(`wrote ${o.out}/{soak.md,soak.json,soak-rss.svg}`);
    log(`verdict: ${verdict.pass ? "PASS" : `FAIL: ${verdict.reasons.join("; ")}`}`);
    if (!verdict.pass) log(`server log (tail):\n${logTail(service.logPath, 30)}`);
    return verdict.pass ? 0 : 1;
  } catch (err) {
    throw new Error(`${(err as Error).message}\nserver log (tail):\n${logTail(service.logPath, 30)}`);
  } finally {
    await service.stop();
  }
}

async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  const work = mkdtempSync(join(tmpdir(), "clipper-soak-"));
  installCleanup(() => rmSync(work, { recursive: true, force: true }));
  try {
    return await soak(o, argv, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  },
);
