/** Every CLI command, in the order `clipper --help` lists them. */
import { apps, deleteApp, link, policy, predict, registerApp, status, unlink } from "./app-commands.ts";
import { apply } from "./apply-command.ts";
import type { Command } from "./command.ts";
import { deploy, logs, models, rollback, scale, stop, stopInactive, versions } from "./model-commands.ts";
import { canary, capture, replay } from "./rollout-commands.ts";
import { runtime } from "./runtime-command.ts";
import { serve } from "./serve-command.ts";
import { check, gc } from "./upkeep-commands.ts";

export const COMMANDS: readonly Command[] = [
  serve,
  deploy,
  registerApp,
  link,
  predict,
  apps,
  models,
  status,
  versions,
  rollback,
  scale,
  logs,
  policy,
  unlink,
  deleteApp,
  stop,
  stopInactive,
  capture,
  replay,
  canary,
  apply,
  gc,
  check,
  runtime,
];
