/** JSON-like values that may hold raw tokens (NaN, Infinity, 1e999, 0x10…) that JSON.stringify cannot write, and their text. */

/** A token written verbatim into the body text. */
export class Raw {
  constructor(readonly text: string) {}
}

export type Loose = null | boolean | number | string | Raw | readonly Loose[] | { readonly [key: string]: Loose };

/** The body text of `value`; non-finite numbers become the bare literals NaN, Infinity and -Infinity. */
export function render(value: Loose): string {
  if (value instanceof Raw) return value.text;
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : String(value);
  if (Array.isArray(value)) return `[${value.map(render).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${render(v as Loose)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** True when some string inside `value` (object keys included) satisfies `test`. */
export function someString(value: Loose, test: (s: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (value instanceof Raw || value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return value.some((v) => someString(v, test));
  return Object.entries(value).some(([k, v]) => test(k) || someString(v as Loose, test));
}

/** A copy of `value` with every string (and key) equal to one of `names` replaced by `replacement`. */
export function replaceStrings(value: Loose, names: ReadonlySet<string>, replacement: string): Loose {
  if (typeof value === "string") return names.has(value) ? replacement : value;
  if (value instanceof Raw || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => replaceStrings(v, names, replacement));
  // A null prototype so that a "__proto__" key stays an own key.
  const out: Record<string, Loose> = Object.create(null);
  for (const [k, v] of Object.entries(value)) out[names.has(k) ? replacement : k] = replaceStrings(v as Loose, names, replacement);
  return out;
}
