/** The Python of .venv-oip (Triton's pinned V2 clients), made by setup-venv when missing, and a runner for its scripts. */
import { join } from "node:path";
import { ROOT } from "../harness.ts";

let ready = false;

export function clientPython(): string {
  if (!ready) {
    const res = Bun.spawnSync([join(ROOT, "test/e2e/oip/setup-venv")], { stderr: "pipe" });
    if (res.exitCode !== 0) throw new Error(`installing the V2 clients failed: ${res.stderr.toString()}`);
    ready = true;
  }
  return join(ROOT, ".venv-oip", "bin", "python");
}

/** Runs test/e2e/oip/SCRIPT with ARGS in .venv-oip; returns its stdout parsed as JSON, or throws with its stderr. */
export async function runClient(script: string, ...args: string[]): Promise<any> {
  const proc = Bun.spawn([clientPython(), join(ROOT, "test/e2e/oip", script), ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${script} exited ${code}: ${err}`);
  return JSON.parse(out);
}
