/**
 * Schema-driven arbitraries for whole requests to every route of both APIs (the route list of
 * src/http/openapi.ts): the right method most of the time, a body that is mostly valid with broken fields,
 * wrong content types, wrong or missing tokens. Bodies that could change the deployed model "hr" or start a
 * process are made harmless before they are sent.
 */
import fc from "fast-check";
import { anyName, bodyFor, isTraversal, MARK, pathLike, wrongValue } from "./arbitraries.ts";
import { type Loose, render } from "./loose-json.ts";
import { logsQuery, MISSING_SHA256, mgmtBody, nameFieldTraversal, PROTECTED } from "./management-bodies.ts";
import { type InputType, queryFields, TYPED_APPS, v2Body } from "./query-bodies.ts";

export { PROTECTED, TYPED_APPS };

export type Auth = "right" | "none" | "empty" | "no-scheme" | "basic" | "other-token" | "short" | "long" | "upper" | "scheme-only" | "tab" | "in-query";

/** One route of one API, as the OpenAPI document lists it: "POST /admin/add_app", "GET /v2/models/{m}". */
export interface RouteSpec {
  readonly api: "query" | "mgmt";
  readonly label: string;
  /** Answers without the management token. */
  readonly open: boolean;
}

export interface FuzzRequest {
  readonly api: "query" | "mgmt";
  /** Which route the request aims at, for coverage: "POST /admin/add_app", "POST /{app}/predict", "unknown path". */
  readonly route: string;
  readonly method: string;
  /** Path and query string exactly as sent (fetch still removes dot segments). */
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: string | Uint8Array | undefined;
  readonly auth: Auth;
  /** A name in the body, path or query is path-like: with the right token only 400 or 404 may answer. */
  readonly traversal: boolean;
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] as const;
const CONTENT_TYPES = [
  undefined,
  undefined,
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=zzz",
  "application/json; charset=utf-16",
  "application/octet-stream",
  "application/msgpack",
  "garbage",
  "*/*",
  "application/json; charset=bogus",
];
const WRONG_AUTH: readonly Auth[] = ["none", "empty", "no-scheme", "basic", "other-token", "short", "long", "upper", "scheme-only", "tab", "in-query"];

const auth: fc.Arbitrary<Auth> = fc.oneof({ arbitrary: fc.constant("right" as Auth), weight: 12 }, { arbitrary: fc.constantFrom(...WRONG_AUTH), weight: 2 });
const contentType = fc.constantFrom(...CONTENT_TYPES);

function toBody(b: Loose | string | Uint8Array): string | Uint8Array {
  return typeof b === "string" || b instanceof Uint8Array ? b : render(b);
}

/** Keeps the route's method most of the time; a wrong one otherwise (GET and HEAD then carry no body). */
function method(own: string): fc.Arbitrary<string> {
  return fc.oneof({ arbitrary: fc.constant(own), weight: 6 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 });
}

function request(r: Omit<FuzzRequest, "body"> & { body: string | Uint8Array | undefined }): FuzzRequest {
  return r.method === "GET" || r.method === "HEAD" ? { ...r, body: undefined } : r;
}

/** A management route with a JSON body. */
function mgmtBodyRoute(route: string): fc.Arbitrary<FuzzRequest> {
  const [own, path] = route.split(" ") as [string, string];
  return fc
    .record({ m: method(own), body: mgmtBody(route), ct: contentType, auth })
    .map(({ m, body: b, ct, auth: a }) =>
      request({ api: "mgmt", route, method: m, path, contentType: ct, body: toBody(b), auth: a, traversal: m === own && nameFieldTraversal(b) }),
    );
}

/** A path parameter's value: mostly names the server knows, often path-like (encoded, so fetch keeps it). */
type Segment = { readonly seg: string; readonly traversal: boolean; readonly app?: string; readonly type?: InputType };

// "." and ".." stay dot segments even as %2e%2e: fetch resolves them, so the server never sees them as a name.
const encodeName = (n: string): Segment => ({ seg: encodeURIComponent(n), traversal: isTraversal(n) && !/^\.{1,2}$/.test(n) });

