/** `report`: the HTML run report of a training run's versions, or of one model version. */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
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
    .action(async (target: string, raw: unknown) => {
      const { z } = lazy.zod();
      const opts = z.strictObject({ out: z.string().min(1, '--out needs a file name').optional(), regenerate: z.boolean().optional() }).parse(raw);
      const { parseReportTarget, reportsForTarget } = reports();
      const parsed = parseReportTarget(target);
      const artifacts = lazy.artifactStores().openArtifactStore(lazy.config().loadConfig().artifacts);
      const found = await withStore((store: Database) => reportsForTarget(store, artifacts, parsed, { regenerate: opts.regenerate }));
      for (const r of found) {
        console.log(`${r.name} v${r.version}: ${r.path} (sha256 ${r.sha256}${r.generated ? ', generated now and recorded in the registry' : ''})`);
        if (opts.out) {
          const file = outFileFor(opts.out, r.name, r.version, found.length > 1);
          writeFileSync(file, r.html);
          console.log(`  written to ${file}`);
        }
      }
    });
}
