/**
 * Big bodies: giant arrays, long strings, deep nesting and random bytes, most under the 10 MiB body limit
 * and a few over it. Built when sent, so that only the requests in flight hold their bodies.
 */
import fc from "fast-check";
import { MISSING_SHA256 } from "./management-bodies.ts";
import { TYPED_APPS } from "./query-bodies.ts";

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface GiantRequest {
  readonly api: "query" | "mgmt";
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly shape: Shape;
  readonly targetBytes: number;
  /** The route reads its body against --max-body-bytes (the artifact upload has its own, larger limit). */
  readonly limited: boolean;
}

type Shape = "numbers" | "bad-last-number" | "string" | "batch" | "deep" | "bytes" | "pkgs" | "keys";

const ROUTES: readonly Omit<GiantRequest, "shape" | "targetBytes">[] = [
  { api: "query", route: "POST /{app}/predict", method: "POST", path: "/hr/predict", limited: true },
  { api: "query", route: "POST /{app}/predict", method: "POST", path: `/${TYPED_APPS.doubles}/predict`, limited: true },
  { api: "query", route: "POST /{app}/predict", method: "POST", path: `/${TYPED_APPS.strings}/predict`, limited: true },
  { api: "query", route: "POST /{app}/predict", method: "POST", path: `/${TYPED_APPS.bytes}/predict`, limited: true },
  { api: "query", route: "POST /{app}/update", method: "POST", path: "/hr/update", limited: true },
  { api: "query", route: "POST /{app}/predict", method: "POST", path: "/no-such-app/predict", limited: true },
  { api: "mgmt", route: "POST /admin/add_app", method: "POST", path: "/admin/add_app", limited: true },
  { api: "mgmt", route: "POST /admin/add_model", method: "POST", path: "/admin/add_model", limited: true },
  { api: "mgmt", route: "POST /admin/set_policy", method: "POST", path: "/admin/set_policy", limited: true },
  { api: "mgmt", route: "POST /admin/environments", method: "POST", path: "/admin/environments", limited: true },
  { api: "mgmt", route: "POST /admin/get_all_applications", method: "POST", path: "/admin/get_all_applications", limited: true },
  { api: "mgmt", route: "PUT /admin/artifacts", method: "PUT", path: "/admin/artifacts", limited: false },
];

const SIZES = [256 * 1024, 2 * 1024 * 1024, 6 * 1024 * 1024, MAX_BODY_BYTES - 64];
const OVER = [MAX_BODY_BYTES + 1, MAX_BODY_BYTES + 1024 * 1024, 16 * 1024 * 1024];

export const giantRequest: fc.Arbitrary<GiantRequest> = fc
  .record({
    r: fc.constantFrom(...ROUTES),
    shape: fc.constantFrom<Shape>("numbers", "bad-last-number", "string", "batch", "deep", "bytes", "pkgs", "keys"),
    targetBytes: fc.oneof({ arbitrary: fc.constantFrom(...SIZES), weight: 5 }, { arbitrary: fc.constantFrom(...OVER), weight: 1 }),
  })
  .map(({ r, shape, targetBytes }) => ({ ...r, shape, targetBytes }));

/** The over-limit requests every run sends, whatever the seed draws: one per API. */
export const OVER_LIMIT: readonly GiantRequest[] = [
  { ...ROUTES[0]!, shape: "numbers", targetBytes: MAX_BODY_BYTES + 1024 * 1024 },
  { ...ROUTES[4]!, shape: "string", targetBytes: MAX_BODY_BYTES + 1 },
  { ...ROUTES[6]!, shape: "string", targetBytes: MAX_BODY_BYTES + 1024 * 1024 },
  { ...ROUTES[11]!, shape: "bytes", targetBytes: MAX_BODY_BYTES + 1024 * 1024 },
];

/** The body of `g`, `targetBytes` long (give or take a few bytes of framing). */
export function giantBody(g: GiantRequest): string | Uint8Array {
  const n = g.targetBytes;
  const fill = (unit: string, prefix: string, suffix: string) =>
    prefix + unit.repeat(Math.max(0, Math.floor((n - prefix.length - suffix.length) / unit.length))) + suffix;
  switch (g.shape) {
    case "numbers":
      return fill("1.5,", '{"input":[', '1.5],"name":"fz-giant"}');
    case "bad-last-number":
      return fill("2.25,", '{"input":[', '"x"]}');
    case "string":
      return fill("a", '{"input":"', '","name":"fz-giant","label":"1"}');
    case "batch":
      return fill("[1,2,3,4,5],", '{"input_batch":[', "[1,2,3,4,5]]}");
    case "deep":
      return "[".repeat(Math.floor(n / 2)) + "]".repeat(Math.floor(n / 2));
    case "bytes": {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >> 8)) & 0xff;
      return b;
    }
    // A package list that could never build: the requirement "../fuzz" is refused before anything runs.
    case "pkgs":
      return fill('"../fuzz",', `{"model_name":"fz-giant","artifact_sha256":"${MISSING_SHA256}","pkgs":[`, '"../fuzz"]}');
    case "keys":
      return fill('"k":1,', '{"app_name":"fz-giant","policy":"split","weights":{', '"k":1}}');
  }
}
