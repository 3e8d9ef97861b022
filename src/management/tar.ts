/**
 * Tar archives of directory artifacts (a TensorFlow SavedModel, an MLflow model). `checkTar` reads every
 * header before anything is written and refuses an entry that is absolute, climbs with `..`, links outside
 * the archive, is a device or FIFO, or would unpack past the byte limit; `extractTar` then writes only
 * regular files, directories and inside links. `packDirectory` writes a deterministic ustar+pax archive.
 */
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, symlinkSync, writeSync } from "node:fs";
import { join, posix } from "node:path";
import { BadRequestError } from "../errors.ts";

const BLOCK = 512;

export interface TarEntry {
  readonly name: string;
  readonly type: "file" | "dir" | "symlink" | "hardlink";
  readonly size: number;
  readonly linkName: string;
  /** Byte offset of the entry's data in the archive. */
  readonly offset: number;
}

/** True when the bytes carry a ustar (POSIX or GNU) header at the start. */
export function looksLikeTar(head: Uint8Array): boolean {
  return head.length >= 263 && new TextDecoder().decode(head.subarray(257, 262)) === "ustar";
}

const text = (b: Uint8Array, start: number, len: number) => {
  const s = b.subarray(start, start + len);
  const end = s.indexOf(0);
  return new TextDecoder().decode(end === -1 ? s : s.subarray(0, end));
};
const octal = (b: Uint8Array, start: number, len: number) => parseInt(text(b, start, len).trim() || "0", 8);

function refuse(name: string, why: string): never {
  throw new BadRequestError(
    `archive entry '${name}' ${why}`,
    "a directory artifact is a tar of relative paths inside it, regular files, directories and links that stay inside",
  );
}

/** Pax extended header records: "LEN key=value\n". */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const s = new TextDecoder().decode(data);
  for (let i = 0; i < s.length; ) {
    const space = s.indexOf(" ", i);
    const len = Number(s.slice(i, space));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = s.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

/** A relative path that stays inside the archive's root: no leading '/', no '..' segment. */
function checkPath(name: string, what: string, entry: string): void {
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) refuse(entry, `has an absolute ${what}`);
  if (name.split("/").includes("..")) refuse(entry, `has '..' in its ${what}`);
  if (name.includes("\0") || name.includes("\\")) refuse(entry, `has a ${what} with a NUL or backslash`);
}

/** Reads and checks every header of the archive at `path`; throws a 400 naming the first bad entry. */
export function checkTar(path: string, maxBytes: number): TarEntry[] {
  const fd = openSync(path, "r");
  try {
    const entries: TarEntry[] = [];
    const header = new Uint8Array(BLOCK);
    let offset = 0;
    let total = 0;
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    const readData = (size: number) => {
      if (size > 1024 * 1024) refuse("(extended header)", "is over 1 MiB");
      const buf = new Uint8Array(size);
      readSync(fd, buf, 0, size, offset + BLOCK);
      return buf;
    };
    for (;;) {
      const got = readSync(fd, header, 0, BLOCK, offset);
      if (got < BLOCK || header.every((b) => b === 0)) break;
      if (text(header, 257, 5) !== "ustar") refuse(`(header at byte ${offset})`, "is not a ustar header");
      const size = octal(header, 124, 12);
      const flag = String.fromCharCode(header[156]!);
      const next = offset + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
      if (flag === "x") {
        pax = paxRecords(readData(size));
        offset = next;
        continue;
      }
      if (flag === "g") {
        offset = next;
        continue;
      }
      if (flag === "L") {
        longName = text(readData(size), 0, size);
        offset = next;
        continue;
      }
      if (flag === "K") {
        longLink = text(readData(size), 0, size);
        offset = next;
        continue;
      }
      const prefix = text(header, 345, 155);
      const raw = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
      const linkName = pax.get("linkpath") ?? longLink ?? text(header, 157, 100);
      const realSize = pax.has("size") ? Number(pax.get("size")) : size;
      pax = new Map();
      longName = longLink = undefined;
      checkPath(raw, "path", raw);
      const name = posix.normalize(raw).replace(/\/+$/, "");
      const type =
        flag === "0" || flag === "\0" || flag === "7" ? "file" : flag === "5" ? "dir" : flag === "2" ? "symlink" : flag === "1" ? "hardlink" : undefined;
      if (!type) refuse(raw, flag === "3" || flag === "4" ? "is a device file" : flag === "6" ? "is a FIFO" : `has unsupported type '${flag}'`);
      if (type === "symlink" || type === "hardlink") checkPath(linkName, "link target", raw);
      if (type === "hardlink" && !entries.some((e) => e.type === "file" && e.name === posix.normalize(linkName))) {
        refuse(raw, `is a hard link to '${linkName}', which is not a file earlier in the archive`);
      }
      total += type === "file" ? realSize : 0;
      if (total > maxBytes) refuse(raw, `would unpack past the limit of ${maxBytes} bytes (CLIPPER_MAX_ARTIFACT_BYTES)`);
      if (name !== ".") entries.push({ name, type, size: realSize, linkName, offset: offset + BLOCK });
      offset = offset + BLOCK + Math.ceil(realSize / BLOCK) * BLOCK;
    }
    if (!entries.length) refuse("(none)", "exists: the archive is empty");
    return entries;
  } finally {
    closeSync(fd);
  }
}

