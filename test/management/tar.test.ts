/** Tar archives of directory artifacts: what packDirectory writes checkTar reads back, and what checkTar refuses. */
import { afterAll, describe, expect, it } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkTar, extractTar, looksLikeTar, packDirectory } from "../../src/management/tar.ts";
import { cleanup, tempDir } from "../e2e/harness.ts";

const dir = tempDir("clipper-tar-");
afterAll(() => cleanup(dir));

function tree(): string {
  const root = join(dir, `model-${crypto.randomUUID()}`);
  mkdirSync(join(root, "variables", "deep".repeat(30)), { recursive: true });
  writeFileSync(join(root, "saved_model.pb"), "graph bytes");
  writeFileSync(join(root, "variables", "deep".repeat(30), "weights.bin"), new Uint8Array(1500).fill(7));
  symlinkSync("saved_model.pb", join(root, "alias.pb"));
  return root;
}

function tarFile(bytes: Uint8Array): string {
  const p = join(dir, `${crypto.randomUUID()}.tar`);
  writeFileSync(p, bytes);
  return p;
}

describe("directory artifacts as tar", () => {
  it("packs a directory deterministically and unpacks it byte for byte, long names included", () => {
    const root = tree();
    const bytes = packDirectory(root);
    expect(looksLikeTar(bytes)).toBe(true);
    expect(packDirectory(root)).toEqual(bytes);
    const path = tarFile(bytes);
    const entries = checkTar(path, 1 << 20);
    const out = join(dir, "out");
    extractTar(path, entries, out);
    expect(readFileSync(join(out, "saved_model.pb"), "utf8")).toBe("graph bytes");
    expect(readFileSync(join(out, "alias.pb"), "utf8")).toBe("graph bytes");
    expect(readFileSync(join(out, "variables", "deep".repeat(30), "weights.bin"))).toEqual(Buffer.from(new Uint8Array(1500).fill(7)));
  });

  it("refuses an archive that would unpack past the byte limit, naming the entry", () => {
    const path = tarFile(packDirectory(tree()));
    expect(() => checkTar(path, 1000)).toThrow(/archive entry 'variables\/.*weights.bin' would unpack past the limit of 1000 bytes/);
  });

  it("refuses a symlink to an absolute path and a hard link to a file not in the archive", () => {
    const root = join(dir, "links");
    mkdirSync(root);
    symlinkSync("/etc/passwd", join(root, "passwd"));
    expect(() => checkTar(tarFile(packDirectory(root)), 1 << 20)).toThrow("archive entry 'passwd' has an absolute link target");
    // A hard link entry ('1') naming a file the archive never had.
    const bytes = packDirectory(tree());
    bytes[156] = "1".charCodeAt(0);
    bytes.fill(0, 157, 257);
    bytes.set(new TextEncoder().encode("missing.bin"), 157);
    let sum = 0;
    bytes.fill(32, 148, 156);
    for (let i = 0; i < 512; i++) sum += bytes[i]!;
    bytes.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
    expect(() => checkTar(tarFile(bytes), 1 << 20)).toThrow(/is a hard link to 'missing.bin', which is not a file earlier in the archive/);
  });
});
