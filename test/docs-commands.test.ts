/**
 * The README and docs/ name only commands that exist: every `mlp …` invocation (in code blocks and
 * inline code, including leftover `npm run cli -- …` forms) is checked against the commander tree
 * that `buildProgram()` builds (subcommand path and every --option), and every `npm run <script>`
 * against package.json. A failure names the file, the line and what does not exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../client/program';
import { API_RATE_LIMIT_VARIABLES, CONFIG_VARIABLES } from '../lib/config';

const REPO = path.resolve(__dirname, '..');

interface Problem {
  file: string;
  line: number;
  message: string;
}

interface Found {
  /** How the command was written: `mlp …` or `npm run cli -- …`. */
  written: string;
  /** The words after `mlp`. */
  args: string;
}

/** Words that stand for something else in usage lines: <id>, [options], …, A|B. */
const isPlaceholder = (word: string) => /^[<[{(]/.test(word) || /^(…|\.\.\.|\||-)$/.test(word) || word.includes('…');

/** Shell-like words: quoted strings stay one word (and are never taken for options). */
function words(args: string): string[] {
  return args.match(/"[^"]*"?|'[^']*'?|\S+/g) ?? [];
}

/** Long and short option names a command accepts, the built-in help included. */
function optionNames(cmd: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) {
      if (o.long) names.add(o.long);
      if (o.short) names.add(o.short);
    }
  }
  return names;
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function subcommand(cmd: Command, name: string): Command | undefined {
  return cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
}

/** What is wrong with one invocation (the words after `mlp`), or nothing. */
export function checkInvocation(program: Command, args: string): string[] {
  let cmd = program;
  let descending = true;
  const flags: string[] = [];
  const problems: string[] = [];
  for (const raw of words(args)) {
    if (/^["']/.test(raw)) {
      descending = false;
      continue;
    }
    const word = raw.replace(/^[[(]+/, '').replace(/[\]),]+$/, '');
    if (word === '') continue;
    if (/^--?[A-Za-z]/.test(word)) {
      flags.push(word.split('=')[0]);
      continue;
    }
    if (!descending || cmd.commands.length === 0 || isPlaceholder(raw)) {
      descending = false;
      continue;
    }
    // `approve-start|pause|resume`: every alternative must be a subcommand.
    const alternatives = word.split('|').filter((w) => w !== '');
    const missing = alternatives.filter((w) => w !== 'help' && !subcommand(cmd, w));
    const takesArguments = cmd.registeredArguments.length > 0;
    if (missing.length > 0) {
      if (!takesArguments) problems.push(`\`${commandPath(cmd)}\` has no subcommand ${missing.map((m) => `"${m}"`).join(', ')} (known: ${cmd.commands.map((c) => c.name()).join(', ')})`);
      descending = false;
      continue;
    }
    const next = alternatives[0] === 'help' ? undefined : subcommand(cmd, alternatives[0]);
    if (!next) {
      descending = false;
      continue;
    }
    cmd = next;
  }
  const known = optionNames(cmd);
  for (const flag of flags) {
    if (!known.has(flag)) problems.push(`\`${commandPath(cmd)}\` has no option ${flag} (known: ${[...known].filter((n) => n.startsWith('--')).join(', ')})`);
  }
  return problems;
}

/** `mlp …` (or `npx mlp …`, `npm run cli -- …`) at the start of a shell line or of an inline code span. */
function invocationsIn(code: string): Found[] {
  const found: Found[] = [];
  // A shell comment starts at a # after white space; `&&` and `;` start another command.
  const withoutComment = code.replace(/(^|\s)#.*$/, '');
  for (const part of withoutComment.split(/&&|;/)) {
    const m = /^\s*(?:\$\s+)?((?:npx\s+)?mlp|npm\s+run\s+cli\s+--)(?=\s|$)(.*)$/.exec(part);
    if (m) found.push({ written: m[1].replace(/\s+/g, ' '), args: m[2] });
  }
  return found;
}

/** Every problem in one markdown file. */
export function checkMarkdown(file: string, text: string, program: Command, scripts: ReadonlySet<string>): { problems: Problem[]; invocations: number } {
  const problems: Problem[] = [];
  let invocations = 0;
  const check = (code: string, line: number) => {
    for (const { written, args } of invocationsIn(code)) {
      invocations++;
      for (const message of checkInvocation(program, args)) problems.push({ file, line, message: `${message}, in \`${`${written}${args}`.trim()}\`` });
    }
  };
  // Prose is read a paragraph at a time, so an inline code span may wrap onto the next line.
  let paragraph: { start: number; lines: string[] } | undefined;
  const flush = () => {
    if (!paragraph) return;
    const joined = paragraph.lines.join('\n');
    for (const m of joined.matchAll(/`([^`]+)`/g)) check(m[1].replace(/\s*\n\s*/g, ' '), paragraph.start + (joined.slice(0, m.index).match(/\n/g)?.length ?? 0));
    paragraph = undefined;
  };
  let fence: string | undefined;
  const lines = text.split('\n');
  lines.forEach((lineText, i) => {
    const line = i + 1;
    for (const m of lineText.matchAll(/\bnpm\s+run\s+([A-Za-z0-9][\w:.-]*)/g)) {
      const script = m[1].replace(/[.:]+$/, '');
      if (!scripts.has(script)) problems.push({ file, line, message: `package.json has no script "${script}" (npm run ${script})` });
    }
    const fenceMatch = /^\s*(```+|~~~+)/.exec(lineText);
    if (fenceMatch) {
      flush();
      if (fence === undefined) fence = fenceMatch[1];
      else if (fenceMatch[1].startsWith(fence)) fence = undefined;
    } else if (fence !== undefined) {
      check(lineText, line);
    } else if (lineText.trim() === '') {
      flush();
    } else {
      paragraph ??= { start: line, lines: [] };
      paragraph.lines.push(lineText);
    }
  });
  flush();
  return { problems, invocations };
}

function markdownFiles(): string[] {
  const files = [path.join(REPO, 'README.md')];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.md')) files.push(full);
    }
  };
  walk(path.join(REPO, 'docs'));
  return files;
}

