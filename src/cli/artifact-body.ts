/** What `deploy` and `apply` upload for an artifact path: the file itself, or a directory (SavedModel, MLflow model) as a tar archive. */
import { statSync } from "node:fs";
import { packDirectory } from "../management/tar.ts";
import { CliError } from "./client.ts";

export interface ArtifactBody {
  readonly body: Blob;
  /** The path is a directory, sent packed (deterministically: the same directory gives the same bytes and hash). */
  readonly directory: boolean;
}

export async function artifactBody(path: string): Promise<ArtifactBody> {
  let directory = false;
  try {
    directory = statSync(path).isDirectory();
  } catch {
    // not there: the file check below names it
  }
  if (directory) return { body: new Blob([packDirectory(path)]), directory };
  const file = Bun.file(path);
  if (!(await file.exists())) throw new CliError(`no such file: ${path}`);
  return { body: file, directory };
}
