/** `report`: the HTML run report of a training run's versions, or of one model version. */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { escapeControl } from '../../lib/quality/excerpt';
import type { Database } from '../../lib/store/database';
import { lazy } from '../lazy';
import { withStore } from '../with-store';

/** lib/reports (models, stats, the registry) loads when the command runs, like the modules in ../lazy.ts. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const reports = () => require('../../lib/reports/version-report') as typeof import('../../lib/reports/version-report');

/** `file.html` for the only report; `file-<model>-v<n>.html` for each of several. */
function outFileFor(out: string, name: string, version: number, several: boolean): string {
  if (!several) return out;
  const dot = out.toLowerCase().endsWith('.html') ? out.length - 5 : out.length;
  return `${out.slice(0, dot)}-${name}-v${version}${out.slice(dot)}`;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('the run report (one self-contained HTML file) of a training run\'s registered versions, or of model@version')
    .argument('<target>', 'a training run\'s workflow id, or model@version (version: a number, vN or an alias such as champion)')
    .option('--out <file>', 'also write the report here (several versions: one file each, named after the model and version)')
    .option('--regenerate', 'build the report again from the stored artifacts even when one is recorded')
    .option('--sign-record', 'sign the report record of model@version as it is now (recorded before records were signed, or under another key) with MODEL_SIGNING_KEY; look at it first')
    .option('--accept-edit', 'with --sign-record: sign a record no key confirms as it is (unsigned, changed since, or signed with a key not in MODEL_SIGNING_PREVIOUS_KEYS): only if you vouch for it')
    .action(async (target: string, raw: unknown) => {
      const { z } = lazy.zod();
      const opts = z.strictObject({ out: z.string().min(1, '--out needs a file name').optional(), regenerate: z.boolean().optional(), signRecord: z.boolean().optional(), acceptEdit: z.boolean().optional() }).parse(raw);
      const { parseReportTarget, reportsForTarget, signRecordedReport } = reports();
      const parsed = parseReportTarget(target);
      const config = lazy.config().loadConfig();
      const artifacts = lazy.artifactStores().openArtifactStore(config.artifacts);
      if (opts.acceptEdit && !opts.signRecord) throw new Error('--accept-edit goes with --sign-record');
      if (opts.signRecord) {
        if (parsed.kind !== 'version') throw new Error('--sign-record signs one version\'s record: give model@version');
        if (opts.regenerate || opts.out) throw new Error('--sign-record signs the record as it is: without --regenerate or --out');
        const { resolveVersion } = lazy.registry();
        const signed = await withStore(async (store: Database) => signRecordedReport(store, artifacts, parsed.name, await resolveVersion(store, parsed.name, parsed.ref), lazy.config().configuredSigning(config), { acceptEdit: opts.acceptEdit === true }));
        const before = signed.before.state === 'invalid' ? `its signature did not match: ${signed.before.reason}` : signed.before.state === 'previous_key' ? `signed with a previous key, key id ${signed.before.keyId}` : signed.before.state;
        console.log(`${signed.version.name} v${signed.version.version}: report record ${signed.before.state === 'valid' ? 'already signed by this key' : `signed (before: ${before})`}`);
        return;
      }
      // With MODEL_SIGNING_KEY: a row or report record whose signature fails gets a report saying so, not recorded.
      const found = await withStore((store: Database) => reportsForTarget(store, artifacts, parsed, { regenerate: opts.regenerate, signing: lazy.config().configuredSigning(config) }));
      for (const r of found) {
        const how = !r.generated ? '' : r.recorded ? ', generated now and recorded in the registry' : ', generated now and NOT recorded';
        console.log(escapeControl(`${r.name} v${r.version}: ${r.path} (sha256 ${r.sha256}${how})`));
        if (r.problem) {
          console.error(`  ${r.name} v${r.version}: ${escapeControl(r.problem)}`);
          process.exitCode = 1;
        }
        if (opts.out) {
          const file = outFileFor(opts.out, r.name, r.version, found.length > 1);
          writeFileSync(file, r.html);
          console.log(`  written to ${file}`);
        }
      }
    });
}
