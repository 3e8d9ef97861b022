/**
 * The HR decision tree exported to ONNX (examples/onnx/export.py), served by onnxruntime-node inside clipper's
 * Node runtime: no Python at serving time.
 *
 *   clipper deploy examples/onnx/hr_onnx.mjs --name hr-onnx
 *
 * The server imports a content-addressed copy of this file (<data-dir>/artifacts/<sha256>.mjs), so neither
 * `onnxruntime-node` nor hr.onnx can be found relative to it there. Both are resolved from absolute paths that
 * the server's environment hands down to its replicas:
 *
 *   CLIPPER_ONNX_DIR  a directory whose node_modules holds onnxruntime-node (`bun install` in examples/onnx);
 *                     default: this file's own directory (enough when the module is imported in place)
 *   HR_ONNX_MODEL     the .onnx file; default: hr.onnx in CLIPPER_ONNX_DIR (or next to this file)
 *
 * e.g. CLIPPER_ONNX_DIR=$PWD/examples/onnx clipper serve   (hr.onnx written there by export.py)
 */
import { existsSync, readFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = resolve(process.env.CLIPPER_ONNX_DIR || HERE);
const MODEL = resolve(process.env.HR_ONNX_MODEL || join(BASE, "hr.onnx"));

/** @type {any} */
let ort;
/** @type {any} */
let session;
let inputName = "input";
let labelName = "label";

/**
 * onnxruntime-node, required as from a file inside BASE (its node_modules, then the parents').
 *
 * clipper's binary is built by `bun build --compile`, whose runtime (Bun >= 1.3.4) reads no package.json from disk
 * unless built with --compile-autoload-package-json: a bare `require("onnxruntime-node")` then finds nothing, even
 * in the right node_modules. So when the plain require fails, the package entry points are looked up here from
 * their package.json files (main / exports), for onnxruntime-node and the packages it requires (onnxruntime-common),
 * through Node's Module._resolveFilename hook, which Bun honours. In `bun`/`node`, or a binary built with that flag,
 * the plain require works and no hook is installed.
 */
function loadOrt() {
  const require = createRequire(join(BASE, "package.json"));
  try {
    return require("onnxruntime-node");
  } catch (plain) {
    const entry = packageEntry("onnxruntime-node");
    if (!entry) {
      throw new Error(`cannot load onnxruntime-node from ${BASE}: set CLIPPER_ONNX_DIR (in the server's environment) to a ` +
        `directory where \`bun install\` put it, e.g. examples/onnx (${plain instanceof Error ? plain.message : plain})`);
    }
    const original = Module._resolveFilename;
    Module._resolveFilename = function (request, parent, ...rest) {
      try {
        return original.call(this, request, parent, ...rest);
      } catch (err) {
        const found = isBare(request) && String(parent?.filename ?? "").startsWith(BASE) ? packageEntry(request) : undefined;
        if (found) return found;
        throw err;
      }
    };
    return require(entry);
  }
}

const isBare = (request) => !request.startsWith(".") && !request.startsWith("/") && !request.includes(":");

/** The CommonJS entry file of package NAME (or NAME/sub/path) in BASE/node_modules, or undefined. */
function packageEntry(request) {
  const parts = request.split("/");
  const name = request.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const sub = request.slice(name.length);
  const dir = join(BASE, "node_modules", name);
  if (!existsSync(join(dir, "package.json"))) return undefined;
  if (sub) return join(dir, sub);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const pick = (e) => (typeof e === "string" ? e : e && (pick(e.require) ?? pick(e.node) ?? pick(e.default)));
  const exported = pkg.exports && (pick(pkg.exports["."]) ?? pick(pkg.exports));
  return join(dir, exported ?? pkg.main ?? "index.js");
}

export async function load() {
  if (!existsSync(MODEL)) {
    throw new Error(`no ONNX model at ${MODEL}: run examples/onnx/export.py, and set HR_ONNX_MODEL or CLIPPER_ONNX_DIR ` +
      "in the server's environment");
  }
  ort = loadOrt();
  // A small tree: one thread per replica; scale with replicas rather than intra-op threads.
  session = await ort.InferenceSession.create(MODEL, { executionProviders: ["cpu"], intraOpNumThreads: 1, interOpNumThreads: 1 });
  inputName = session.inputNames[0];
  labelName = session.outputNames.includes("label") ? "label" : session.outputNames[0];
  console.error(`hr_onnx: ${MODEL} on onnxruntime-node ${ort.env.versions?.node ?? "?"} ` +
    `(inputs ${session.inputNames.join(",")}, outputs ${session.outputNames.join(",")})`);
}

/** @param {number[][]} inputs rows of the five HR features → one label per row, as a string ("0" / "1"). */
export async function predict(inputs) {
  if (!session) await load();
  const n = inputs.length;
  if (n === 0) return [];
  const cols = inputs[0].length;
  const data = new Float32Array(n * cols);
  inputs.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== cols) throw new TypeError(`row ${r} has ${row?.length} values, row 0 has ${cols}`);
    data.set(row, r * cols);
  });
  const out = await session.run({ [inputName]: new ort.Tensor("float32", data, [n, cols]) }, [labelName]);
  // int64 labels arrive as a BigInt64Array; String(1n) === "1", like str(numpy.int64(1)) on the Python side.
  return Array.from(out[labelName].data, (label) => String(label));
}
