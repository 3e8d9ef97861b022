/**
 * Model formats the Python runtime loads with no wrapper code, recognised from the artifact itself: a
 * directory's marker files, the file's extension, or its first bytes. An artifact matching none is a pickle,
 * joblib file or Python module, served as before. Also: the packages a format needs when the server's
 * Python lacks them (MLflow: the model's own requirements.txt).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { spawnSync } from "bun";
import { FORMAT_MODULES } from "../runtime/kinds.ts";

export const FORMATS = ["torchscript", "torch-export", "savedmodel", "keras", "xgboost", "lightgbm", "onnx", "mlflow"] as const;
export type FormatName = (typeof FORMATS)[number];

/** Formats whose artifact is a directory (uploaded as a tar). */
export const DIRECTORY_FORMATS: ReadonlySet<string> = new Set(["savedmodel", "mlflow"]);

/** The module a format imports, and the pinned packages that provide it when the server's Python lacks it. */
export const FORMAT_PACKAGES: Record<FormatName, { module: string; pkgs: string[] }> = {
  torchscript: { module: FORMAT_MODULES.torchscript!, pkgs: ["torch==2.13.0"] },
  "torch-export": { module: FORMAT_MODULES["torch-export"]!, pkgs: ["torch==2.13.0"] },
  savedmodel: { module: FORMAT_MODULES.savedmodel!, pkgs: ["tensorflow-cpu==2.21.0"] },
  keras: { module: FORMAT_MODULES.keras!, pkgs: ["tensorflow-cpu==2.21.0"] },
  xgboost: { module: FORMAT_MODULES.xgboost!, pkgs: ["xgboost==3.2.0"] },
  lightgbm: { module: FORMAT_MODULES.lightgbm!, pkgs: ["lightgbm==4.7.0"] },
  onnx: { module: FORMAT_MODULES.onnx!, pkgs: ["onnxruntime==1.32.0"] },
  mlflow: { module: FORMAT_MODULES.mlflow!, pkgs: ["mlflow==3.17.2"] },
};

const BY_EXTENSION: Record<string, FormatName> = {
  ".pt": "torchscript",
  ".pth": "torchscript",
  ".pt2": "torch-export",
  ".keras": "keras",
  ".ubj": "xgboost",
  ".onnx": "onnx",
};

/** The directory holding the model: the unpacked root, or its only subdirectory (`tar -cf m.tar model/`). */
export function modelRoot(dir: string): string {
  const entries = readdirSync(dir);
  if (entries.length === 1 && statSync(join(dir, entries[0]!)).isDirectory()) return join(dir, entries[0]!);
  return dir;
}

/** The format of an uploaded artifact (`dir` is its unpacked tree when it was a tar), or undefined for a pickle/module. */
export function detectFormat(artifactName: string, file: string, dir: string | undefined): FormatName | undefined {
  if (dir) {
    const root = modelRoot(dir);
    if (existsSync(join(root, "MLmodel"))) return "mlflow";
    if (existsSync(join(root, "saved_model.pb")) || existsSync(join(root, "saved_model.pbtxt"))) return "savedmodel";
    return undefined;
  }
  const ext = extname(artifactName).toLowerCase();
  if (BY_EXTENSION[ext]) return BY_EXTENSION[ext];
  const head = readHead(file, 1 << 20);
  if (ext === ".json" || ext === "") {
    if (/^\s*\{\s*"learner"\s*:/.test(head) || /"learner"\s*:\s*\{/.test(head.slice(0, 4096))) return "xgboost";
  }
  if (/^tree\r?\nversion=v\d/.test(head)) return "lightgbm";
  if (head.startsWith("PK\u0003\u0004")) {
    // A zip: TorchScript archives hold code/ and constants.pkl, exported programs their program JSON, .keras a config.json.
    const tail = head + readTail(file, 1 << 16);
    if (tail.includes("serialized_exported_program")) return "torch-export";
    if (tail.includes("constants.pkl") || /\/code\/.*\.py/.test(tail)) return "torchscript";
    if (tail.includes("model.weights.h5") && tail.includes("config.json")) return "keras";
  }
  return undefined;
}

/** Up to `n` bytes from the start (or the end) of a file, as latin1 text for signature matching. */
function readAt(file: string, n: number, fromEnd: boolean): string {
  const size = statSync(file).size;
  const len = Math.min(n, size);
  const buf = new Uint8Array(len);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, len, fromEnd ? size - len : 0);
  } finally {
    closeSync(fd);
  }
  return new TextDecoder("latin1").decode(buf);
}
const readHead = (file: string, n: number) => readAt(file, n, false);
const readTail = (file: string, n: number) => readAt(file, n, true);

/** A requirement line of an MLflow requirements.txt that the environment builder accepts (comments and options dropped). */
const REQUIREMENT_LINE =
  /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?((===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+)?(,(===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+)*$/;

/** The packages an MLflow model recorded in its requirements.txt (mlflow itself included), or undefined. */
export function mlflowRequirements(dir: string): string[] | undefined {
  const file = join(modelRoot(dir), "requirements.txt");
  if (!existsSync(file)) return undefined;
  const reqs = readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.replace(/#.*/, "").replace(/\s+/g, ""))
    .filter((l) => REQUIREMENT_LINE.test(l));
  return reqs.length ? reqs.slice(0, 100) : undefined;
}

const hasModuleCache = new Map<string, boolean>();

/** Whether `python` can import `module` (asked once per interpreter and module). */
export function pythonHas(python: string, module: string): boolean {
  const key = `${python}\0${module}`;
  let has = hasModuleCache.get(key);
  if (has === undefined) {
    const r = spawnSync([python, "-c", `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 1)`], {
      stdout: "ignore",
      stderr: "ignore",
    });
    has = r.exitCode === 0;
    hasModuleCache.set(key, has);
  }
  return has;
}
