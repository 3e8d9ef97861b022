/**
 * Runtime scripts bundled into the binary. The compiled binary's virtual file system is not readable
 * by another process, so the Python runtime's files are written out under the data directory, in a folder
 * named by their content hash (the worker imports its format loaders from beside itself).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pythonWorker from "../../runtimes/python/clipper_worker.py" with { type: "text" };
import pythonFormats from "../../runtimes/python/clipper_formats.py" with { type: "text" };

/** Writes the Python worker and its format loaders to `<dataDir>/runtimes/python-<hash>/` (once per content); returns the worker's path. */
export function extractPythonWorker(dataDir: string): string {
  const files = { "clipper_worker.py": pythonWorker, "clipper_formats.py": pythonFormats };
  const hash = createHash("sha256").update(JSON.stringify(files)).digest("hex").slice(0, 16);
  const dir = join(dataDir, "runtimes", `python-${hash}`);
  if (!existsSync(dir)) {
    const tmp = `${dir}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    for (const [name, source] of Object.entries(files)) writeFileSync(join(tmp, name), source, { mode: 0o644 });
    try {
      renameSync(tmp, dir);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw err; // another server process won the race: its copy is the same
    }
  }
  return join(dir, "clipper_worker.py");
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
