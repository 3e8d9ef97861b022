/**
 * Content-addressed artifact store under `<dataDir>/artifacts/<sha256>`.
 * Paths are derived from the hash only, so nothing a request sends can name a file elsewhere. A tar upload
 * (a directory artifact) is checked entry by entry before anything is kept, then unpacked read-only
 * beside it in `<sha256>.d/`.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { asResourceError, BadRequestError, NotFoundError, PayloadTooLargeError } from "../errors.ts";
import { checkTar, extractTar, looksLikeTar } from "./tar.ts";

const SHA256 = /^[0-9a-f]{64}$/;
/** Extensions a runtime picks its loader by: modules, and the model formats whose loaders read the name. */
const EXTENSIONS = [".js", ".mjs", ".cjs", ".ts", ".py", ".pt", ".pth", ".pt2", ".keras", ".json", ".ubj", ".txt", ".onnx"];

/** Names in the store that are work in progress: an upload being written, a tar being unpacked. */
const PARTIAL = /^\.upload-|\.d\.\d+-/;

export class ArtifactStore {
  readonly #dir: string;
  readonly #dataDir: string;
  readonly #maxBytes: number;

  constructor(dataDir: string, maxBytes: number) {
    this.#dataDir = dataDir;
    this.#dir = join(dataDir, "artifacts");
    this.#maxBytes = maxBytes;
    mkdirSync(this.#dir, { recursive: true });
  }

  /**
   * Removes what uploads and unpacking left half-written (a previous run was killed mid-way); called at
   * start-up, before any request, and by the garbage collector for leftovers older than its grace period.
   * Returns the names removed.
   */
  removePartial(olderThanMs = 0): string[] {
    const removed: string[] = [];
    const now = Date.now();
    for (const name of readdirSync(this.#dir)) {
      if (!PARTIAL.test(name)) continue;
      const path = join(this.#dir, name);
      try {
        if (olderThanMs > 0 && now - statSync(path).mtimeMs < olderThanMs) continue;
        removeTree(path);
        rmSync(path, { force: true });
        removed.push(name);
      } catch {
        // Gone meanwhile.
      }
    }
    return removed;
  }

  /** Every stored artifact: its sha256, bytes on disk (with its unpacked tree and links) and last write time. */
  list(): { sha256: string; bytes: number; mtimeMs: number }[] {
    const out: { sha256: string; bytes: number; mtimeMs: number }[] = [];
    for (const name of readdirSync(this.#dir)) {
      if (!SHA256.test(name)) continue;
      try {
        const st = statSync(join(this.#dir, name));
        const tree = `${join(this.#dir, name)}.d`;
        out.push({ sha256: name, bytes: st.size + (existsSync(tree) ? treeBytes(tree) : 0), mtimeMs: st.mtimeMs });
      } catch {
        // Removed meanwhile.
      }
    }
    return out;
  }

  /** Streams an upload to disk, hashing as it goes; returns its sha256 and size. */
  async put(body: ReadableStream<Uint8Array> | null): Promise<{ sha256: string; size: number; directory?: boolean; files?: number }> {
    if (!body) throw new BadRequestError("the upload is empty", "send the artifact's bytes as the request body");
    const tmp = join(this.#dir, `.upload-${process.pid}-${crypto.randomUUID()}`);
    const hash = createHash("sha256");
    let size = 0;
    // Each chunk's write is awaited: a full disk fails this request (and removes the partial file), never the process.
    const file = await open(tmp, "wx", 0o600).catch((err: unknown) => {
      throw asResourceError(err, this.#dataDir, "the artifact upload");
    });
    let closed = false;
    try {
      for await (const chunk of body) {
        size += chunk.length;
        if (size > this.#maxBytes) throw new PayloadTooLargeError(this.#maxBytes);
        hash.update(chunk);
        await file.write(chunk);
      }
      await file.close();
      closed = true;
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
      if (!closed) await file.close().catch(() => undefined);
      rmSync(tmp, { force: true });
      throw asResourceError(err, this.#dataDir, `the artifact upload (${size} bytes received)`);
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

/** Bytes of the files under `root` (0 for what is gone meanwhile). */
export function treeBytes(root: string): number {
  let total = 0;
  try {
    for (const e of readdirSync(root, { withFileTypes: true })) {
      const path = join(root, e.name);
      if (e.isDirectory()) total += treeBytes(path);
      else if (e.isFile()) total += statSync(path).size;
    }
  } catch {
    // Removed meanwhile.
  }
  return total;
}

/** Removes a read-only unpacked tree: its directories are made writable first. */
function removeTree(root: string): void {
  if (!existsSync(root) || !statSync(root).isDirectory()) return;
  setDirModes(root, 0o755);
  rmSync(root, { recursive: true, force: true });
}
