/**
 * Content-addressed artifact store under `<dataDir>/artifacts/<sha256>`.
 * Paths are derived from the hash only, so nothing a request sends can name a file elsewhere.
 */
import { createHash } from "node:crypto";
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BadRequestError, NotFoundError, PayloadTooLargeError } from "../errors.ts";

const SHA256 = /^[0-9a-f]{64}$/;
const EXTENSION = /^\.(js|mjs|cjs|ts|py)$/;

export class ArtifactStore {
  readonly #dir: string;
  readonly #maxBytes: number;

  constructor(dataDir: string, maxBytes: number) {
    this.#dir = join(dataDir, "artifacts");
    this.#maxBytes = maxBytes;
    mkdirSync(this.#dir, { recursive: true });
  }

  /** Streams an upload to disk, hashing as it goes; returns its sha256 and size. */
  async put(body: ReadableStream<Uint8Array> | null): Promise<{ sha256: string; size: number }> {
    if (!body) throw new BadRequestError("the upload is empty", "send the artifact's bytes as the request body");
    const tmp = join(this.#dir, `.upload-${process.pid}-${crypto.randomUUID()}`);
    const hash = createHash("sha256");
    const sink = Bun.file(tmp).writer();
    let size = 0;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > this.#maxBytes) throw new PayloadTooLargeError(this.#maxBytes);
        hash.update(chunk);
        sink.write(chunk);
      }
      await sink.end();
      if (size === 0) throw new BadRequestError("the upload is empty", "send the artifact's bytes as the request body");
      const sha256 = hash.digest("hex");
      renameSync(tmp, this.path(sha256));
      return { sha256, size };
    } catch (err) {
      try { await sink.end(); } catch { /* already closed */ }
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** The stored file of `sha256`; throws when the hash is malformed or unknown. */
  path(sha256: string): string {
    if (!SHA256.test(sha256)) throw new BadRequestError("artifact_sha256 must be 64 lowercase hex characters");
    return join(this.#dir, sha256);
  }

  existing(sha256: string): string {
    const p = this.path(sha256);
    if (!existsSync(p)) throw new NotFoundError(`no uploaded artifact with sha256 ${sha256}`, "PUT the file to /admin/artifacts first");
    return p;
  }

  size(sha256: string): number {
    return statSync(this.path(sha256)).size;
  }

  /**
   * The artifact under a name with `ext` (a hard link beside it), for runtimes that pick a loader by
   * extension (`.mjs`, `.ts`, `.py`).
   */
  withExtension(sha256: string, ext: string): string {
    if (!EXTENSION.test(ext)) throw new BadRequestError(`artifact extension '${ext}' is not one a runtime can import`, ".js, .mjs, .cjs, .ts or .py");
    const target = this.existing(sha256) + ext;
    if (!existsSync(target)) linkSync(this.path(sha256), target);
    return target;
  }

  remove(sha256: string): void {
    const base = this.path(sha256);
    rmSync(base, { force: true });
    for (const ext of [".js", ".mjs", ".cjs", ".ts", ".py"]) rmSync(base + ext, { force: true });
  }
}
