/**
 * The tutorial's HR client on the JavaScript client: register hr-hiring, deploy hr.pkl, link, ask about three candidates.
 *
 * usage: bun clients/js/examples/hr.ts [HR_PKL] [MGMT_URL] [QUERY_URL]
 *        (defaults: examples/hr/hr.pkl, http://127.0.0.1:1338, the management host on port 1337)
 *
 * The token comes from CLIPPER_TOKEN, else <CLIPPER_DATA_DIR or ./.clipper>/token. Running it twice is fine:
 * an app or model version that exists already is reused.
 */
import { ClipperConnection, ClipperError } from "clipper/client";

const APP = "hr-hiring";
const MODEL = "hr-decision-tree";
const CANDIDATES = [
  [5.0, 3.0, 85.0, 4.5, 2.0],
  [2.0, 2.0, 70.0, 3.0, 1.0],
  [8.0, 4.0, 95.0, 5.0, 3.0],
];
const VERDICTS: Record<string, string> = { "1": "hire", "0": "do not hire" };

async function main(argv: readonly string[]): Promise<number> {
  const [modelPath = "examples/hr/hr.pkl", url, queryUrl] = argv;
  const conn = new ClipperConnection({ url, queryUrl });
  try {
    await conn.connect();
    if (!(await conn.getAppInfo(APP))) await conn.registerApplication(APP, "doubles", "-1.0", 100_000);
    if (!(await conn.getModelInfo(MODEL, 1))) await conn.deployModel({ name: MODEL, version: 1, inputType: "doubles", modelPath });
    await conn.linkModelToApp(APP, MODEL);
    console.log(`${APP} serves ${JSON.stringify(await conn.getLinkedModels(APP))} at ${conn.getQueryAddr()}`);
    for (const candidate of CANDIDATES) {
      const answer = await conn.predict(APP, candidate);
      const note = answer.default ? ` (default: ${answer.default_explanation})` : "";
      console.log(`${JSON.stringify(candidate)} -> ${answer.output} (${VERDICTS[answer.output] ?? answer.output})${note}`);
    }
  } catch (err) {
    if (!(err instanceof ClipperError)) throw err;
    console.error(`error: ${err.message}`);
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
