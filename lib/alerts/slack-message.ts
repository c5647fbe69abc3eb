/**
 * The webhook payload: Slack-compatible JSON (a `text` fallback, and an attachment coloured by
 * severity holding Block Kit blocks). Other receivers (Mattermost, Teams connectors, a custom
 * endpoint) accept the same shape or read `text`.
 */
import type { Alert, AlertSeverity } from './alert';

const COLOURS: Record<AlertSeverity, string> = { critical: '#d0021b', warning: '#f5a623', info: '#4a90e2' };
const ICONS: Record<AlertSeverity, string> = { critical: ':rotating_light:', warning: ':warning:', info: ':information_source:' };

/** Slack section text is limited to 3,000 characters. */
const MAX_SECTION = 2900;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The evidence as a few `key: value` lines (nested values as short JSON) a person can read at a glance. */
export function evidenceSummary(evidence: unknown, maxLines = 12): string {
  if (evidence === null || evidence === undefined) return '';
  if (typeof evidence !== 'object' || Array.isArray(evidence)) return clip(JSON.stringify(evidence), 300);
  const entries = Object.entries(evidence as Record<string, unknown>).filter(([key]) => key !== 'link');
  const lines = entries.slice(0, maxLines).map(([key, value]) => `${key}: ${clip(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value), 160)}`);
  if (entries.length > maxLines) lines.push(`… ${entries.length - maxLines} more fields (mlp alerts show <id>)`);
  return clip(lines.join('\n'), MAX_SECTION - 10);
}

export function alertHeadline(alert: Alert): string {
  return `[${alert.severity.toUpperCase()}] ${alert.rule} — ${alert.subject}: ${alert.message}`;
}

export interface SlackMessage {
  text: string;
  attachments: Array<{ color: string; fallback: string; blocks: unknown[] }>;
}

export function slackMessage(alert: Alert, link?: string): SlackMessage {
  const markdown = (text: string) => ({ type: 'mrkdwn', text });
  const blocks: unknown[] = [
    { type: 'section', text: markdown(clip(`${ICONS[alert.severity]} *${alert.severity.toUpperCase()}* \`${alert.rule}\` — *${alert.subject}*\n${alert.message}`, MAX_SECTION)) },
    { type: 'section', fields: [markdown(`*Severity*\n${alert.severity}`), markdown(`*Rule*\n${alert.rule}`), markdown(`*Subject*\n${clip(alert.subject, 200)}`), markdown(`*Raised*\n${alert.createdAt}`)] },
  ];
  const summary = evidenceSummary(alert.evidence);
  if (summary) blocks.push({ type: 'section', text: markdown(`*Evidence*\n\`\`\`${summary}\`\`\``) });
  if (link) blocks.push({ type: 'section', text: markdown(`<${link}|Open in the Temporal Web UI / details>`) });
  blocks.push({ type: 'context', elements: [markdown(`alert ${alert.id} · acknowledge with \`mlp alerts ack ${alert.id}\``)] });
  const headline = alertHeadline(alert);
  return { text: clip(`${ICONS[alert.severity]} ${headline}${link ? ` ${link}` : ''}`, MAX_SECTION), attachments: [{ color: COLOURS[alert.severity], fallback: clip(headline, 300), blocks }] };
}
