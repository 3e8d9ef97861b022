/** `clipper runtime node --artifact FILE`: the Node runtime, started by the server as a replica process. */
import { runNodeRuntime } from "../runtime/node-worker.ts";
import { CliError } from "./client.ts";
import { type Command, str } from "./command.ts";

export const runtime: Command = {
  name: "runtime",
  usage: "clipper runtime node --artifact FILE",
  summary: "run a model runtime on stdin/stdout (started by the server)",
  positionals: 1,
  options: { artifact: { type: "string" } },
  help: { artifact: "the module exporting predict(inputs) and optionally load()" },
  async run(v, [kind]) {
    if (kind !== "node") throw new CliError(`unknown runtime '${kind}' (this binary runs: node)`);
    const artifact = str(v, "artifact");
    if (!artifact) throw new CliError("--artifact is required");
    return runNodeRuntime(artifact);
  },
};
