/** fast-check arbitraries for malformed values: wrong types, path-like names, broken JSON text, deep nesting. */
import fc from "fast-check";
import { type Loose, Raw, render } from "./loose-json.ts";

/** Marks every name the fuzzer makes up for a file path, so a file it manages to create can be found. */
export const MARK = "fuzzmark";

/** Names that try to leave a directory or break a file name. Every one is invalid as a model, app or version name. */
export const PATH_LIKE: readonly string[] = [
  "../../etc/passwd",
  "..",
  "../x",
  `../${MARK}`,
  `../../${MARK}`,
  `../../../../../../tmp/${MARK}`,
  `./${MARK}`,
  "%2e%2e",
  "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
  `..%2f..%2f${MARK}`,
  "..%5c..%5cwindows",
  `....//....//${MARK}`,
  `..\\..\\${MARK}`,
  "a/b",
  "a\\b",
  "/etc/passwd",
  `/tmp/${MARK}`,
  "~/.ssh/id_rsa",
  "file:///etc/passwd",
  "a\u0000b",
  "\u0000",
  `${MARK}\u0000.pkl`,
  "%00",
  "x".repeat(64),
  "y".repeat(300),
  `${MARK}/`,
  "hr/../hr",
  "hr/.",
];

/** True for a name that names a path or is too long: the server must reject it with 400 or 404. */
export function isTraversal(s: string): boolean {
  return /\.\.|[/\\\0]|%2e|%2f|%5c|%00/i.test(s) || s.length > 63;
}

/** Odd but harmless names: unicode, case, whitespace, reserved words (invalid names, not paths). */
const ODD_NAMES = [
  "HR",
  "Hr",
  "ｈｒ",
  "hr\n",
  " hr",
  "hr ",
  "",
  " ",
  ".",
  "-",
  "a..b",
  "-a",
  "a-",
  "CON",
  "nul",
  "é",
  "🙂",
  "\u202ehr",
  "hr\u200b",
  "__proto__",
  "constructor",
];

/** A valid name the fuzzer may create: never "hr", so the deployed model and app stay untouched. */
export const freshName = fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => `fz-${s}`);

export const pathLike = fc.constantFrom(...PATH_LIKE);

/** Any name: valid, path-like, odd or random unicode. */
export const anyName: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: freshName, weight: 4 },
  { arbitrary: pathLike, weight: 3 },
  { arbitrary: fc.constantFrom(...ODD_NAMES), weight: 2 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 1 },
  { arbitrary: fc.string({ unit: "grapheme", minLength: 60, maxLength: 70 }), weight: 1 },
);

/** Number literals as text: too big, too small, not numbers at all in JSON's grammar. */
const ODD_NUMBERS = [
  "NaN",
  "-NaN",
  "Infinity",
  "-Infinity",
  "1e999",
  "-1e999",
  "1e-999",
  "123456789012345678901234567890",
  "0x10",
  "0o7",
  "0b1",
  "01",
  "+1",
  ".5",
  "5.",
  "1e",
  "--1",
  "1_000",
  "9007199254740993",
  "-0",
  "2147483648",
  "-2147483649",
  "4294967296",
];

/** A value of the wrong type (or an absurd value of the right one) for any field. */
export const wrongValue: fc.Arbitrary<Loose> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(...ODD_NUMBERS).map((t) => new Raw(t)),
  fc.constantFrom(0, -1, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1.5, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity),
  fc.double(),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom('"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"\\x41"', "'single'", '"tab\there"', "undefined", "true false").map((t) => new Raw(t)),
  fc.constantFrom("a".repeat(10_001), "\u0000".repeat(100), "\u{1F600}".repeat(500)),
  fc.array(fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Loose>, { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Loose>, { maxKeys: 3 }),
  pathLike,
);

/** `[[[…]]]` or `{"a":{"a":…}}` nested `depth` levels, optionally left unclosed. */
export function nested(depth: number, shape: "array" | "object", closed: boolean): Raw {
  const open = shape === "array" ? "[" : '{"a":';
  const close = shape === "array" ? "]" : "}";
  const inner = shape === "array" ? "" : "1";
  return new Raw(open.repeat(depth) + inner + (closed ? close.repeat(depth) : ""));
}

