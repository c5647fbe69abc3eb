/**
 * Whether what decides serving is as a holder of MODEL_SIGNING_KEY wrote it, at every monitoring
 * run (with the key). The prediction API refuses routes whose signature fails, but only it knows
 * which generation it verified last; monitoring compares each model's current routes row and alias
 * rows with their newest signed history rows, which every write with the key appends in the same
 * transaction:
 *
 * - the routes row carries no valid signature (written by hand, or by a process without the key);
 * - the routes row is signed but older than the newest signed history row, or differs from it at
 *   the same generation (an older signed row written back: a rollback by replay), or is newer than
 *   any signed history row (the history edited or deleted);
 * - an alias row carries no valid signature, or is not the one the newest signed move of that alias
 *   set (another version, another move), or is missing while that move set it;
 * - a move of an alias fails its signature anywhere in the history (edited, or unsigned after the
 *   alias's first signed move: inserted by hand, e.g. moves a rollback would choose its target from).
 *
 * A `serving_routes_tampered` alert per model (critical; an alias set before aliases were signed,
 * with no signed move at all, is a warning). Nothing is moved: the API already keeps serving the
 * routes it verified.
 */
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import { aliasMoveProblem, aliasRecordProblem, routesRecordProblem, storedSignatureOf } from '../registry/serving-record-signature';
import { sameServingRoutes, servingRouteHistory, servingRoutesSignatureProblem, storedRoutesSignature, type ServingRoutes } from '../serving/serving-routes';
import type { Database } from '../store/database';
import { routesSubject, type MonitoringRules, type RuleEvaluation, type RuleFinding } from './monitoring-rules';

export interface ServingRecordProblem {
  model: string;
  /** The routes' generation judged. */
  generation: number;
  /** What is wrong, one sentence per record. */
  problems: string[];
  /** Only aliases set before aliases were signed (unsigned, with no signed move): a warning, not an incident. */
  unsignedOnly: boolean;
}

const describe = (r: ServingRoutes) => [...r.routes.map((x) => `v${x.version} (${x.variant} ${x.weight})`), ...(r.shadow ? [`v${r.shadow.version} (shadow)`] : [])].join(', ');

/** The newest history row of the model whose signature holds, and the rows newer than it (which do not). */
async function newestSignedGeneration(store: Database, signing: RowSigning, model: string): Promise<{ signed: ServingRoutes | undefined; unsigned: ServingRoutes[] }> {
  const keys = verificationKeysOf(signing)!;
  const history = await servingRouteHistory(store, model);
  const unsigned: ServingRoutes[] = [];
  for (const r of [...history].reverse()) {
    if (routesRecordProblem(keys, r, storedRoutesSignature(r)) === undefined) return { signed: r, unsigned };
    unsigned.push(r);
  }
  return { signed: undefined, unsigned };
}

/** Why a model's routes row is not as a key holder last wrote it (none: it is). */
export async function routesProblems(store: Database, signing: RowSigning, r: ServingRoutes): Promise<string[]> {
  const problems: string[] = [];
  const own = servingRoutesSignatureProblem(signing, r);
  if (own !== undefined) problems.push(`${own} (it routes ${describe(r)}, written by ${r.updatedBy}: ${r.reason})`);
  const { signed, unsigned } = await newestSignedGeneration(store, signing, r.model);
  if (signed === undefined) {
    if (own === undefined) problems.push(`the serving routes of ${r.model} (generation ${r.generation}) are signed, but serving_route_history holds no signed row: the history was edited or deleted`);
    return problems;
  }
  if (r.generation < signed.generation) {
    problems.push(`the serving routes of ${r.model} are at generation ${r.generation} (${describe(r)}), older than the newest signed history row, generation ${signed.generation} (${describe(signed)}, written by ${signed.updatedBy}): an older routes row was written back`);
  } else if (r.generation === signed.generation && !sameServingRoutes(r, signed)) {
    problems.push(`the serving routes of ${r.model} at generation ${r.generation} route ${describe(r)}, but the signed history row of that generation routes ${describe(signed)}`);
  } else if (r.generation > signed.generation) {
    problems.push(`the serving routes of ${r.model} are at generation ${r.generation}, but the newest signed history row is generation ${signed.generation} (${describe(signed)}): no writer holding the key wrote generation ${r.generation}`);
  }
  if (unsigned.length > 0) problems.push(`serving_route_history of ${r.model} holds rows newer than its newest signed one without a valid signature (generation ${unsigned.map((u) => u.generation).join(', ')})`);
  return problems;
}

