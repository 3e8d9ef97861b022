/** Upkeep commands: `clipper gc` (remove what nothing uses) and `clipper check` (the invariants, now). */
import { type Command, int, JSON_OPT, mgmt, MGMT_URL, out, URL_HELP } from "./command.ts";

export const gc: Command = {
  name: "gc",
  usage: "clipper gc [--grace-seconds N] [--json]",
  summary: "remove artifacts and environments nothing uses, and say what was freed",
  positionals: 0,
  options: { ...MGMT_URL, ...JSON_OPT, "grace-seconds": { type: "string" } },
  help: {
    ...URL_HELP,
    json: "print JSON for scripts",
    "grace-seconds": "keep what was written more recently than this (an upload a deploy is about to use); default 600",
  },
  async run(v) {
    const grace = int(v, "grace-seconds");
    const res = (await mgmt(v)("POST", "/admin/gc", grace === undefined ? {} : { grace_seconds: grace })) as {
      artifacts: { sha256: string; bytes: number }[];
      environments: { id: string; bytes: number }[];
      summary: string;
    };
    if (v.json) return (out(JSON.stringify(res, null, 2)), 0);
    for (const a of res.artifacts) out(`artifact ${a.sha256} (${a.bytes} bytes)`);
    for (const e of res.environments) out(`environment ${e.id} (${e.bytes} bytes)`);
    out(res.summary);
    return 0;
  },
};

export const check: Command = {
  name: "check",
  usage: "clipper check [--json]",
  summary: "check that registry, replicas, artifacts and routes agree (exit 1 when they do not)",
  positionals: 0,
  options: { ...MGMT_URL, ...JSON_OPT },
  help: { ...URL_HELP, json: "print JSON for scripts" },
  async run(v) {
    const res = (await mgmt(v)("GET", "/admin/invariants")) as { ok: boolean; busy: string[]; violations: string[] };
    if (v.json) out(JSON.stringify(res, null, 2));
    else {
      for (const b of res.busy) out(`in progress: ${b}`);
      for (const x of res.violations) out(`violated: ${x}`);
      out(res.violations.length === 0 ? "all invariants hold" : `${res.violations.length} invariant violation(s)`);
    }
    return res.violations.length === 0 ? 0 : 1;
  },
};
