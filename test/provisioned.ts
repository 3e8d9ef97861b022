/**
 * Skips of tests whose requirement `scripts/test` provisions itself (a Docker engine and its images, the
 * frameworks environment, Chromium): outside CI a missing one is a real skip with its reason; in CI
 * (CI=true, where scripts/test ran the provisioning) it fails the run instead of passing quietly.
 */
export function missingRequirement(missing: string | undefined): string | undefined {
  if (missing !== undefined && process.env.CI === "true") {
    throw new Error(`${missing}: scripts/test provisions this, so in CI (CI=true) it fails the run instead of skipping`);
  }
  return missing;
}
