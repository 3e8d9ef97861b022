/**
 * `clipper runtime node --artifact FILE`: the Node runtime, started by the server as a replica process; with
 * `--standby` instead, a warm spare that loads the artifact a `load` frame names (docs/runtime-protocol.md).
 */
import { runNodeRuntime } from "../runtime/node-worker.ts";
import { CliError } from "./client.ts";
import { type Command, str } from "./command.ts";

export const runtime: Command = {
  name: "runtime",
  usage: "clipper runtime node --artifact FILE | --standby",
  summary: "run a model runtime on stdin/stdout (started by the server)",
  positionals: 1,
  options: { artifact: { type: "string" }, standby: { type: "boolean" } },
  help: {
    artifact: "the module exporting predict(inputs) and optionally load()",
    standby: "start without a model and wait for a 'load' frame naming the artifact (a warm spare)",
  },
  async run(v, [kind]) {
    if (kind !== "node") throw new CliError(`unknown runtime '${kind}' (this binary runs: node)`);
    const artifact = str(v, "artifact");
    if (v.standby === true) return runNodeRuntime(undefined);
    if (!artifact) throw new CliError("--artifact is required (or --standby)");
    return runNodeRuntime(artifact);
  },
};
