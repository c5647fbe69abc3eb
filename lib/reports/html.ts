/**
 * The run report as one self-contained HTML file: inline CSS and server-side SVG charts, no script
 * and no link to anything outside the file, so it opens offline and can be archived as it is.
 */
import { annualisedText } from '../backtest/short-sample';
import { barChart, escapeHtml, horizontalBars, lineChart, matrixChart, PALETTE } from './svg';
import type { RunReport, Section } from './report-data';
import { verdictWord } from '../training/guards';

/** The report's sections in order: id, heading. Tests and the dashboard look for these ids. */
export const REPORT_SECTIONS = [
  ['headline', 'Headline figures beside the strongest naive baseline'],
  ['equity', 'Equity curve and drawdown: strategy vs buy-and-hold'],
  ['monthly-returns', 'Monthly returns'],
  ['ic', 'Information coefficient by day'],
  ['monthly-accuracy', 'Accuracy and AUC by month beside the naive baseline'],
  ['roc', 'ROC curve'],
  ['calibration', 'Calibration'],
  ['confusion', 'Confusion matrix'],
  ['importance', 'Feature importance'],
  ['trials', 'Hyperparameter trials'],
  ['guards', 'Leakage guards'],
  ['lineage', 'Lineage'],
  ['promotion', 'Promotion decision'],
] as const;

export type ReportSectionId = (typeof REPORT_SECTIONS)[number][0];

const f = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '-');
const signed = (x: number, digits = 4) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : '-');

const CSS = `body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#222;background:#f6f7f9}
main{max-width:1000px;margin:0 auto;padding:16px 24px 48px}
header.report{background:#fff;border-bottom:1px solid #ddd;padding:16px 24px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:0 0 10px}
section.report-section{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:14px 18px;margin:14px 0}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#8a6d3b;background:#fcf8e3;padding:6px 10px;border-radius:4px}
.tripped{color:#a94442;font-weight:600}.passed{color:#3c763d}.noted{color:#8a6d3b}.relaxed{color:#a94442;font-style:italic}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e8eef7;margin-right:4px}
.badge.champion{background:#2ca02c;color:#fff}.badge.challenger{background:#ff7f0e;color:#fff}
.note{color:#666;font-size:12px}svg.chart{max-width:100%;height:auto;display:block;margin:6px 0}
.integrity{margin:8px 0 0;padding:6px 10px;border-radius:4px;font-size:13px}.integrity.refused{color:#fff;background:#a94442;font-weight:600}.integrity.verified{color:#3c763d;background:#dff0d8}.integrity.unsigned,.integrity.unchecked{color:#8a6d3b;background:#fcf8e3}`;

/** Which version a report is of, as its HTML's head states it (and its sidecar JSON repeats). */
export interface ReportBinding {
  name: string;
  version: number;
  artifactSha256: string;
}

const BINDING_META = { name: 'mlp-report-model', version: 'mlp-report-version', artifactSha256: 'mlp-report-artifact-sha256' } as const;

function unescapeHtml(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string);
}

/**
 * The version a report's HTML says it is of (the <meta> tags of its head, written by
 * renderRunReportHtml), or undefined when it says none (a report written before reports were bound)
 * or says it more than once.
 */
export function reportBindingOf(html: string): ReportBinding | undefined {
  const end = html.indexOf('</head>');
  if (end < 0) return undefined;
  const head = html.slice(0, end);
  const meta = (name: string): string | undefined => {
    const found = [...head.matchAll(new RegExp(`<meta name="${name}" content="([^"]*)">`, 'g'))];
    return found.length === 1 ? unescapeHtml(found[0][1]) : undefined;
  };
  const name = meta(BINDING_META.name);
  const version = meta(BINDING_META.version);
  const artifactSha256 = meta(BINDING_META.artifactSha256);
  if (name === undefined || version === undefined || !/^[1-9]\d*$/.test(version) || artifactSha256 === undefined) return undefined;
  return { name, version: Number(version), artifactSha256 };
}

