/**
 * scripts/bench --hang: what one hanging input costs the other queries of its model, per runtime (issue 21's
 * drill, scripts/lib/hang-drill.ts): 12 closed-loop clients for 20 s on an app of SLO 100 ms, the input that
 * hangs the model 30 s at 5 s and again at 12 s, on a Python, a Node and a Docker replica (the Docker row
 * only when an engine answers and the runtime image is built). Per runtime and round: the outage (the longest
 * run of defaults one client got), the others' queries lost, when the watchdog found the hang, how long the
 * replacement took (and whether a warm spare served it), what sending the input again cost; the load average
 * beside each. Writes bench/hang.md and bench/hang.json.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { describeDrill, type DrillResult, type HangTimeline, hangDrill, hangTimeline, ISSUE_DRILL } from "../lib/hang-drill.ts";
import { describeMachine, type Machine, machineSection } from "../lib/machine.ts";
import { installCleanup, run } from "../lib/proc.ts";
import { type Context, startClipper } from "./systems.ts";

const ROOT = resolve(import.meta.dir, "../..");
const RUNTIME_IMAGE = "clipper/python-runtime:latest";

/** The Docker runtime's model: a closure pickled by value (the container cannot import a module of ours). */
const PICKLE = `
import sys, time, cloudpickle
def hang_on_13(inputs):
    if any(row[0] == 13 for row in inputs):
        time.sleep(30)
    return [str(row[0]) for row in inputs]
cloudpickle.dump(hang_on_13, open(sys.argv[1], "wb"))
`;

interface Row {
  readonly runtime: string;
  readonly round: number;
  readonly load1: number;
  readonly others: number;
  readonly lost: number;
  readonly lostPct: number;
  readonly outageMs: number;
  readonly hungAtMs: number[];
  readonly quarantinedAtMs: number | undefined;
  readonly replacement: { readonly atMs: number; readonly tookMs: number; readonly spare: boolean }[];
  readonly firstAnsweredMs: number;
  readonly againAnsweredMs: number;
  readonly againQuarantined: boolean;
  readonly lostSecondBeforeAgain: number;
  readonly lostSecondAfterAgain: number;
}

const dockerReady = () => spawnSync("docker", ["image", "inspect", RUNTIME_IMAGE], { stdio: "ignore", timeout: 30_000 }).status === 0;

export async function runHangBench(o: { out: string; work: string; rounds: number; clipperBin: string; log: (line: string) => void }): Promise<void> {
  installCleanup();
  const python = join(ROOT, ".venv/bin/python");
  const pickle = join(o.work, "hang13.pkl");
  const made = await run([python, "-c", PICKLE, pickle], { cwd: ROOT, timeoutMs: 60_000 });
  if (made.code !== 0) throw new Error(`pickling the hanging closure failed: ${made.stderr}`);
  const runtimes: { runtime: string; artifact: string; extra: string[] }[] = [
    { runtime: "python", artifact: join(ROOT, "test/fixtures/hang_on_13.py"), extra: [] },
    { runtime: "node", artifact: join(ROOT, "test/fixtures/hang_on_13.mjs"), extra: [] },
  ];
  const docker = dockerReady();
  if (docker) runtimes.push({ runtime: "docker", artifact: pickle, extra: ["--image", RUNTIME_IMAGE] });
  else o.log(`no Docker row: no engine answers or ${RUNTIME_IMAGE} is not built (scripts/image)`);
  const ctx = { root: ROOT, work: o.work, clipperBin: o.clipperBin, python, token: crypto.randomUUID() } as unknown as Context;
  const rows: Row[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const r of runtimes) {
      // A server per drill: each starts with its spares warm and nothing quarantined.
      const tag = `hang-${r.runtime}-${round}`;
      const server = await startClipper(ctx, tag, true);
      try {
        const name = `${r.runtime}hang`;
        const deploy = await run([o.clipperBin, "deploy", r.artifact, "--url", server.mgmtUrl, "--name", name, "--app", name, ...r.extra], {
          cwd: ROOT,
          env: { CLIPPER_TOKEN: ctx.token },
          timeoutMs: 120_000,
        });
        if (deploy.code !== 0) throw new Error(`clipper deploy ${name} exited ${deploy.code}: ${deploy.stderr || deploy.stdout}`);
        const d = await hangDrill(`${server.queryUrl}/${name}/predict`, ISSUE_DRILL);
        const t = hangTimeline(readFileSync(join(o.work, `${tag}.log`), "utf8"), name, d);
        const load1 = loadavg()[0]!;
        o.log(`round ${round}: ${describeDrill(r.runtime, ISSUE_DRILL, d, t)} (load average ${load1.toFixed(2)})`);
        rows.push(toRow(r.runtime, round, load1, d, t));
      } finally {
        await server.service.stop();
      }
    }
  }
  const machine = await describeMachine({ root: ROOT, clipperBin: o.clipperBin, python });
  const summary = { date: new Date().toISOString(), drill: ISSUE_DRILL, slo_ms: 100, docker, machine, rows };
  writeFileSync(join(o.out, "hang.json"), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(o.out, "hang.md"), report(summary, machine));
  o.log(`wrote ${join(o.out, "hang.md")}`);
}

