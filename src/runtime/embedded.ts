/**
 * Runtime scripts bundled into the binary. The compiled binary's virtual file system is not readable
 * by another process, so each script is written out under the data directory, named by its content hash.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pythonWorker from "../../runtimes/python/clipper_worker.py" with { type: "text" };

/** Writes the Python worker to `<dataDir>/runtimes/` (once per content) and returns its path. */
export function extractPythonWorker(dataDir: string): string {
  return extract(dataDir, "clipper_worker", ".py", pythonWorker);
}

/** Writes `source` to `<dataDir>/runtimes/<stem>-<hash><ext>` (once per content) and returns its path. */
export function extract(dataDir: string, stem: string, ext: string, source: string): string {
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = join(dataDir, "runtimes");
  const path = join(dir, `${stem}-${hash}${ext}`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, source, { mode: 0o644 });
    renameSync(tmp, path);
  }
  return path;
}
