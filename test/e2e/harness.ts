/** Starts the compiled ./clipper on free ports with a temporary data directory, and drives its CLI. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BINARY = join(ROOT, "clipper");
export const PYTHON = join(ROOT, ".venv/bin/python");
export const FIXTURES = join(ROOT, "test/fixtures");

export interface Server {
  readonly queryUrl: string;
  readonly mgmtUrl: string;
  /** host:port of the V2 gRPC API, when started with `grpc: true`. */
  readonly grpcAddress: string | undefined;
  readonly dataDir: string;
  /** The management token the server created in its data directory. */
  readonly token: string;
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
  cli(...args: string[]): Promise<CliResult>;
  /** Runs a management CLI command against this server; throws with its stderr when it fails; returns stdout. */
  cliOk(...args: string[]): Promise<string>;
  predict(app: string, body: unknown): Promise<{ status: number; json: any }>;
  /** POSTs (or GETs, without a body) a management route with the token. */
  admin(path: string, body?: unknown): Promise<{ status: number; json: any }>;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function tempDir(prefix = "clipper-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs `./clipper args…` (or `binary`) to completion; `bare` runs it with `env` alone, not added to the test's own. */
export async function runCli(args: string[], env: Record<string, string> = {}, binary = BINARY, bare = false): Promise<CliResult> {
  const proc = Bun.spawn([binary, ...args], { stdout: "pipe", stderr: "pipe", env: bare ? env : { ...process.env, ...env } });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A port that was free a moment ago (gRPC's port 0 means off, so a gRPC test picks one). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts `clipper serve`; resolves once its APIs listen (and restored models are up). gRPC is off unless `grpc`. */
export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  grpc?: boolean;
  /** Another copy of the binary (a user's install), its CLI too. */
  binary?: string;
  /** The server's working directory (default: the test's). */
  cwd?: string;
  /** Run with exactly this environment: not the test's, no CLIPPER_PYTHON (as a user's shell would start it). */
  bareEnv?: Record<string, string>;
  startTimeoutMs?: number;
}

export async function startServer(opts: StartOptions = {}): Promise<Server> {
  const dataDir = opts.dataDir ?? tempDir();
  const grpcPort = opts.grpc ? String(freePort()) : "0";
  const binary = opts.binary ?? BINARY;
  const proc = Bun.spawn([binary, "serve", "--data-dir", dataDir, "--query-port", "0", "--mgmt-port", "0", "--grpc-port", grpcPort, ...(opts.args ?? [])], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: opts.bareEnv ?? { ...process.env, CLIPPER_PYTHON: PYTHON, PYTHONPATH: FIXTURES, ...opts.env },
  });
  const cliEnv = { ...(opts.bareEnv ?? {}), CLIPPER_DATA_DIR: dataDir };
  let log = "";
  const urls = await new Promise<{ q: string; m: string }>((resolveUrls, reject) => {
    // Generous: restoring several Python models on a busy 2-core machine can take tens of seconds.
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), opts.startTimeoutMs ?? 90_000);
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) {
        log += decoder.decode(chunk);
        const m = /query API on (\S+), management API on (\S+),/.exec(log);
        if (m && log.includes("ready to serve")) {
          clearTimeout(timer);
          resolveUrls({ q: m[1]!, m: m[2]! });
        }
      }
      reject(new Error(`server exited before it started:\n${log}`));
    })().catch(() => undefined);
  });
  // A server that dies on its own says why: its log goes to the test output.
  let stopping = false;
  void proc.exited.then((code) => {
    if (!stopping) process.stderr.write(`\n[harness] clipper serve exited on its own (code ${code}); its log ends:\n${log.slice(-4000)}\n`);
  });
  const token = readFileSync(join(dataDir, "token"), "utf8").trim();
  const server: Server = {
    queryUrl: urls.q,
    mgmtUrl: urls.m,
    dataDir,
    proc,
    token,
    grpcAddress: /"grpc_address":"([^"]+)"/.exec(log)?.[1],
    log: () => log,
    async stop(signal = "SIGTERM") {
      stopping = true;
      proc.kill(signal);
      return proc.exited;
    },
    cli: (...args) =>
      runCli(
        args.map((a) => a.replace("$MGMT", urls.m).replace("$QUERY", urls.q)),
        cliEnv,
        binary,
        opts.bareEnv !== undefined,
      ),
    async cliOk(...args) {
      const res = await runCli([...args, "--url", urls.m], cliEnv, binary, opts.bareEnv !== undefined);
      if (res.code !== 0) throw new Error(`clipper ${args.join(" ")} failed: ${res.stderr}`);
      return res.stdout;
    },
    async admin(path, body) {
      const send = () =>
        fetch(`${urls.m}/admin/${path}`, {
          method: body === undefined && !path.startsWith("get_all_containers") ? "GET" : "POST",
          headers: { authorization: `Bearer ${token}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      // Bun 1.4 on linux-x64 sometimes resets a reused keep-alive socket when a request follows a fast
      // response at once (oven-sh/bun#42212); the reset comes before the handler runs, so one retry is safe.
      const res = await send().catch((err: { code?: string }) => {
        if (err.code !== "ECONNRESET") throw err;
        return send();
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        /* plain text */
      }
      return { status: res.status, json: json as any };
    },
    async predict(app, body) {
      const res = await fetch(`${urls.q}/${app}/predict`, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body) });
      return { status: res.status, json: await res.json() };
    },
  };
  return server;
}

export interface Fixtures {
  readonly dir: string;
  readonly rows: number[][];
  readonly hrExpected: string[];
}

let fixtures: Fixtures | undefined;

/** Trains hr.pkl and pickles the fixture models once per test process. */
export function makeFixtures(): Fixtures {
  if (fixtures) return fixtures;
  const dir = tempDir("clipper-fixtures-");
  const rows: number[][] = [];
  for (let i = 0; i < 40; i++) rows.push([i % 15, 1 + (i % 4), 40 + ((i * 7) % 60), 1 + ((i * 3) % 5), i % 8]);
  rows.push([5.0, 3.0, 85.0, 4.5, 2.0], [2.0, 2.0, 70.0, 3.0, 1.0], [8.0, 4.0, 95.0, 5.0, 3.0]);
  const res = Bun.spawnSync([PYTHON, join(FIXTURES, "make_models.py"), dir, JSON.stringify(rows)]);
  if (res.exitCode !== 0) throw new Error(`make_models.py failed: ${res.stderr.toString()}`);
  const { hr_expected } = JSON.parse(res.stdout.toString()) as { hr_expected: string[] };
  fixtures = { dir, rows, hrExpected: hr_expected };
  return fixtures;
}

/** Stops a test's server (if it started) and removes its data directory. */
export async function shutdown(server: Server | undefined): Promise<void> {
  if (!server) return;
  await server.stop();
  cleanup(server.dataDir);
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Fetches and parses a JSON answer (typed loosely: tests assert on its shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function fetchJson(url: string, init?: RequestInit): Promise<any> {
  return (await fetch(url, init)).json();
}

/** Polls `check` every 25 ms until it holds; resolves with the milliseconds it took, or Infinity after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (await check()) return performance.now() - started;
    await Bun.sleep(25);
  }
  return Infinity;
}

/** Polls `what` every 50 ms until it gives a value; resolves with it, or undefined after `timeoutMs`. */
export async function waitFor<T>(what: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T | undefined> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const v = await what();
    if (v !== undefined) return v;
    await Bun.sleep(50);
  }
  return undefined;
}

/** The pids of a server's replicas (of one model when `model` is given), from get_all_containers. */
export async function replicaPids(s: Server, model?: string): Promise<number[]> {
  const containers = (await s.admin("get_all_containers", {})).json as { model_name: string; pid: number }[];
  return containers.filter((c) => !model || c.model_name === model).map((c) => c.pid);
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface InvariantReport {
  readonly ok: boolean;
  readonly busy: string[];
  readonly violations: string[];
}

/**
 * The server's invariant check (GET /admin/invariants) once no management operation is in progress: polls
 * until `busy` is empty (at most `timeoutMs`), then answers the report; a report still busy says so.
 */
export async function settledInvariants(s: Server, timeoutMs = 45_000): Promise<InvariantReport> {
  let last: InvariantReport | undefined;
  const settled = await waitFor(async () => {
    last = (await s.admin("invariants")).json as InvariantReport;
    return last.busy.length === 0 ? last : undefined;
  }, timeoutMs);
  return settled ?? { ok: false, busy: last?.busy ?? [], violations: [...(last?.violations ?? []), `still busy after ${timeoutMs} ms`] };
}

/** Writes a Node model module that answers `output` for every row (after sleeping `row[0]` ms when it is over 100, and `loadMs` in load()). */
export function nodeModel(dir: string, name: string, output: string, loadMs = 0): string {
  const path = join(dir, `${name}.mjs`);
  writeFileSync(
    path,
    `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function load() { await sleep(${loadMs}); }
export async function predict(inputs) {
  const ms = Math.max(0, ...inputs.map((r) => (r[0] > 100 ? r[0] : 0)));
  if (ms) await sleep(ms);
  return inputs.map(() => ${JSON.stringify(output)});
}
`,
  );
  return path;
}