function toRow(runtime: string, round: number, load1: number, d: DrillResult, t: HangTimeline): Row {
  return {
    runtime,
    round,
    load1,
    others: d.others,
    lost: d.lost,
    lostPct: 100 * d.lostShare,
    outageMs: Math.round(d.outage.ms),
    hungAtMs: t.hungMs.map(Math.round),
    quarantinedAtMs: t.quarantinedMs === undefined ? undefined : Math.round(t.quarantinedMs),
    replacement: t.replacedMs.map((r) => ({ atMs: Math.round(r.atMs), tookMs: r.tookMs, spare: r.spare })),
    firstAnsweredMs: Math.round(d.first.atMs - d.first.sentMs),
    againAnsweredMs: Math.round(d.again.atMs - d.again.sentMs),
    againQuarantined: /^quarantined:/.test(d.again.reason ?? ""),
    lostSecondBeforeAgain: d.lostAroundAgain.before,
    lostSecondAfterAgain: d.lostAroundAgain.after,
  };
}

function report(s: { date: string; docker: boolean; rows: Row[] }, machine: Machine): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const lines = [
    "# A model that hangs: what one input costs the other queries",
    "",
    `Run ${s.date.slice(0, 16).replace("T", " ")} UTC (\`scripts/bench --hang\`). Issue 21's drill per runtime, a fresh server each: ` +
      `${ISSUE_DRILL.clients} closed-loop clients query an app (SLO 100 ms, cache off) for ${ISSUE_DRILL.windowMs / 1000} s, each input new; at ` +
      `${ISSUE_DRILL.hangAtMs / 1000} s one query sends the input that hangs the model 30 s (first value 13), at ${ISSUE_DRILL.againAtMs / 1000} s the same input again. ` +
      "**Outage**: the longest run of defaults one of the other clients got in a row (first sending to last answer). **Lost**: the others' queries answered " +
      "the default over the whole window. **Found**: when the watchdog took a batch for hung, after the hanging query was sent (a second time is the probe's: the culprit hanging again alone on the replica that tries the hung batch's rows, which no traffic waits on) (its threshold: " +
      "20 × the version's p99 batch time, at least 300 ms). **Replaced**: when the new replica answered its hello, and how long that took from the old one's exit. " +
      "Times are from the server's log (`replica_hung`, `replica_replaced`). The machine is shared: read each row with its load average.",
    "",
    "| runtime | round | load avg | outage (ms) | lost / answered | lost % | found at (ms) | replaced at (ms) | replacement took (ms) | hanging query answered in (ms) | again: answered in (ms) | defaults in the second before / after again |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of s.rows) {
    lines.push(
      `| ${r.runtime} | ${r.round} | ${r.load1.toFixed(2)} | ${n(r.outageMs)} | ${n(r.lost)} / ${n(r.others)} | ${r.lostPct.toFixed(2)}% | ${r.hungAtMs.join(", ") || "-"} | ` +
        `${r.replacement.map((x) => x.atMs).join(", ") || "-"} | ${r.replacement.map((x) => `${x.tookMs}${x.spare ? " (spare)" : " (cold)"}`).join(", ") || "-"} | ` +
        `${r.firstAnsweredMs} | ${r.againAnsweredMs}${r.againQuarantined ? " (quarantined)" : ""} | ${r.lostSecondBeforeAgain} / ${r.lostSecondAfterAgain} |`,
    );
  }
  lines.push(
    "",
    "The issue's target: at most about a second of defaults for the other queries, at most 5% of them lost, and sending the input again costs nothing " +
      "(answered the quarantine default at once, no more defaults than the second before). A replacement from a warm spare (the Python worker with its " +
      "libraries imported, a Node runtime started ahead, a Docker version's container started ahead) takes tens of ms; a cold one the runtime's start. When the hanging input shares its " +
      "batch with others, they are tried one by one on a probe replica of their own, so the second hang of the culprit costs the traffic nothing.",
    "",
    ...(s.docker ? [] : ["No Docker row: no engine answered or the runtime image is not built (`scripts/image`).", ""]),
    ...machineSection(machine),
    "",
  );
  return lines.join("\n");
}
