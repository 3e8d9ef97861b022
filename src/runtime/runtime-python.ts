/**
 * The interpreter of the Python runtime, so that one binary runs from anywhere. Given (`--python`,
 * CLIPPER_PYTHON): that one, checked. Otherwise the first that has the runtime's packages of: the `.venv`
 * beside the binary, `./.venv`, the data directory's own runtime environment, `python3` on PATH; and when
 * none has them, that environment is made in the data directory on first use (uv when there is one, else
 * venv and pip), from the pinned runtime requirements bundled in the binary. Every step is logged; when no
 * interpreter can be had, one line names the interpreter, the missing package and the flag that fixes it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import requirementsText from "../../runtimes/python/requirements.txt" with { type: "text" };
import { EnvironmentBuilder } from "./environments.ts";

/** The pinned requirements of the Python runtime (runtimes/python/requirements.txt). */
export const RUNTIME_PINS: readonly string[] = requirementsText
  .split("\n")
  .map((l) => l.replace(/#.*/, "").trim())
  .filter(Boolean);

/** What the worker and the models it loads import, checked in a candidate interpreter (import names). */
const RUNTIME_MODULES = ["msgpack", "numpy", "joblib", "cloudpickle", "sklearn"];
/** Reported in the log beside the chosen interpreter (distribution names). */
const REPORTED = ["msgpack", "numpy", "scipy", "scikit-learn", "joblib", "cloudpickle"];

const PROBE = `
import importlib.util, json, sys
from importlib.metadata import version
def v(n):
    try:
        return version(n)
    except Exception:
        return None
print(json.dumps({"missing": [m for m in ${JSON.stringify(RUNTIME_MODULES)} if importlib.util.find_spec(m) is None],
                  "versions": {n: v(n) for n in ${JSON.stringify(REPORTED)} if v(n)},
                  "python": sys.version.split()[0]}))
`;

interface Probe {
  readonly missing: string[];
  readonly versions: Record<string, string>;
  readonly python: string;
}

/** What `python` has of the runtime's packages; undefined when it cannot be run at all. */
function probe(python: string): Probe | undefined {
  const r = spawnSync(python, ["-c", PROBE], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0 || !r.stdout) return undefined;
  try {
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Probe;
  } catch {
    return undefined;
  }
}

export interface RuntimePythonOptions {
  /** `--python` / CLIPPER_PYTHON, "" when not given. */
  readonly given: string;
  readonly dataDir: string;
  /** Where the binary is (its `.venv` is looked for). */
  readonly binaryDir: string;
  readonly cwd: string;
  /** `which`: a command's path on PATH, or null. */
  readonly which: (command: string) => string | null;
  readonly info: (line: string) => void;
  readonly error: (line: string) => void;
}

const FIX = "give an interpreter that has runtimes/python/requirements.txt with --python PATH (or CLIPPER_PYTHON)";

function describe(python: string, p: Probe, why: string): string {
  const packages = Object.entries(p.versions)
    .map(([n, v]) => `${n} ${v}`)
    .join(", ");
  return `Python runtime: ${python} (Python ${p.python}; ${packages}), ${why}`;
}

/** uv, when there is one: beside the base interpreter, on PATH, or where its installers put it. */
function findUv(base: string, which: (command: string) => string | null): string | undefined {
  const home = homedir();
  return [join(dirname(base), "uv"), which("uv"), join(home, ".local", "bin", "uv"), join(home, ".cargo", "bin", "uv")].find(
    (p): p is string => !!p && existsSync(p),
  );
}

/** The interpreter the Python runtime runs with (see the module's comment). Never throws: a problem is logged. */
export async function chooseRuntimePython(o: RuntimePythonOptions): Promise<string> {
  if (o.given) {
    const p = probe(o.given);
    if (!p) o.error(`Python runtime: ${o.given} (--python / CLIPPER_PYTHON) cannot be run; ${FIX}`);
    else if (p.missing.length) o.error(`Python runtime: ${o.given} (--python / CLIPPER_PYTHON) has no module ${p.missing.join(", ")}; ${FIX}`);
    else o.info(describe(o.given, p, "as given by --python / CLIPPER_PYTHON"));
    return o.given;
  }
  const found = [
    [join(o.binaryDir, ".venv", "bin", "python"), "the .venv beside the binary"],
    [join(o.cwd, ".venv", "bin", "python"), "./.venv"],
  ] as const;
  for (const [python, where] of found) {
    const p = existsSync(python) ? probe(python) : undefined;
    if (p && !p.missing.length) {
      o.info(describe(python, p, `from ${where}`));
      return python;
    }
  }
  const base = [o.which("python3"), "/usr/bin/python3", "/usr/local/bin/python3"].find((p): p is string => !!p && existsSync(p));
  if (!base) {
    o.error(`Python runtime: no python3 on PATH, in /usr/bin or /usr/local/bin (needed for msgpack, numpy, scikit-learn); ${FIX}`);
    return "python3";
  }
  const onPath = probe(base);
  // The data directory's own environment, when it was made before (ready at once), else made now.
  const envs = new EnvironmentBuilder(o.dataDir, base, (line) => o.info(`Python runtime environment: ${line}`), {
    uv: findUv(base, o.which),
    progress: true,
  });
  const built = envs.built(RUNTIME_PINS);
  if (built) {
    const python = built;
    const p = probe(python);
    if (p && !p.missing.length) {
      o.info(describe(python, p, "the data directory's own runtime environment"));
      return python;
    }
  }
  if (onPath && !onPath.missing.length) {
    o.info(describe(base, onPath, "python3 on PATH"));
    return base;
  }
  const lacking = onPath ? `has no module ${onPath.missing[0]}` : "cannot be run";
  o.info(
    `Python runtime: ${base} ${lacking}; making the runtime's own environment in ${join(o.dataDir, "envs", envs.id(EnvironmentBuilder.normalize(RUNTIME_PINS)))} (once): ${RUNTIME_PINS.join(" ")}`,
  );
  try {
    const python = await envs.ensure(RUNTIME_PINS);
    const p = probe(python);
    if (p && !p.missing.length) {
      o.info(describe(python, p, "the data directory's own runtime environment, made now"));
      return python;
    }
    o.error(`Python runtime: the environment made at ${python} has no module ${p?.missing[0] ?? "msgpack"}; ${FIX}`);
  } catch (err) {
    const first = (err as Error).message.split("\n")[0];
    o.error(`Python runtime: ${base} ${lacking} (msgpack, numpy, scikit-learn are needed) and making an environment failed (${first}); ${FIX}`);
  }
  return base;
}