/** Why a model's alias rows (only `only`, when given) or their moves are not as key holders wrote them (none: they are). */
export async function aliasProblems(store: Database, signing: RowSigning, model: string, only?: string): Promise<{ problems: string[]; unsignedOnly: boolean }> {
  const keys = verificationKeysOf(signing)!;
  const rows = await store.db.selectFrom('model_aliases').selectAll().where('name', '=', model).execute();
  const moves = await store.db.selectFrom('model_alias_history').selectAll().where('name', '=', model).orderBy('seq').execute();
  const problems: string[] = [];
  let unsignedOnly = true;
  const names = [...new Set([...rows.map((r) => r.alias), ...moves.map((m) => m.alias)])].filter((a) => only === undefined || a === only).sort();
  for (const alias of names) {
    const row = rows.find((r) => r.alias === alias);
    const ofAlias = moves.filter((m) => m.alias === alias).reverse();
    const newestSigned = ofAlias.find((m) => aliasMoveProblem(keys, moveOf(m), storedSignatureOf(m)) === undefined);
    // Every move that fails its signature, wherever it is in the history: one carrying a signature
    // (edited, another key's), or an unsigned one after the alias's first signed move (inserted by
    // hand between or after signed moves; a rollback's target is chosen from these rows). Unsigned
    // moves before any signed one were written before aliases were signed.
    const failing = ofAlias.filter((m) => aliasMoveProblem(keys, moveOf(m), storedSignatureOf(m)) !== undefined);
    const oldestSigned = [...ofAlias].reverse().find((m) => !failing.includes(m));
    const unsignedMoves = failing.filter((m) => storedSignatureOf(m) !== undefined || (oldestSigned !== undefined && Number(m.seq) > Number(oldestSigned.seq))).reverse();
    if (row) {
      const seq = row.seq === null || row.seq === undefined ? undefined : Number(row.seq);
      const problem = seq === undefined && !row.signature ? `the ${alias} alias of ${model} (v${row.version}) carries no signature: it was set without MODEL_SIGNING_KEY (before aliases were signed, or by a process without the key) or by hand` : aliasRecordProblem(keys, { name: model, alias, version: Number(row.version), seq: seq ?? 0 }, storedSignatureOf(row));
      if (problem !== undefined) {
        problems.push(problem);
        if (newestSigned !== undefined || row.signature) unsignedOnly = false;
      } else if (!newestSigned) {
        problems.push(`the ${alias} alias of ${model} is signed, but model_alias_history holds no signed move of it: the history was edited or deleted`);
        unsignedOnly = false;
      } else if (Number(newestSigned.seq) !== seq || newestSigned.to_version === null || Number(newestSigned.to_version) !== Number(row.version)) {
        problems.push(`the ${alias} alias of ${model} names v${row.version} (move ${seq}), but its newest signed move is ${Number(newestSigned.seq)} (to ${newestSigned.to_version === null ? 'no version' : `v${Number(newestSigned.to_version)}`}, by ${newestSigned.moved_by}): an older alias row was written back`);
        unsignedOnly = false;
      }
    } else if (newestSigned && newestSigned.to_version !== null) {
      problems.push(`the ${alias} alias of ${model} is not set, but its newest signed move (${Number(newestSigned.seq)}, by ${newestSigned.moved_by}) set it to v${Number(newestSigned.to_version)}: the alias row was deleted`);
      unsignedOnly = false;
    }
    if (unsignedMoves.length > 0) {
      problems.push(`model_alias_history of ${model} holds moves of the ${alias} alias without a valid signature (${unsignedMoves.map((m) => `move ${Number(m.seq)}: ${m.from_version === null ? 'no version' : `v${Number(m.from_version)}`} → ${m.to_version === null ? 'cleared' : `v${Number(m.to_version)}`} by ${m.moved_by}, ${storedSignatureOf(m) ? 'its signature fails' : 'unsigned'}`).join('; ')})`);
      unsignedOnly = false;
    }
  }
  return { problems, unsignedOnly };
}

function moveOf(m: { name: string; seq: number; alias: string; from_version: number | null; to_version: number | null; moved_by: string; reason: string; moved_at: string }) {
  return { name: m.name, seq: Number(m.seq), alias: m.alias, fromVersion: m.from_version === null ? null : Number(m.from_version), toVersion: m.to_version === null ? null : Number(m.to_version), movedBy: m.moved_by, reason: m.reason, movedAt: m.moved_at };
}

/** The models of `routes` whose routes or aliases are not as a key holder last wrote them; none without the key (nothing is signed). */
export async function checkServingRecords(store: Database, routes: readonly ServingRoutes[], signing: RowSigning): Promise<ServingRecordProblem[]> {
  if (verificationKeysOf(signing) === undefined) return [];
  const found: ServingRecordProblem[] = [];
  for (const r of routes) {
    const ofRoutes = await routesProblems(store, signing, r);
    const ofAliases = await aliasProblems(store, signing, r.model);
    const problems = [...ofRoutes, ...ofAliases.problems];
    if (problems.length > 0) found.push({ model: r.model, generation: r.generation, problems, unsignedOnly: ofRoutes.length === 0 && ofAliases.unsignedOnly });
  }
  return found;
}

/** A serving_routes_tampered alert (the rule's severity and cool-down; a warning for aliases merely set before signing) per model found. */
export function evaluateServingRecords(found: readonly ServingRecordProblem[], rules: MonitoringRules): RuleEvaluation {
  const options = rules.serving_routes_tampered;
  const findings: RuleFinding[] = [];
  if (options.enabled) {
    for (const f of found) {
      const advice = f.unsignedOnly
        ? `After checking the alias names the version intended, sign it by moving it with the key (a promotion, or mlp models rollback ${f.model} --to-version N --reason "…" for the champion)`
        : `Someone changed serving records without the signing key: find who (the database's audit log), then write the intended routes and champion with the key (mlp models rollback ${f.model} --to-version N --reason "…"); prediction API processes keep serving the last routes they verified`;
      findings.push({
        alert: {
          rule: 'serving_routes_tampered',
          severity: f.unsignedOnly ? 'warning' : options.severity,
          subject: routesSubject(f.model),
          message: `${f.problems.join('; ')}. ${advice}`,
          evidence: { model: f.model, generation: f.generation, problems: f.problems },
          cooldownSeconds: options.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: false,
      });
    }
  }
  return { findings, actions: { retrain: false, blockDeployments: false, reasons: [] } };
}
