/**
 * One model name, one prediction target. Clients read a model's "probability" as the probability of
 * its label (say, the close 5 days ahead is higher), and the deployment analyses compare versions'
 * hit rates on their own labels: a version of another label (another kind, horizon, dead zone,
 * barriers…) routed under the same name would answer another question without anyone noticing, and a
 * canary would be judged on another target. So every traffic move checks the versions it routes
 * against the champion's label.
 *
 * Registration does not refuse another label under an existing name: registering records what a run
 * trained (its artifact, lineage and report are worth keeping even when the experiment's label was
 * changed), promotion already refuses to promote over a champion of another label
 * (activities/experiments.ts), and nothing registered takes traffic without passing the check here.
 */
import { labelSpecSchema } from '../labels/labels';
import type { Database } from '../store/database';
import { aliasVersion, getModelVersion, RegistryError } from './model-registry';
import { canonicalJson } from './recorded-fields';

export class LabelMismatchError extends RegistryError {
  override name = 'LabelMismatchError';
}

/** The label as a comparable string: parsed (defaults filled, key order ignored) when it is a valid spec, else as stored. */
export function labelSpecKey(label: unknown): string {
  const parsed = labelSpecSchema.safeParse(label);
  return canonicalJson(parsed.success ? parsed.data : label);
}

/** Whether two stored labels are one target: both valid specs, equal once parsed. */
export function sameLabelSpec(a: unknown, b: unknown): boolean {
  const [pa, pb] = [labelSpecSchema.safeParse(a), labelSpecSchema.safeParse(b)];
  return pa.success && pb.success && canonicalJson(pa.data) === canonicalJson(pb.data);
}

function mismatchMessage(model: string, version: number, key: string, reference: number, refKey: string, champion: boolean): string {
  return `${model} v${version} predicts another label (${key}) than ${champion ? 'the champion ' : ''}v${reference} (${refKey}): one model name serves one target, so clients and the deployment analyses would compare different targets; register a version of another label under its own model name`;
}

/**
 * Refuses when a version in `versions` predicts another label than the model's champion (or, with no
 * champion, than the first of them), naming both versions and labels. Unknown versions are left to
 * the caller's own checks. A champion alias naming a row that is gone counts as no champion (as in
 * labelMismatches): its label is unknown, and refusing there would block the rollback that repairs it.
 */
export async function assertSameLabelAsChampion(store: Database, model: string, versions: Iterable<number>): Promise<void> {
  const list = [...new Set(versions)];
  if (list.length === 0) return;
  const alias = await aliasVersion(store, model, 'champion');
  const championRow = alias === undefined ? undefined : await getModelVersion(store, model, alias).catch((error: unknown) => {
    if (error instanceof RegistryError) return undefined;
    throw error;
  });
  const champion = championRow === undefined ? undefined : alias;
  const reference = champion ?? list[0];
  const ref = championRow ?? (await getModelVersion(store, model, reference));
  const refKey = labelSpecKey(ref.label);
  for (const version of list) {
    if (version === reference) continue;
    const v = await getModelVersion(store, model, version);
    const key = labelSpecKey(v.label);
    if (key !== refKey) {
      throw new LabelMismatchError(mismatchMessage(model, version, key, reference, refKey, champion !== undefined));
    }
  }
}

/**
 * The versions among `labels` (version → its row's label) that predict another label than the
 * model's target, each with the error naming both: the target is the champion alias's version's
 * label (read from the store when that version is not among them), else `fallback`'s. A champion
 * alias naming a row that is gone counts as no champion. What the serving loader refuses routes
 * with, so a routes row written by hand cannot put a version of another target under the name.
 */
export async function labelMismatches(store: Database, model: string, labels: ReadonlyMap<number, unknown>, fallback: number | undefined): Promise<Map<number, LabelMismatchError>> {
  const out = new Map<number, LabelMismatchError>();
  const champion = await aliasVersion(store, model, 'champion');
  let reference: { version: number; label: unknown; champion: boolean } | undefined;
  if (champion !== undefined) {
    if (labels.has(champion)) reference = { version: champion, label: labels.get(champion), champion: true };
    else {
      try {
        reference = { version: champion, label: (await getModelVersion(store, model, champion)).label, champion: true };
      } catch (error) {
        if (!(error instanceof RegistryError)) throw error;
      }
    }
  }
  if (!reference && fallback !== undefined && labels.has(fallback)) reference = { version: fallback, label: labels.get(fallback), champion: false };
  if (!reference) return out;
  const refKey = labelSpecKey(reference.label);
  for (const [version, label] of labels) {
    if (version === reference.version) continue;
    const key = labelSpecKey(label);
    if (key !== refKey) {
      out.set(version, new LabelMismatchError(mismatchMessage(model, version, key, reference.version, refKey, reference.champion)));
    }
  }
  return out;
}
