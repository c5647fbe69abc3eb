/** `report`: the HTML run report of a training run's versions, or of one model version. */
import { Command } from 'commander';
import { z } from 'zod';
import type { Database } from '../../lib/store/database';

const optionsSchema = z.strictObject({
  out: z.string().min(1, '--out needs a file name').optional(),
  regenerate: z.boolean().optional(),
});

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
      const opts = optionsSchema.parse(raw);
      // Heavy modules (store drivers, models, reports) load only when the command runs.
      const [{ writeFileSync }, { loadConfig }, { parseReportTarget, reportsForTarget }, { withStore }] = await Promise.all([import('node:fs'), import('../../lib/config'), import('../../lib/reports/version-report'), import('../with-store')]);
      const parsed = parseReportTarget(target);
      const { artifactDir } = loadConfig();
      const reports = await withStore((store: Database) => reportsForTarget(store, artifactDir, parsed, { regenerate: opts.regenerate }));
      for (const r of reports) {
        console.log(`${r.name} v${r.version}: ${r.path} (sha256 ${r.sha256}${r.generated ? ', generated now and recorded in the registry' : ''})`);
        if (opts.out) {
          const file = outFileFor(opts.out, r.name, r.version, reports.length > 1);
          writeFileSync(file, r.html);
          console.log(`  written to ${file}`);
        }
      }
    });
}