const scripts: ReadonlySet<string> = new Set(Object.keys((JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts));
const format = (p: Problem) => `${p.file}:${p.line}: ${p.message}`;

describe('commands named in the README and docs/', () => {
  const program = buildProgram();

  it('exist in the mlp command tree and in package.json', () => {
    const problems: Problem[] = [];
    let invocations = 0;
    for (const file of markdownFiles()) {
      const result = checkMarkdown(path.relative(REPO, file), fs.readFileSync(file, 'utf8'), program, scripts);
      problems.push(...result.problems);
      invocations += result.invocations;
    }
    expect(problems.map(format)).toEqual([]);
    // The scan itself works: the docs are full of mlp commands.
    expect(invocations).toBeGreaterThan(50);
  });

  it('the command reference lists every command, and the configuration page every variable', () => {
    const reference = fs.readFileSync(path.join(REPO, 'docs', 'cli.md'), 'utf8');
    const missing: string[] = [];
    const visit = (cmd: Command) => {
      for (const sub of cmd.commands) {
        const full = commandPath(sub);
        if (!reference.includes(`${full} `) && !reference.includes(`${full}\n`)) missing.push(`docs/cli.md does not show \`${full}\``);
        visit(sub);
      }
    };
    visit(program);
    const configuration = fs.readFileSync(path.join(REPO, 'docs', 'configuration.md'), 'utf8');
    for (const v of [...CONFIG_VARIABLES, ...API_RATE_LIMIT_VARIABLES]) if (!configuration.includes(`\`${v.name}\``)) missing.push(`docs/configuration.md does not list ${v.name}`);
    expect(missing).toEqual([]);
  });

  it('fails on a made-up option, naming the file, the line and the option', () => {
    const text = ['# Page', '', '```', 'mlp runs list', 'mlp run --source data/ --made-up-flag 3   # comment --also-ignored', '```'].join('\n');
    expect(checkMarkdown('docs/fake.md', text, program, scripts).problems.map(format)).toEqual([
      expect.stringMatching(/^docs\/fake\.md:5: `mlp run` has no option --made-up-flag /),
    ]);
  });

  it('fails on a made-up subcommand, in inline code and in the old npm run cli form', () => {
    const text = 'Use `mlp models frobnicate demo` or `npm run cli -- snapshotz list`; `mlp deployments approve-start|pauze <id>`,\nand `mlp alerts list\n--bogus`.';
    const problems = checkMarkdown('README.md', text, program, scripts).problems.map(format);
    expect(problems).toEqual([
      expect.stringMatching(/^README\.md:1: `mlp models` has no subcommand "frobnicate"/),
      expect.stringMatching(/^README\.md:1: `mlp` has no subcommand "snapshotz"/),
      expect.stringMatching(/^README\.md:1: `mlp deployments` has no subcommand "pauze"/),
      expect.stringMatching(/^README\.md:2: `mlp alerts list` has no option --bogus /),
    ]);
  });

  it('fails on an npm script that package.json lacks', () => {
    const problems = checkMarkdown('docs/x.md', 'Run `npm run bench:nothing -- --x` then npm run api.', program, scripts).problems.map(format);
    expect(problems).toEqual(['docs/x.md:1: package.json has no script "bench:nothing" (npm run bench:nothing)']);
  });

  it('accepts usage notation: placeholders, optional flags, alternatives, quoted values, --help', () => {
    const lines = [
      'mlp <command> --help',
      'mlp schedules backfill <id> --from 2026-03-02 --to 2026-03-04 [--overlap buffer_all]',
      'mlp deployments abort <id> --reason "not --a-flag"',
      'npx mlp models show demo champion --json',
      'mlp',
    ];
    for (const line of lines) expect(checkMarkdown('x.md', `\`${line}\``, program, scripts).problems).toEqual([]);
  });
});
