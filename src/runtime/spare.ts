/**
 * A warm spare: a Python worker started ahead of need with `--standby`. It imports numpy, msgpack and
 * scikit-learn (most of a Python replica's start-up) and then waits for a `load` frame naming the
 * model. The next Python replica on the server's own environment adopts it instead of starting cold.
 * Invariant: the process's exit is reported once, to whoever owns it at that moment.
 */
import type { Subprocess } from "bun";

type ExitHandler = (code: number | null, signal: number | string | null) => void;

export class Spare {
  readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  #exited = false;
  #onExit: ExitHandler | undefined;

  constructor(command: readonly string[]) {
    this.proc = Bun.spawn([...command], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      onExit: (_p, code, signal) => {
        this.#exited = true;
        this.#onExit?.(code, signal);
      },
    });
  }

  /** False once the process has exited (a spare that died unadopted is never handed out). */
  get alive(): boolean {
    return !this.#exited;
  }

  /** Hands the process to a replica: from now on its exit goes to `onExit`. */
  adopt(onExit: ExitHandler): Subprocess<"pipe", "pipe", "pipe"> {
    this.#onExit = onExit;
    return this.proc;
  }

  kill(): void {
    if (!this.#exited) this.proc.kill("SIGKILL");
  }
}
