/**
 * The scores a canary version is expected to give: the score histogram of its stored reference
 * profile, when it comes from walk-forward (out-of-sample) predictions and the profile is vouched
 * for as monitoring's drift reference is (signed with the registry's key when there is one, and
 * describing this version). The score-shift rule of the canary analysis judges the canary against
 * it; anything else is a reason, which the analysis names when it falls back to the reference's scores.
 */
import { BadInputError } from '../errors';
import { profileForReport } from '../monitoring/model-report';
import type { ColumnProfile } from '../monitoring/reference-profile';
import { getModelVersion, RegistryError } from '../registry/model-registry';
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import type { Database } from '../store/database';

export type ExpectedScores = { profile: ColumnProfile; missing?: undefined } | { profile?: undefined; missing: string };

export async function expectedScoresOf(store: Database, model: string, version: number | undefined, signing: RowSigning): Promise<ExpectedScores> {
  if (version === undefined) return { missing: 'the canary version is not known' };
  let row;
  try {
    row = await getModelVersion(store, model, version);
  } catch (error) {
    if (error instanceof RegistryError || error instanceof BadInputError) return { missing: `the registry row of ${model} v${version} cannot be read: ${error.message}` };
    throw error;
  }
  const { profile, problem } = await profileForReport(store, row, verificationKeysOf(signing));
  if (problem) return { missing: problem };
  if (!profile) return { missing: `${model} v${version} has no stored reference profile (registered outside a training run, or before profiles were stored)` };
  // In-sample scores of a flexible model are more extreme than anything it serves: no expectation for live scores.
  if (profile.scoreSource !== 'walk-forward' || !profile.score) return { missing: `the reference profile of ${model} v${version} has ${profile.score ? 'only the final model’s scores on its own training rows' : 'no score histogram'}, not walk-forward (out-of-sample) scores` };
  return { profile: profile.score };
}
