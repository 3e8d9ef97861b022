/**
 * Selection policies: pure functions from an app's routing state to the model version that answers.
 * A policy holds no state of its own; what it needs lives in the registry and reaches it through the snapshot.
 */

export interface ModelChoice {
  readonly name: string;
  readonly version: string;
  readonly key: string;
}

export interface AppRouting {
  readonly policy: string;
  /** Current versions of the linked models, in link order. */
  readonly candidates: readonly ModelChoice[];
}

/** `single`: the current version of the one linked model; undefined when nothing is linked. */
export function selectModel(routing: AppRouting): ModelChoice | undefined {
  return routing.candidates[0];
}
