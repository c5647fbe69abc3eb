/**
 * The champion the serving routes serve, against the registry's champion alias, at every
 * monitoring run. Routes and alias move together (a promotion, a rollback), but a routes row
 * edited by SQL (restored from a backup, a version put back by hand) serves traders one version
 * while deployments, promotion and the dashboard judge the alias's: monitoring reported the served
 * version as champion: false and raised nothing, and only a deployment's or a promotion's start
 * checked. A champion_mismatch alert per model that disagrees (lib/serving/served-champion.ts says
 * how; the splits a running deployment wrote itself, its workflow still open, are its to judge). Nothing is moved: which of the two is
 * wrong is a person's call.
 */
import { servedChampionDisagreements, type OwnershipOptions } from '../serving/served-champion';
import type { ServingRoutes } from '../serving/serving-routes';
import type { Database } from '../store/database';
import { routesSubject, type MonitoringRules, type RuleEvaluation, type RuleFinding } from './monitoring-rules';

export interface ChampionMismatch {
  model: string;
  /** The routes' generation judged. */
  generation: number;
  /** What disagrees: the routes (generation, author, reason) and the alias. */
  message: string;
}

/** The models of `routes` whose routes and champion alias name different champions. */
export async function checkServedChampions(store: Database, routes: readonly ServingRoutes[], options: OwnershipOptions = {}): Promise<ChampionMismatch[]> {
  const found = await servedChampionDisagreements(store, routes, options);
  return routes.flatMap((r) => {
    const message = found.get(r.model);
    return message === undefined ? [] : [{ model: r.model, generation: r.generation, message }];
  });
}

/** A champion_mismatch alert (the rule's severity and cool-down) per model whose routes and alias disagree; no retrain, no hold. */
export function evaluateServedChampions(mismatches: readonly ChampionMismatch[], rules: MonitoringRules): RuleEvaluation {
  const options = rules.champion_mismatch;
  const findings: RuleFinding[] = [];
  if (options.enabled) {
    for (const m of mismatches) {
      findings.push({
        alert: {
          rule: 'champion_mismatch',
          severity: options.severity,
          subject: routesSubject(m.model),
          message:
            `${m.message}: traders are served the routes' champion while deployments, promotion and the dashboard judge the alias's version. ` +
            `Serve the intended champion and move the alias with it: mlp models rollback ${m.model} --to-version N --reason "…"`,
          evidence: { model: m.model, generation: m.generation, detail: m.message },
          cooldownSeconds: options.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: false,
      });
    }
  }
  return { findings, actions: { retrain: false, blockDeployments: false, reasons: [] } };
}
