/** `alerts …`: list, show and acknowledge alerts; see deliveries that have not gone out yet. */
import { Command, Option } from 'commander';
import type { z } from 'zod';
import type { Alert } from '../../lib/alerts/alert';
import type { AlertDelivery } from '../../lib/alerts/outbox';
import { describeValidationError } from '../../lib/errors';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import { withStore } from '../with-store';
import { lazy } from '../lazy';
import { numberFlag } from '../number-flag';

function parse<T>(schema: z.ZodType<T>, raw: unknown, command: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`alerts ${command}: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

const limit = (max: number) => numberFlag('--limit', { int: true, min: 1, max });

/** One alert as a line; its stored text (subject, message, who acknowledged it) escaped, so it can neither drive the terminal nor fake lines. */
export function alertLine(a: Alert): string {
  return escapeControl(`${a.createdAt}  ${a.severity.padEnd(8)} ${a.status === 'acked' ? `acked by ${a.ackedBy}` : 'OPEN'}  ${a.rule.padEnd(24)} ${a.subject}: ${a.message}  [${a.id}]`);
}

/** One delivery as a line; the channel's error (stored as the channel answered) escaped. */
export function deliveryLine(d: AlertDelivery): string {
  const state = d.status === 'delivered' ? `delivered ${d.deliveredAt}` : d.attempts === 0 ? `pending, first attempt at ${d.nextAttemptAt}` : `FAILING, ${d.attempts} attempt(s), next at ${d.nextAttemptAt}: ${d.lastError ?? ''}`;
  return escapeControl(`${d.alertId}  ${d.channel.padEnd(8)} ${state}`);
}

export function alertsCommand(): Command {
  const cmd = new Command('alerts').description('alerts raised by deployments and monitoring: list, show, acknowledge, deliveries');
  cmd
    .command('list')
    .description('alerts, newest first')
    .addOption(new Option('--status <status>', 'only open or only acknowledged alerts').choices(['open', 'acked']))
    .option('--rule <rule>', 'only this rule, e.g. data_drift')
    .option('--subject <subject>', 'only this subject, e.g. "model demo-direction-5d"')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'as JSON (with evidence)')
    .action((opts: Record<string, unknown>) =>
      withStore(async (store) => {
        const { listAlerts } = lazy.alertStore();
        const { z } = lazy.zod();
        const f = parse(z.object({ status: z.enum(['open', 'acked']).optional(), rule: z.string().min(1).optional(), subject: z.string().min(1).optional(), limit: limit(10_000), json: z.boolean().optional() }), opts, 'list');
        const alerts = await listAlerts(store, f);
        if (f.json) return console.log(printableJson(alerts));
        for (const a of alerts) console.log(alertLine(a));
        if (alerts.length === 0) console.log('no alerts');
      }),
    );
  cmd
    .command('show <id>')
    .description('one alert with its evidence and deliveries')
    .action((id: string) =>
      withStore(async (store) => {
        const { getAlert } = lazy.alertStore();
        const { listDeliveries } = lazy.alertOutbox();
        const alert = await getAlert(store, id);
        if (!alert) throw new Error(`no alert "${id}": list them with "mlp alerts list"`);
        console.log(alertLine(alert));
        console.log(printableJson(alert.evidence));
        for (const d of await listDeliveries(store, { status: 'all', alertId: id })) console.log(`  ${deliveryLine(d)}`);
      }),
    );
  cmd
    .command('ack <id>')
    .description('acknowledge an alert: someone has seen it (a repeat within the cool-down stays suppressed)')
    .option('--by <name>', 'who (default: your user name)')
    .action((id: string, opts: { by?: string }) =>
      withStore(async (store) => {
        const { z } = lazy.zod();
        const by = parse(z.string().trim().min(1).max(255), opts.by ?? `${process.env.USER ?? 'unknown user'} (cli)`, 'ack');
        const { ackAlert } = lazy.alertStore();
        const { alert, changed } = await ackAlert(store, id, by);
        console.log(escapeControl(changed ? `acknowledged ${id} (${alert.rule}, ${alert.subject}) as ${by}` : `${id} was already acknowledged by ${alert.ackedBy} at ${alert.ackedAt}`));
      }),
    );
  cmd
    .command('deliveries')
    .description('alert deliveries not delivered yet (failing ones are retried with back-off, never dropped)')
    .addOption(new Option('--status <status>', 'pending (default), failing, delivered or all').choices(['pending', 'failing', 'delivered', 'all']).default('pending'))
    .option('--limit <n>', 'how many', '100')
    .action((opts: Record<string, unknown>) =>
      withStore(async (store) => {
        const { listDeliveries } = lazy.alertOutbox();
        const { z } = lazy.zod();
        const f = parse(z.object({ status: z.enum(['pending', 'failing', 'delivered', 'all']), limit: limit(10_000) }), opts, 'deliveries');
        const deliveries = await listDeliveries(store, f);
        for (const d of deliveries) console.log(deliveryLine(d));
        if (deliveries.length === 0) console.log(f.status === 'pending' || f.status === 'failing' ? 'nothing waiting: every alert has been delivered' : 'no deliveries');
      }),
    );
  return cmd;
}
