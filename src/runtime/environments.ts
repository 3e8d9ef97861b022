/**
 * Per-model Python environments: one virtual environment per exact package set, built once (uv when
 * it is there, else venv + pip), cached under `<dataDir>/envs/<key>` and reused by every model that asks
 * for the same set.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { asResourceError, BadRequestError, NotFoundError, resourceKind, UpstreamFailure } from "../errors.ts";

/** A requirement specifier: a name, optional extras and version constraints; never a URL or a pip option. */
const REQUIREMENT =
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\[[A-Za-z0-9._,-]{1,100}\])?((===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]{1,50})?(,(===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]{1,50}){0,4}$/;
/** The runtime's own needs (frames, arrays, joblib files, cloudpickled closures), added unless the set names them. */
const WORKER_NEEDS = ["msgpack", "numpy", "joblib", "cloudpickle"];
const LOG_LINES = 200;

export interface EnvironmentStatus {
  readonly id: string;
  readonly pkgs: readonly string[];
  readonly state: "building" | "ready" | "failed";
  readonly python: string | undefined;
  /** The last lines of the build's output, and how many lines it wrote in all. */
  readonly log: readonly string[];
  readonly log_total: number;
  readonly error: string | undefined;
}

/** The distribution name of a requirement: `scikit-learn==1.5.2` → `scikit-learn`. */
export const packageName = (req: string) =>
  req
    .split(/[[=<>!~]/)[0]!
    .toLowerCase()
    .replace(/_/g, "-");

export class EnvironmentBuilder {
  readonly #dataDir: string;
  readonly #dir: string;
  readonly #basePython: string;
  readonly #log: (line: string) => void;
  readonly #builds = new Map<string, { status: EnvironmentStatus & { log: string[] }; done: Promise<string> }>();
  readonly #uv: string | undefined;
  readonly #progress: boolean;

  /**
   * `log` gets each command run; with `progress`, every line of its output too. `uv` names the uv to use
   * (default: beside `basePython`, else on PATH; without one, venv and pip).
   */
  constructor(dataDir: string, basePython: string, log: (line: string) => void, opts: { uv?: string; progress?: boolean } = {}) {
    this.#dataDir = dataDir;
    this.#dir = join(dataDir, "envs");
    this.#basePython = basePython;
    this.#log = log;
    this.#uv = opts.uv;
    this.#progress = opts.progress ?? false;
  }

  /** Validates and normalizes a package set (sorted, deduplicated). */
  static normalize(pkgs: readonly string[]): string[] {
    for (const p of pkgs) {
      if (!REQUIREMENT.test(p)) throw new BadRequestError(`pkgs: '${p}' is not a package requirement`, "use name==version, like scikit-learn==1.5.2");
    }
    return [...new Set(pkgs)].sort();
  }

  /** The server's own interpreter, which environments are built from. */
  get basePython(): string {
    return this.#basePython;
  }

  id(pkgs: readonly string[]): string {
    return createHash("sha256")
      .update(`${this.#basePython}\n${pkgs.join("\n")}`)
      .digest("hex")
      .slice(0, 16);
  }

  /** The interpreter of the environment of `pkgs` when it was built before (nothing is started), else undefined. */
  built(pkgs: readonly string[]): string | undefined {
    const envDir = join(this.#dir, this.id(EnvironmentBuilder.normalize(pkgs)));
    return existsSync(join(envDir, ".ready")) ? join(envDir, "bin", "python") : undefined;
  }

  /** Starts building (or finds) the environment of `pkgs`; returns its id at once. */
  start(pkgs: readonly string[]): string {
    const set = EnvironmentBuilder.normalize(pkgs);
    const id = this.id(set);
    // A failed build stays visible in status() until someone asks for the same set again.
    if (this.#builds.has(id) && this.#builds.get(id)!.status.state !== "failed") return id;
    const envDir = join(this.#dir, id);
    const python = join(envDir, "bin", "python");
    const status = {
      id,
      pkgs: set,
      state: "building" as EnvironmentStatus["state"],
      python: undefined as string | undefined,
      log: [] as string[],
      log_total: 0,
      error: undefined as string | undefined,
    };
    if (existsSync(join(envDir, ".ready"))) {
      Object.assign(status, { state: "ready", python });
      this.#builds.set(id, { status, done: Promise.resolve(python) });
      return id;
    }
    const done = this.#build(envDir, set, status.log).then(
      () => (Object.assign(status, { state: "ready", python }), python),
      (err: Error) => {
        Object.assign(status, { state: "failed", error: err.message });
        throw err;
      },
    );
    done.catch(() => undefined);
    this.#builds.set(id, { status, done });
    return id;
  }

  /** The interpreter of the environment of `pkgs`, building it first when needed. */
  async ensure(pkgs: readonly string[]): Promise<string> {
    const id = this.start(pkgs);
    return this.#builds.get(id)!.done;
  }

  status(id: string): EnvironmentStatus {
    const b = this.#builds.get(id);
    if (!b) throw new NotFoundError(`no environment build '${id}'`);
    return { ...b.status, log: b.status.log.slice(-LOG_LINES), log_total: b.status.log.length };
  }

  /** Ids of the environments being built now (the garbage collector leaves them alone). */
  building(): Set<string> {
    return new Set([...this.#builds].filter(([, b]) => b.status.state === "building").map(([id]) => id));
  }

  /** Every environment directory: its id, whether it finished building, and when it was last written. */
  list(): { id: string; ready: boolean; mtimeMs: number }[] {
    if (!existsSync(this.#dir)) return [];
    return readdirSync(this.#dir).flatMap((id) => {
      try {
        const ready = existsSync(join(this.#dir, id, ".ready"));
        return [{ id, ready, mtimeMs: statSync(join(this.#dir, id, ready ? ".ready" : "")).mtimeMs }];
      } catch {
        return [];
      }
    });
  }

  /** Removes one environment's directory (it must not be building); forgets a failed build's status with it. */
  remove(id: string): void {
    if (!/^[0-9a-f]{16}$/.test(id) || this.building().has(id)) return;
    rmSync(join(this.#dir, id), { recursive: true, force: true });
    this.#builds.delete(id);
  }

  async #build(envDir: string, pkgs: readonly string[], log: string[]): Promise<void> {
    try {
      await this.#install(envDir, pkgs, log);
    } catch (err) {
      // A half-built environment is never used: it goes, so it fills no disk.
      rmSync(envDir, { recursive: true, force: true });
      const full = resourceKind(err) ?? (err instanceof UpstreamFailure && resourceKind(new Error(err.message)) === "disk" ? "disk" : undefined);
      if (full === "disk") {
        throw asResourceError(new Error("ENOSPC"), this.#dataDir, `the environment of ${pkgs.join(" ")}`);
      }
      throw asResourceError(err, this.#dataDir, `building the environment of ${pkgs.join(" ")}`);
    }
  }

  async #install(envDir: string, pkgs: readonly string[], log: string[]): Promise<void> {
    rmSync(envDir, { recursive: true, force: true });
    const names = new Set(pkgs.map(packageName));
    const install = [...pkgs, ...WORKER_NEEDS.filter((n) => !names.has(n))];
    const uv = [this.#uv, join(dirname(this.#basePython), "uv"), Bun.which("uv")].find((p) => p && existsSync(p));
    const run = async (cmd: string, args: string[]) => {
      log.push(`$ ${[cmd, ...args].join(" ")}`);
      this.#log(`environment ${envDir}: ${[cmd, ...args].join(" ")}`);
      const proc = execa(cmd, args, { all: true, reject: false, env: { PIP_DISABLE_PIP_VERSION_CHECK: "1" } });
      for await (const line of proc.iterable({ from: "all" })) {
        log.push(String(line));
        if (this.#progress) this.#log(String(line));
      }
      const result = await proc;
      if (result.exitCode !== 0) {
        const tail = log
          .filter((l) => !l.startsWith("$ "))
          .slice(-15)
          .join("\n");
        throw new UpstreamFailure(
          "environment_build_failed",
          `building the environment failed (${cmd.split("/").pop()} exited with ${result.exitCode}):\n${tail}`,
          "check the package names and versions in --pkgs, and that the package index is reachable",
        );
      }
    };
    if (uv) {
      await run(uv, ["venv", "--quiet", "--python", this.#basePython, envDir]);
      // Byte-compiled at install: a replica then imports as fast as from the server's own environment.
      await run(uv, ["pip", "install", "--compile-bytecode", "--python", join(envDir, "bin", "python"), ...install]);
    } else {
      await run(this.#basePython, ["-m", "venv", envDir]);
      await run(join(envDir, "bin", "pip"), ["install", "--progress-bar", "off", ...install]);
    }
    writeFileSync(join(envDir, ".ready"), `${JSON.stringify({ pkgs, built_at: new Date().toISOString() })}\n`);
  }
}
