/** What the numbers were measured on: cores, CPU, memory, kernel, and the versions of everything that ran. */
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { run } from "./proc.ts";

export interface Machine {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  /** 1, 5 and 15 minute load averages when the run started: the machine is shared. */
  readonly loadAverage: readonly number[];
  readonly os: string;
  readonly versions: Record<string, string>;
  readonly git: string;
}

const firstLine = (s: string) => s.trim().split("\n")[0] ?? "";

/** `pick` sees the output whatever the exit code (`wrk --version` exits 1); empty means unavailable. */
async function version(cmd: string[], cwd: string, pick: (out: string) => string = firstLine): Promise<string> {
  try {
    const r = await run(cmd, { cwd, timeoutMs: 30_000 });
    return r.code === 0 || pick(r.stdout + r.stderr) !== "" ? pick(r.stdout + r.stderr) : `unavailable (exit ${r.code}: ${firstLine(r.stderr)})`;
  } catch (err) {
    return `unavailable (${(err as Error).message})`;
  }
}

const PY_VERSIONS = (pkgs: string[]) =>
  `import importlib.metadata as m, platform; print(' '.join(['python=' + platform.python_version()] + ` +
  `[p + '=' + m.version(p) for p in ${JSON.stringify(pkgs)}]))`;

function osName(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function describeMachine(o: { root: string; clipperBin: string; python: string; benchPython?: string }): Promise<Machine> {
  const nproc = Number((await version(["nproc"], o.root)) || cpus().length);
  const versions: Record<string, string> = {
    clipper: await version([o.clipperBin, "--version"], o.root),
    bun: Bun.version,
    wrk: await version(["wrk", "--version"], o.root, (s) => /^wrk (\S+)/m.exec(s)?.[1] ?? ""),
    "clipper runtime (.venv)": await version([o.python, "-c", PY_VERSIONS(["scikit-learn", "numpy", "msgpack"])], o.root),
  };
  if (o.benchPython) {
    versions["peers (.venv-bench)"] = await version(
      [o.benchPython, "-c", PY_VERSIONS(["scikit-learn", "numpy", "fastapi", "uvicorn", "uvloop", "httptools", "mlserver", "mlserver-sklearn"])],
      o.root,
    );
  }
  const git = await version(["git", "describe", "--always", "--dirty"], o.root);
  return {
    nproc,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: firstLine(await version(["uname", "-srm"], o.root)),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    os: osName(),
    versions,
    git,
  };
}

/** The "## Machine" section of a report: one table row per fact and per version. */
export function machineSection(m: Machine): string[] {
  return [
    "## Machine",
    "",
    "| | |",
    "|---|---|",
    `| nproc | ${m.nproc} |`,
    `| CPU | ${m.cpuModel} |`,
    `| memory | ${m.memoryGiB} GiB |`,
    `| kernel | ${m.kernel} |`,
    `| OS | ${m.os} |`,
    `| load average at start (1, 5, 15 min) | ${m.loadAverage.join(", ")} |`,
    `| clipper checkout | ${m.git} |`,
    ...Object.entries(m.versions).map(([k, v]) => `| ${k} | ${v} |`),
  ];
}