/** Writes checked `entries` of the archive at `path` under `dest` (which must not exist yet). */
export function extractTar(path: string, entries: readonly TarEntry[], dest: string): void {
  mkdirSync(dest, { recursive: true });
  const fd = openSync(path, "r");
  try {
    for (const e of entries) {
      const target = join(dest, e.name);
      mkdirSync(join(target, ".."), { recursive: true });
      if (e.type === "dir") {
        mkdirSync(target, { recursive: true });
        continue;
      }
      if (e.type === "symlink") {
        symlinkSync(e.linkName, target);
        continue;
      }
      // A hard link is written as a copy of its (already extracted) target: no link can point elsewhere.
      const data = e.type === "hardlink" ? readFileSync(join(dest, posix.normalize(e.linkName))) : new Uint8Array(e.size);
      if (e.type === "file") readSync(fd, data, 0, e.size, e.offset);
      const out = openSync(target, "wx", 0o444);
      try {
        writeSync(out, data);
      } finally {
        closeSync(out);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** A deterministic tar of a directory (sorted, mtime 0, owner 0), so the same model gets the same hash. */
export function packDirectory(dir: string): Uint8Array {
  const blocks: Uint8Array[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) {
        blocks.push(...entryBlocks(`${r}/`, "5", new Uint8Array(0), ""));
        walk(r);
      } else if (st.isSymbolicLink()) blocks.push(...entryBlocks(r, "2", new Uint8Array(0), readlinkSync(join(dir, r))));
      else if (st.isFile()) blocks.push(...entryBlocks(r, "0", readFileSync(join(dir, r)), ""));
    }
  };
  walk("");
  blocks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

function entryBlocks(name: string, flag: string, data: Uint8Array, link: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(link) > 100) {
    const records = (name.length > 100 ? paxRecord("path", name) : "") + (link.length > 100 ? paxRecord("linkpath", link) : "");
    const body = new TextEncoder().encode(records);
    out.push(header("PaxHeader", "x", body.length, ""), padded(body));
  }
  out.push(header(name.slice(0, 100), flag, data.length, link.slice(0, 100)));
  if (data.length) out.push(padded(data));
  return out;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(data);
  return out;
}

function header(name: string, flag: string, size: number, link: string): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (s: string, at: number, len: number) => h.set(new TextEncoder().encode(s).subarray(0, len), at);
  put(name, 0, 100);
  put(flag === "5" ? "0000755\0" : "0000644\0", 100, 8);
  put("0000000\0", 108, 8);
  put("0000000\0", 116, 8);
  put(`${size.toString(8).padStart(11, "0")}\0`, 124, 12);
  put("00000000000\0", 136, 12);
  put("        ", 148, 8);
  put(flag, 156, 1);
  put(link, 157, 100);
  put("ustar\0" + "00", 257, 8);
  const sum = h.reduce((a, b) => a + b, 0);
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}