const appSegment: fc.Arbitrary<Segment> = fc.oneof(
  { arbitrary: fc.constant({ seg: PROTECTED, traversal: false, app: PROTECTED, type: "doubles" as InputType }), weight: 5 },
  {
    arbitrary: fc.constantFrom(...(Object.entries(TYPED_APPS) as [InputType, string][])).map(([type, app]) => ({ seg: app, traversal: false, app, type })),
    weight: 4,
  },
  { arbitrary: anyName.map(encodeName), weight: 2 },
  { arbitrary: pathLike.map(encodeName), weight: 2 },
  // Unencoded: fetch resolves the dot segments first ("hr/../hr" is just "hr"), so any answer may be right.
  { arbitrary: pathLike.map((n) => ({ seg: n.replace(/\?/g, "%3F").replace(/#/g, "%23"), traversal: false })), weight: 1 },
);
const versionSegment: fc.Arbitrary<Segment> = fc.oneof(
  { arbitrary: fc.constantFrom("1", "2", "v1", "0").map((seg) => ({ seg, traversal: false })), weight: 3 },
  { arbitrary: pathLike.map(encodeName), weight: 2 },
  { arbitrary: anyName.map(encodeName), weight: 1 },
);
const envSegment: fc.Arbitrary<Segment> = fc.oneof(
  { arbitrary: fc.stringMatching(/^[0-9a-f]{16}$/).map((id) => ({ seg: id, traversal: false })), weight: 2 },
  { arbitrary: pathLike.map(encodeName), weight: 3 },
  { arbitrary: anyName.map(encodeName), weight: 2 },
  { arbitrary: fc.constantFrom("%zz", "%E0%A4%A", "%", "..%2F..%2Fenvs", "%2e%2e%2f").map((seg) => ({ seg, traversal: true })), weight: 1 },
);

function segment(param: string): fc.Arbitrary<Segment> {
  if (param === "app" || param === "m") return appSegment;
  if (param === "v") return versionSegment;
  if (param === "id") return envSegment;
  return anyName.map(encodeName);
}

/** The route's path with each {param} filled in, the app it names and whether a name is path-like. */
function fillPath(template: string): fc.Arbitrary<{ path: string; traversal: boolean; app?: string; type?: InputType }> {
  const params = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  if (params.length === 0) return fc.constant({ path: template, traversal: false });
  return fc.tuple(...params.map(segment)).map((segs) => {
    let i = 0;
    const path = template.replace(/\{\w+\}/g, () => segs[i++]!.seg);
    const app = segs.find((s) => s.app !== undefined);
    return { path, traversal: segs.some((s) => s.traversal), app: app?.app, type: app?.type };
  });
}

const queryJunk = fc.oneof(
  fc.constant(""),
  fc.constantFrom("?x=1", "?%zz", "?a=%00", `?${"a".repeat(4000)}`, "?input=[1]", "?verbose=true"),
  fc.webQueryParameters().map((q) => `?${q}`),
);

/** Requests to one route: the route's own method mostly, its path parameters and body fuzzed from its schema. */
export function routeRequest(route: RouteSpec): fc.Arbitrary<FuzzRequest> {
  const [own, template] = route.label.split(" ") as [string, string];
  const { api, label } = route;
  const authArb = api === "mgmt" ? auth : fc.constant("right" as Auth);
  if (api === "mgmt" && template === "/admin/logs") {
    return fc.record({ m: method(own), q: logsQuery, auth: authArb }).map(({ m, q, auth: a }) =>
      request({
        api,
        route: label,
        method: m,
        path: `/admin/logs?${q.qs}`,
        contentType: undefined,
        body: undefined,
        auth: a,
        traversal: m === own && q.traversal,
      }),
    );
  }
  if (api === "mgmt" && template === "/admin/artifacts") {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.string({ unit: "binary", maxLength: 200 }), fc.constant(""));
    return fc
      .record({ m: method(own), b: bytes, ct: contentType, auth: authArb })
      .map(({ m, b, ct, auth: a }) => request({ api, route: label, method: m, path: template, contentType: ct, body: b, auth: a, traversal: false }));
  }
  if (api === "mgmt" && own !== "GET") return mgmtBodyRoute(label);
  return fillPath(template).chain((p) => {
    const type = p.type ?? "doubles";
    const forProtected = p.app === PROTECTED;
    const body: fc.Arbitrary<string | Uint8Array | undefined> =
      own === "GET"
        ? fc.option(fc.json({ maxDepth: 1 }), { nil: undefined })
        : template.includes("/v2/")
          ? v2Body(type, forProtected).map(toBody)
          : template.startsWith("/{app}/")
            ? bodyFor(queryFields(template, type, forProtected), new Set()).map(toBody)
            : // A route this fuzzer has no schema for: only bodies no schema accepts.
              fc.oneof(fc.constantFrom("[]", "1", '"x"', "{", "null"), fc.array(wrongValue, { maxLength: 3 }).map(render));
    return fc
      .record({ m: method(own), qs: own === "GET" ? queryJunk : fc.constant(""), body, ct: contentType, auth: authArb })
      .map(({ m, qs, body: b, ct, auth: a }) =>
        request({ api, route: label, method: m, path: p.path + qs, contentType: ct, body: b, auth: a, traversal: m === own && p.traversal }),
      );
  });
}

/** Paths no route serves on either port: near misses, case, slashes, encodings, names. */
export function unknownRequest(api: "query" | "mgmt"): fc.Arbitrary<FuzzRequest> {
  const prefix = api === "mgmt" ? "/admin" : "";
  const path = fc.oneof(
    fc.constantFrom(
      "/hr",
      "/hr/",
      "/hr/predict/",
      "/hr/Predict",
      "/hr/predict/extra",
      "//hr/predict",
      "/health/",
      "/HEALTH",
      "/metrics.json.bak",
      "/.env",
      "/v2/",
      "/v2/models",
      "/v2/models/hr/infer/x",
      "/v3/models/hr/infer",
      "/hr/predict%00",
      `/${MARK}`,
      "/admin",
      "/admin/",
      "/admin/ping/",
      "/ADMIN/PING",
      "/admin/Status",
      "/admin/add_app/extra",
      "/admin/environments/",
      "/admin/environments/a/b",
      "/admin/logs/x",
      `/admin/artifacts/${MISSING_SHA256}`,
      "/admin/ping%00",
      "/admin/ping;x",
      "/admin//ping",
      "/dashboard/",
      "/dashboard/../admin/status",
      "/docs/x",
      "/openapi.yaml",
    ),
    fc.webPath().map((p) => `${prefix}${p.startsWith("/") ? p : `/${p}`}`),
    pathLike.map((p) => `${prefix}/${encodeURIComponent(p)}`),
    fc.tuple(anyName, anyName).map(([a, b]) => `/${encodeURIComponent(a)}/${encodeURIComponent(b)}`),
  );
  return fc
    .record({ m: fc.constantFrom(...METHODS), path, auth: api === "mgmt" ? auth : fc.constant("right" as Auth) })
    .map(({ m, path: p, auth: a }) =>
      request({ api, route: "unknown path", method: m, path: p, contentType: undefined, body: "{}", auth: a, traversal: false }),
    );
}

/** Any route of `routes`, plus unknown paths on both ports. */
export function anyRequest(routes: readonly RouteSpec[]): fc.Arbitrary<FuzzRequest> {
  // The routes that parse the richest bodies get more of the traffic.
  const weight = (r: RouteSpec) => (r.label.startsWith("POST /{app}/") || r.label.endsWith("/infer") ? 10 : 3);
  return fc.oneof(
    ...routes.map((r) => ({ arbitrary: routeRequest(r), weight: weight(r) })),
    { arbitrary: unknownRequest("query"), weight: 8 },
    { arbitrary: unknownRequest("mgmt"), weight: 6 },
  );
}
