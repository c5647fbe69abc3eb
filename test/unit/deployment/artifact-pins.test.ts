import { pinnedArtifact, pinnedArtifactProblem, type DeploymentArtifacts } from '../../../lib/deployment/artifact-pins';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);
const d: DeploymentArtifacts = { deploymentId: 'dep-1', challengerVersion: 3, championVersion: 2, challengerSha256: A, championSha256: B };

describe('the artifacts a deployment started with', () => {
  it('names the artifact each of its versions had, and none for another version or an unrecorded one', () => {
    expect(pinnedArtifact(d, 3)).toBe(A);
    expect(pinnedArtifact(d, 2)).toBe(B);
    expect(pinnedArtifact(d, 4)).toBeUndefined();
    expect(pinnedArtifact({ ...d, challengerSha256: null, championSha256: null }, 3)).toBeUndefined();
    expect(pinnedArtifact({ ...d, championVersion: null, championSha256: null }, 2)).toBeUndefined();
  });

  it('refuses a version whose row names another artifact now, naming both and the deployment', () => {
    expect(pinnedArtifactProblem(d, 'm', 3, A)).toBeUndefined();
    expect(pinnedArtifactProblem(d, 'm', 3, B)).toMatch(/^m v3's registry row names artifact bbbbbbbbbbbb…, not aaaaaaaaaaaa…, the one deployment dep-1 started with: /);
    expect(pinnedArtifactProblem(d, 'm', 2, C)).toMatch(/^m v2's registry row names artifact cccccccccccc…, not bbbbbbbbbbbb…/);
    // Rows from before the record, and versions the deployment does not test, are not judged here.
    expect(pinnedArtifactProblem({ ...d, challengerSha256: null }, 'm', 3, C)).toBeUndefined();
    expect(pinnedArtifactProblem(d, 'm', 5, C)).toBeUndefined();
  });
});