function table(headers: string[], rows: string[][], numeric: number[] = []): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${numeric.includes(i) ? ' class="num"' : ''}>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function sectionHtml<T>(id: ReportSectionId, section: Section<T>, body: (data: T) => string): string {
  const heading = REPORT_SECTIONS.find(([s]) => s === id)?.[1] ?? id;
  const content = section.recorded ? body(section.data) : `<p class="missing">${escapeHtml(section.reason)}</p>`;
  return `<section class="report-section" id="${id}" data-section="${id}" data-recorded="${section.recorded}"><h2>${escapeHtml(heading)}</h2>${content}</section>`;
}

/** The date at an index of a date axis, for tick labels. */
const dateTick = (dates: readonly string[]) => (x: number) => dates[Math.round(x)] ?? '';

export function renderRunReportHtml(report: RunReport): string {
  const m = report.model;
  const aliasBadges = m.aliases.map((a) => `<span class="badge ${escapeHtml(a)}">${escapeHtml(a)}</span>`).join('');
  const sections = [
    sectionHtml('headline', report.headline, (rows) =>
      table(
        ['metric', 'model', 'strongest naive baseline', 'baseline value', 'model − baseline'],
        rows.map((r) => [escapeHtml(r.metric) + (r.note ? ` <span class="note">(${escapeHtml(r.note)})</span>` : ''), f(r.model), escapeHtml(r.baselineName), f(r.baseline), signed(r.model - r.baseline)]),
        [1, 3, 4],
      ),
    ),
    sectionHtml('equity', report.equity, (e) => {
      const x = e.dates.map((_, i) => i);
      return (
        `<p>Sharpe ${escapeHtml(annualisedText(e.sharpe.strategy, e.dates.length - 1, 2))} vs buy-and-hold ${escapeHtml(annualisedText(e.sharpe.buyAndHold, e.dates.length - 1, 2))}; total return ${pct(e.totalReturn.strategy)} vs ${pct(e.totalReturn.buyAndHold)}; max drawdown ${pct(e.maxDrawdown.strategy)} vs ${pct(e.maxDrawdown.buyAndHold)} (net of costs, ${escapeHtml(e.dates[0])} .. ${escapeHtml(e.dates[e.dates.length - 1])}).</p>` +
        lineChart({ title: 'Equity (net, starts at 1)', series: [{ name: 'strategy', x, y: e.strategy, color: PALETTE[0] }, { name: 'buy-and-hold', x, y: e.buyAndHold, color: PALETTE[1], dashed: true }], xLabel: dateTick(e.dates) }) +
        lineChart({ title: 'Drawdown from the running peak', series: [{ name: 'strategy', x, y: e.strategyDrawdown, color: PALETTE[0], area: true }, { name: 'buy-and-hold', x, y: e.buyAndHoldDrawdown, color: PALETTE[1], dashed: true }], xLabel: dateTick(e.dates), yLabel: (y) => pct(y, 0), height: 200 })
      );
    }),
    sectionHtml('monthly-returns', report.monthlyReturns, (months) =>
      barChart({ title: 'Net return per month', categories: months.map((r) => r.month), series: [{ name: 'strategy', values: months.map((r) => r.strategy), color: PALETTE[0] }, { name: 'buy-and-hold', values: months.map((r) => r.buyAndHold), color: PALETTE[1] }], yLabel: (y) => pct(y, 1) }) +
      table(['month', 'strategy', 'buy-and-hold', 'difference'], months.map((r) => [escapeHtml(r.month), pct(r.strategy), pct(r.buyAndHold), pct(r.strategy - r.buyAndHold)]), [1, 2, 3]),
    ),
    sectionHtml('ic', report.ic, (ic) => {
      const x = ic.dates.map((_, i) => i);
      return (
        `<p>Mean daily IC ${f(ic.mean)} vs ${escapeHtml(ic.baseline.name)} ${f(ic.baseline.mean)} over ${ic.dates.length} days; rolling mean over ${ic.window} days.</p>` +
        lineChart({ title: 'Spearman IC of score vs forward return, per day', series: [{ name: 'daily IC', x, y: ic.ic, color: '#9ecae1' }, { name: `${ic.window}-day rolling mean`, x, y: ic.rolling, color: PALETTE[3] }], xLabel: dateTick(ic.dates), zeroLine: true })
      );
    }),
    sectionHtml('monthly-accuracy', report.monthlyAccuracy, (a) =>
      barChart({ title: `Accuracy by month: model vs ${a.baselineName}`, categories: a.months.map((r) => r.month), series: [{ name: 'model', values: a.months.map((r) => r.accuracy), color: PALETTE[0] }, { name: a.baselineName, values: a.months.map((r) => r.baselineAccuracy), color: '#999' }], yDomain: [0, 1] }) +
      barChart({ title: `ROC AUC by month: model vs ${a.aucBaselineName}`, categories: a.months.map((r) => r.month), series: [{ name: 'model', values: a.months.map((r) => r.auc), color: PALETTE[2] }, { name: a.aucBaselineName, values: a.months.map((r) => r.baselineAuc), color: '#999' }], yDomain: [0, 1] }) +
      table(['month', 'rows', 'accuracy', escapeHtml(a.baselineName), 'AUC', escapeHtml(a.aucBaselineName)], a.months.map((r) => [escapeHtml(r.month), String(r.rows), f(r.accuracy), f(r.baselineAccuracy), f(r.auc), f(r.baselineAuc)]), [1, 2, 3, 4, 5]),
    ),
    sectionHtml('roc', report.roc, (roc) =>
      lineChart({
        title: `ROC: model AUC ${f(roc.model.auc)} vs ${roc.baseline.name} ${f(roc.baseline.auc)}`,
        series: [
          { name: 'model', x: roc.model.points.map((p) => p.x), y: roc.model.points.map((p) => p.y), color: PALETTE[0] },
          { name: roc.baseline.name, x: roc.baseline.points.map((p) => p.x), y: roc.baseline.points.map((p) => p.y), color: PALETTE[1] },
          { name: 'chance', x: [0, 1], y: [0, 1], color: '#aaa', dashed: true },
        ],
        xDomain: [0, 1],
        yDomain: [0, 1],
        width: 460,
        height: 400,
      }),
    ),
    sectionHtml('calibration', report.calibration, (c) =>
      `<p>Brier score ${f(c.brier)}${c.baselines && c.baselines.length > 0 ? `; on the same rows ${c.baselines.map((b) => `${escapeHtml(b.name)} scores ${f(b.brier)}`).join(', ')} (lower is better)` : ''}.</p>` +
      lineChart({
        title: 'Observed frequency by predicted probability',
        series: [
          { name: 'model', x: c.bins.map((b) => b.meanPredicted), y: c.bins.map((b) => b.observed), color: PALETTE[0] },
          { name: 'perfect calibration', x: [0, 1], y: [0, 1], color: '#aaa', dashed: true },
        ],
        xDomain: [0, 1],
        yDomain: [0, 1],
        width: 460,
        height: 400,
      }) +
      table(['bin', 'rows', 'mean predicted', 'observed'], c.bins.map((b) => [`${f(b.from, 1)}–${f(b.to, 1)}`, String(b.count), f(b.meanPredicted), f(b.observed)]), [1, 2, 3]),
    ),
    sectionHtml('confusion', report.confusion, (c) => matrixChart({ title: 'Rows: true class; columns: predicted class', rowLabels: c.classes, columnLabels: c.classes, values: c.counts, rowTitle: 'true', columnTitle: 'predicted' })),
    sectionHtml('importance', report.importance, (imp) =>
      `<p>Method: <strong>${imp.method === 'gain' ? 'gain' : 'permutation importance'}</strong>: ${escapeHtml(imp.note)}.</p>` +
      horizontalBars({ title: `Feature importance (${imp.method})`, labels: imp.features.map((x) => x.name), values: imp.features.map((x) => x.value) }),
    ),
    sectionHtml('trials', report.trials, (t) => {
      const x = t.points.map((p) => p.trial);
      const failed = t.points.filter((p) => p.error);
      return (
        `<p>${t.points.length} trials; score: ${escapeHtml(t.metric)}.${failed.length > 0 ? ` ${failed.length} failed.` : ''}</p>` +
        lineChart({ title: 'Score by trial and best so far', series: [{ name: 'trial score', x, y: t.points.map((p) => p.score), color: '#9ecae1' }, { name: 'best so far', x, y: t.points.map((p) => p.bestSoFar), color: PALETTE[3] }], xLabel: (v) => String(Math.round(v)) }) +
        (failed.length > 0 ? table(['trial', 'error'], failed.map((p) => [String(p.trial), escapeHtml(p.error ?? '')])) : '')
      );
    }),
    sectionHtml('guards', report.guards, (rows) =>
      table(['guard', 'verdict', 'judged on', 'message'], rows.map((g) => {
        const word = g.verdict ?? verdictWord(g);
        return [escapeHtml(g.guard), `<span class="${g.verdict ? 'relaxed' : word.toLowerCase()}">${word}</span>`, escapeHtml(g.source), escapeHtml(g.message)];
      })),
    ),
    sectionHtml('lineage', report.lineage, (rows) => table(['', ''], rows.map(([k, v]) => [escapeHtml(k), `<code>${escapeHtml(v)}</code>`]))),
    sectionHtml('promotion', report.promotion, (p) =>
      `<p><strong class="${p.promote ? 'passed' : 'tripped'}">${p.promote ? 'PROMOTED' : 'not promoted'}</strong>: ${escapeHtml(p.reason)} <span class="note">(${escapeHtml(p.source)})</span></p>` +
      `<p>Aliases now: ${p.aliases.length > 0 ? p.aliases.map((a) => `<span class="badge ${escapeHtml(a)}">${escapeHtml(a)}</span>`).join('') : 'none'}</p>` +
      (p.history.length > 0 ? table(['when', 'alias', 'from', 'to', 'by', 'reason'], p.history.map((h) => [escapeHtml(h.movedAt), escapeHtml(h.alias), h.fromVersion === null ? '-' : `v${h.fromVersion}`, h.toVersion === null ? '-' : `v${h.toVersion}`, escapeHtml(h.movedBy), escapeHtml(h.reason)])) : ''),
    ),
  ];
  const binding = `<meta name="${BINDING_META.name}" content="${escapeHtml(m.name)}"><meta name="${BINDING_META.version}" content="${escapeHtml(m.version)}"><meta name="${BINDING_META.artifactSha256}" content="${escapeHtml(m.artifactSha256)}">`;
  const integrity = report.integrity.messages.map((text) => `<p class="integrity ${report.integrity.status}" data-integrity="${report.integrity.status}">${escapeHtml(text)}</p>`).join('');
  const period = m.period ? `out of sample ${escapeHtml(m.period.from)} .. ${escapeHtml(m.period.to)} (${m.period.days} days, ${m.period.rows} rows)` : 'out-of-sample period not recorded';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${binding}<title>${escapeHtml(`Run report: ${report.title}`)}</title><style>${CSS}</style></head>
<body><header class="report"><h1>Run report: ${escapeHtml(report.title)} ${aliasBadges}</h1><div class="note">${period}; feature set ${escapeHtml(m.featureSetVersion)}; label ${escapeHtml(JSON.stringify(m.label))}; registered ${escapeHtml(m.createdAt)}; report generated ${escapeHtml(report.generatedAt)}</div><div id="integrity">${integrity}</div></header>
<main>${sections.join('\n')}</main></body></html>
`;
}
