/**
 * Content-addressed artifact store under `<dataDir>/artifacts/<sha256>`.
 * Paths are derived from the hash only, so nothing a request sends can name a file elsewhere. A tar upload
 * (a directory artifact) is checked entry by entry before anything is kept, then unpacked read-only
 * beside it in `<sha256>.d/`.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { BadRequestError, NotFoundError, PayloadTooLargeError } from "../errors.ts";
import { checkTar, extractTar, looksLikeTar } from "./tar.ts";

const SHA256 = /^[0-9a-f]{64}$/;
/** Extensions a runtime picks its loader by: modules, and the model formats whose loaders read the name. */
const EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".py", ".pt", ".pth", ".pt2", ".keras", ".json", ".ubj", ".txt", ".onnx"];

export class ArtifactStore {
  readonly #dir: string;
  readonly #maxBytes: number;

  constructor(dataDir: string, maxBytes: number) {
    this.#dir = join(dataDir, "artifacts");
    this.#maxBytes = maxBytes;
    mkdirSync(this.#dir, { recursive: true });
  }

  /** Streams an upload to disk, hashing as it goes; returns its sha256 and size. */
  async put(body: ReadableStream<Uint8Array> | null): Promise<{ sha256: string; size: number; directory?: boolean; files?: number }> {
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
      const head = new Uint8Array(await Bun.file(tmp).slice(0, 512).arrayBuffer());
      // A tar is checked whole before it is kept: a refused archive leaves nothing behind.
      const entries = looksLikeTar(head) ? checkTar(tmp, this.#maxBytes) : undefined;
      renameSync(tmp, this.path(sha256));
      if (!entries) return { sha256, size };
      const dir = `${this.path(sha256)}.d`;
      if (!existsSync(dir)) {
        const unpacking = `${dir}.${process.pid}-${crypto.randomUUID()}`;
        try {
          extractTar(this.path(sha256), entries, unpacking);
          setDirModes(unpacking, 0o555);
          renameSync(unpacking, dir);
        } catch (err) {
          removeTree(unpacking);
          throw err;
        }
      }
      return { sha256, size, directory: true, files: entries.filter((e) => e.type !== "dir").length };
    } catch (err) {
      try {
        await sink.end();
      } catch {
        /* already closed */
      }
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

  /** The unpacked directory of a tar artifact, or undefined when the artifact is a single file. */
  directory(sha256: string): string | undefined {
    const dir = `${this.path(sha256)}.d`;
    return existsSync(dir) ? dir : undefined;
  }

  size(sha256: string): number {
    return statSync(this.path(sha256)).size;
  }

  /**
   * The artifact under a name with `ext` (a hard link beside it), for runtimes that pick a loader by
   * extension (`.mjs`, `.ts`, `.py`).
   */
  withExtension(sha256: string, ext: string): string {
    if (!EXTENSIONS.includes(ext)) throw new BadRequestError(`artifact extension '${ext}' is not one a runtime can load`, EXTENSIONS.join(", "));
    const target = this.existing(sha256) + ext;
    if (!existsSync(target)) linkSync(this.path(sha256), target);
    return target;
  }

  remove(sha256: string): void {
    const base = this.path(sha256);
    rmSync(base, { force: true });
    for (const ext of EXTENSIONS) rmSync(base + ext, { force: true });
    removeTree(`${base}.d`);
  }
}

/** Sets the mode of every directory of a tree (files keep the read-only mode they were written with). */
function setDirModes(root: string, mode: number): void {
  for (const e of readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) setDirModes(join(root, e.name), mode);
  chmodSync(root, mode);
}

/** Removes a read-only unpacked tree: its directories are made writable first. */
function removeTree(root: string): void {
  if (!existsSync(root)) return;
  setDirModes(root, 0o755);
  rmSync(root, { recursive: true, force: true });
}
