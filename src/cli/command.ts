/** What every CLI command shares: its declaration, flag parsing, help text and the management client. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError, request, resolveToken } from "./client.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options: Options;
  readonly help: Record<string, string>;
  /** How many positional arguments: exactly N, or [min, max]. */
  readonly positionals: number | readonly [number, number];
  run(values: Values, positionals: string[]): Promise<number>;
}

export const MGMT_URL = {
  url: { type: "string", default: "http://127.0.0.1:1338" },
  token: { type: "string" },
  "data-dir": { type: "string" },
} as const;
export const URL_HELP = {
  url: "management API of the running server (default http://127.0.0.1:1338)",
  token: "management token (default: CLIPPER_TOKEN, else the token file in --data-dir)",
  "data-dir": "the server's data directory, to read its token file (CLIPPER_DATA_DIR, default ./.clipper)",
};
export const JSON_OPT = { json: { type: "boolean", default: false } } as const;

export const str = (v: Values, k: string) => v[k] as string | undefined;
export const int = (v: Values, k: string): number | undefined => {
  const raw = str(v, k);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new CliError(`--${k} must be a whole number, got '${raw}'`);
  return n;
};
export const out = (line: string) => process.stdout.write(`${line}\n`);

/** A call to the management API: method, path, JSON body (or a Blob to upload). */
export type Call = (method: string, path: string, body?: unknown) => Promise<unknown>;

/** Calls the management API named by the command's --url with the resolved token. */
export function mgmt(v: Values): Call {
  const token = resolveToken(str(v, "token"), str(v, "data-dir"), process.env);
  return (method: string, path: string, body?: unknown): Promise<unknown> => request(str(v, "url")!, method, path, body, token);
}

/**
 * Joins `--flag value` into `--flag=value` for string flags, so that values starting with '-'
 * (`--default-output -1.0`) are taken as values; parseArgs alone calls them ambiguous.
 */
function joinStringFlags(c: Command, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const opt = arg.startsWith("--") && !arg.includes("=") ? c.options[arg.slice(2)] : undefined;
    if (opt?.type === "string" && opt.multiple) {
      // A list flag takes every following word up to the next flag: --pkgs a==1 b==2
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) out.push(`${arg}=${argv[++i]}`);
    } else if (opt?.type === "string" && i + 1 < argv.length) out.push(`${arg}=${argv[++i]}`);
    else out.push(arg);
  }
  return out;
}

export function commandHelp(c: Command): string {
  const flags = Object.entries(c.options).map(([k, o]) => `  --${k}${o.type === "string" ? " VALUE" : ""}`.padEnd(26) + (c.help[k] ?? ""));
  return [`usage: ${c.usage}`, "", c.summary, "", "flags:", ...flags, `${"  --help".padEnd(26)}show this help`].join("\n");
}

export function parseCommand(c: Command, argv: string[]): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinStringFlags(c, argv),
      options: { ...c.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message.split(/\. To specify|\n/)[0]} (see \`clipper ${c.name} --help\`)`);
  }
  const values = parsed.values as Values;
  const [min, max] = typeof c.positionals === "number" ? [c.positionals, c.positionals] : c.positionals;
  const n = parsed.positionals.length;
  if (!values.help && (n < min || n > max)) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new CliError(`expected ${want} argument${max === 1 ? "" : "s"}, got ${n}: usage: ${c.usage}`);
  }
  return { values, positionals: parsed.positionals };
}
