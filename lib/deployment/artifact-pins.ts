/**
 * The artifacts a deployment started with. A version number names a registry row, and a row can be
 * edited to name another artifact: without a signing key (MODEL_SIGNING_KEY) such a row verifies
 * whenever the other artifact is intact and agrees with the fields the row records (swapping two
 * versions' artifacts of the same recipe, or a retrain's, does). A rollout's analyses judge the
 * model its versions' rows named when it started (the prediction log records versions, not
 * artifacts), so it must not go on to route traffic to, promote, or roll back to another model under
 * the same number: deploymentActivities records both versions' artifact sha256 at the start
 * (deployments.challenger_sha256 / champion_sha256, migration 0025) and a version whose row names
 * another artifact since no longer verifies for that deployment. Pure: no I/O.
 */

/** A deployment's versions and the artifacts their rows named when it started (null: not recorded, e.g. rows from before 0025). */
export interface DeploymentArtifacts {
  deploymentId: string;
  challengerVersion: number;
  championVersion: number | null;
  challengerSha256: string | null;
  championSha256: string | null;
}

/** The artifact `version` had when the deployment started, or undefined when it is none of its versions or nothing was recorded. */
export function pinnedArtifact(d: DeploymentArtifacts, version: number): string | undefined {
  if (version === d.challengerVersion && d.challengerSha256) return d.challengerSha256;
  if (version === d.championVersion && d.championSha256) return d.championSha256;
  return undefined;
}

/** Why `version`, whose row names `artifactSha256` now, may not serve for the deployment; undefined when it names the artifact recorded at the start (or none was). */
export function pinnedArtifactProblem(d: DeploymentArtifacts, model: string, version: number, artifactSha256: string): string | undefined {
  const pinned = pinnedArtifact(d, version);
  if (pinned === undefined || pinned === artifactSha256) return undefined;
  return (
    `${model} v${version}'s registry row names artifact ${artifactSha256.slice(0, 12)}…, not ${pinned.slice(0, 12)}…, the one deployment ${d.deploymentId} started with: ` +
    `its analyses judged that model, so this one may not take its traffic, be promoted or be rolled back to in its place (the row was edited since; restore it, or deploy the version anew)`
  );
}
