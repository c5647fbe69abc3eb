/**
 * What the features step tells about stored feature rows no held key vouched for: the stage summary
 * (`mlp runs show`) and the feature_rows_tampered alert. Such rows are evidence that someone wrote
 * feature_rows without MODEL_SIGNING_KEY; written again or deleted, they left no trace but the
 * step's log, so a repair is named where people look. Pure (the training workflow builds its
 * summary with it).
 */
import type { AlertInput } from '../alerts/alert';
import type { MaterializeReport } from './materialize';

export const FEATURE_ROWS_TAMPERED_RULE = 'feature_rows_tampered';

type RepairFields = Pick<MaterializeReport, 'version' | 'rowsRepaired' | 'repaired' | 'rowsRemoved' | 'removed' | 'unrepaired'>;

/** Groups a sentence names; the alert's evidence carries the report's (bounded) lists. */
const GROUPS_NAMED = 5;

function rowsWord(n: number): string {
  return `${n} row${n === 1 ? '' : 's'}`;
}

/** "; 3 rows not vouched for by the key written again (SYN01 edited 2018-02-01..2018-02-03), …", or '' when the report has none. */
export function tamperedRowsSummary(r: Partial<RepairFields>): string {
  const parts: string[] = [];
  if (r.rowsRepaired) {
    const named = (r.repaired ?? []).slice(0, GROUPS_NAMED).map((g) => `${g.symbol} ${g.problem} ${g.from === g.to ? g.from : `${g.from}..${g.to}`}`);
    parts.push(`${rowsWord(r.rowsRepaired)} not vouched for by the key written again from the verified bars (${named.join(', ')}${(r.repaired?.length ?? 0) > GROUPS_NAMED ? ', …' : ''})`);
  }
  if (r.rowsRemoved) {
    const named = (r.removed ?? []).slice(0, GROUPS_NAMED).map((g) => `${g.symbol} ${g.problem} ${g.dates.slice(0, 3).join(', ')}${g.rows > 3 ? ', …' : ''}`);
    parts.push(`${rowsWord(r.rowsRemoved)} no computation produces deleted as forged (${named.join('; ')}${(r.removed?.length ?? 0) > GROUPS_NAMED ? '; …' : ''})`);
  }
  if (r.unrepaired?.length) parts.push(`${rowsWord(r.unrepaired.reduce((n, g) => n + g.dates.length, 0))} still refused (${r.unrepaired.slice(0, GROUPS_NAMED).map((g) => g.symbol).join(', ')})`);
  return parts.length === 0 ? '' : `; ${parts.join('; ')}: feature_rows was written without MODEL_SIGNING_KEY`;
}

/**
 * The alert of a step that found stored rows no held key vouched for: critical when any was edited
 * (values changed, the signature removed inside a signed history) or forged, a warning when they
 * were only unsigned rows from before signing, or another key's (a rotation); undefined when none.
 */
export function tamperedRowsAlert(r: RepairFields): AlertInput | undefined {
  if (!r.rowsRepaired && !r.rowsRemoved && !r.unrepaired?.length) return undefined;
  const problems = new Set([...(r.repaired ?? []).map((g) => g.problem), ...(r.removed ?? []).map((g) => g.problem)]);
  const benign = !r.rowsRemoved && !r.unrepaired?.length && [...problems].every((p) => p !== 'edited');
  return {
    rule: FEATURE_ROWS_TAMPERED_RULE,
    severity: benign ? 'warning' : 'critical',
    subject: `features ${r.version}`.slice(0, 255),
    message: `The features step of feature set ${r.version} found stored rows MODEL_SIGNING_KEY does not vouch for${tamperedRowsSummary(r)}. Find who wrote feature_rows (the database's audit log); an edit nobody made on purpose is an incident.`.slice(0, 10_000),
    evidence: { featureSet: r.version, rowsRepaired: r.rowsRepaired ?? 0, repaired: r.repaired ?? [], rowsRemoved: r.rowsRemoved ?? 0, removed: r.removed ?? [], unrepaired: r.unrepaired ?? [] },
  };
}