const depth = fc.oneof(
  { arbitrary: fc.constant(64), weight: 4 },
  { arbitrary: fc.constant(1_000), weight: 3 },
  { arbitrary: fc.constant(10_000), weight: 2 },
  { arbitrary: fc.constant(100_000), weight: 1 },
);

export const deepValue: fc.Arbitrary<Raw> = fc
  .tuple(depth, fc.constantFrom("array" as const, "object" as const), fc.boolean())
  .map(([depth, shape, closed]) => nested(depth, shape, closed));

/** Text that is not JSON: a valid template broken by truncation, junk or a bad encoding. */
export function brokenText(template: fc.Arbitrary<Loose>): fc.Arbitrary<string | Uint8Array> {
  const text = template.map(render);
  return fc.oneof(
    fc.tuple(text, fc.nat()).map(([t, n]) => t.slice(0, t.length > 1 ? (n % (t.length - 1)) + 1 : 0)),
    text.map((t) => `${t}}`),
    text.map((t) => t.replace(/[:,]/, "")),
    text.map((t) => t.replace(/"/g, "'")),
    text.map((t) => `\uFEFF${t}`),
    text.map((t) => `${t}/* comment */`),
    text.map((t) => t.replace(/\]/, ",]")),
    text.map((t) => new TextEncoder().encode(t.replace(/"/, '"\u0000'))),
    fc.constantFrom(
      "",
      " ",
      "\n\t ",
      "{",
      "}",
      "[",
      "{not json",
      "null",
      "nul",
      "undefined",
      "NaN",
      '{"a" 1}',
      "{'a':1}",
      '{"input":[1,2,]}',
      '{"input":[NaN,Infinity,-Infinity]}',
      '{"input":[1e999]}',
      '{"input":01}',
      "\u0000",
      '{"a":"\\ud800"}',
    ),
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc.constantFrom(
      new Uint8Array([0xff, 0xfe, 0x7b, 0x7d]),
      new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]),
      new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
      new Uint8Array([0x7b, 0x00, 0x7d]),
    ),
  );
}

const ABSENT = Symbol("absent");

/** A plain object from `fields`: each field valid (mostly), wrong, or missing (one in five), plus stray keys. */
export function mutatedObject(fields: Record<string, fc.Arbitrary<Loose>>, nameFields: ReadonlySet<string> = new Set()): fc.Arbitrary<Loose> {
  const model: Record<string, fc.Arbitrary<Loose | typeof ABSENT>> = {};
  for (const [key, valid] of Object.entries(fields)) {
    const choices: fc.WeightedArbitrary<Loose>[] = [
      { arbitrary: valid, weight: 10 },
      { arbitrary: wrongValue, weight: 4 },
      { arbitrary: deepValue, weight: 1 },
    ];
    if (nameFields.has(key)) choices.push({ arbitrary: pathLike, weight: 4 });
    model[key] = fc.option(fc.oneof(...choices), { freq: 5, nil: ABSENT });
  }
  const stray = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor", "prototype")), wrongValue, {
    maxKeys: 2,
    noNullPrototype: false,
  });
  return fc.tuple(fc.record(model), fc.option(stray, { freq: 4 })).map(([obj, extra]) => {
    const out: Record<string, Loose> = Object.create(null);
    for (const [k, v] of Object.entries(extra ?? {})) out[k] = v;
    for (const [k, v] of Object.entries(obj)) if (v !== ABSENT) out[k] = v;
    return out;
  });
}

/**
 * A body for a route whose valid object looks like `fields`: mostly a mutated object, sometimes anything else.
 * `post` runs on every value before it is broken into text (a broken text may still parse, e.g. after a BOM).
 */
export function bodyFor(
  fields: Record<string, fc.Arbitrary<Loose>>,
  nameFields: ReadonlySet<string>,
  post: (value: Loose) => Loose = (v) => v,
): fc.Arbitrary<Loose | string | Uint8Array> {
  const object = mutatedObject(fields, nameFields).map(post);
  return fc.oneof(
    { arbitrary: object, weight: 10 },
    { arbitrary: (fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Loose>).map(post), weight: 2 },
    { arbitrary: brokenText(object), weight: 3 },
    { arbitrary: deepValue as fc.Arbitrary<Loose>, weight: 1 },
  );
}
