/** CLI entry: pick the command, parse its flags, run it; one clear line and a non-zero exit on any error. */
import pkg from "../package.json" with { type: "json" };
import { CliError } from "./cli/client.ts";
import { commandHelp, parseCommand } from "./cli/command.ts";
import { COMMANDS } from "./cli/index.ts";

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(14)}${c.summary}`);
  return [
    "clipper: serve trained models as a low-latency REST API",
    "",
    "usage: clipper COMMAND [flags]",
    "",
    "commands:",
    ...lines,
    "",
    "Run `clipper COMMAND --help` for a command's flags.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`clipper ${pkg.version}`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new CliError(`unknown command '${name}' (run \`clipper --help\` for the list)`);
  const { values, positionals } = parseCommand(command, rest);
  if (values.help) {
    console.log(commandHelp(command));
    return 0;
  }
  return command.run(values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof CliError) console.error(`clipper: ${err.message}`);
    else console.error(`clipper: unexpected error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
