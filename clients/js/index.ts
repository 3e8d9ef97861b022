/** The clipper JavaScript/TypeScript client: `import { ClipperConnection } from "clipper/client"`. */
export { ClipperConnection, DEFAULT_QUERY_PORT, DEFAULT_TIMEOUT_MS, DEFAULT_URL } from "./connection.ts";
export { ClipperError, type ClipperErrorFields } from "./errors.ts";
export type {
  AppInfo,
  ConnectionOptions,
  DeployModelOptions,
  FeedbackResult,
  InputType,
  ModelInfo,
  ModelState,
  PolicyConfig,
  PolicyName,
  Prediction,
  QueryInput,
  ReplicaInfo,
  RuntimeInfo,
  RuntimeKind,
  SetPolicyOptions,
} from "./types.ts";
