import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createEmptyMysqlDatabase, tempDir } from '../helpers/databases';

const REPO = path.resolve(__dirname, '..', '..');

/** Opens the store at argv[1] in a process of its own and closes it; the process must then end by itself. */
const OPEN_AND_CLOSE = `
const { openDatabase } = require(${JSON.stringify(path.join(REPO, 'lib', 'store', 'database.ts'))});
openDatabase(process.argv[1], process.argv[2] ? { existing: { namedBy: 'test' } } : {})
  .then((store) => store.close())
  .then(() => console.log('closed'), (error) => console.log('failed:', error.message));
`;

interface Ended {
  /** null: still running at a deadline (then killed): 10 s after it printed its outcome, or `deadlineMs` in all. */
  code: number | null;
  stdout: string;
}

function openAndClose(url: string, deadlineMs: number, existing = false): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', OPEN_AND_CLOSE, url, ...(existing ? ['existing'] : [])], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let timedOut = false;
    const kill = () => {
      timedOut = true;
      child.kill('SIGKILL');
    };
    // Opening may be slow on a busy machine; once the outcome is printed, the process must end soon.
    let timer = setTimeout(kill, deadlineMs);
    const read = (chunk: Buffer) => {
      stdout += chunk.toString();
      if (/^(closed|failed)/m.test(stdout)) {
        clearTimeout(timer);
        timer = setTimeout(kill, 10_000);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, stdout });
    });
  });
}

describe('a store opened by a process of its own', () => {
  it('MySQL: close() ends every connection, so the process exits by itself (and after a refused open too)', async () => {
    const empty = await createEmptyMysqlDatabase();
    try {
      // The store's own Kysely handle never took a connection (migrations ran on another): its pool was left open.
      expect(await openAndClose(empty.url, 90_000)).toEqual({ code: 0, stdout: 'closed\n' });
      const refused = new URL(empty.url);
      refused.pathname = `${refused.pathname}_missing`;
      const ended = await openAndClose(refused.toString(), 90_000, true);
      expect(ended.code).toBe(0);
      expect(ended.stdout).toMatch(/^failed: No store at .*: the database does not exist/);
    } finally {
      await empty.drop();
    }
  }, 200_000);

  it('SQLite: two processes opening the same new file at once both migrate it, one after the other', async () => {
    const dir = tempDir('mlp-sqlite-two-opens-');
    try {
      for (let trial = 0; trial < 3; trial++) {
        const url = `sqlite:${path.join(dir, `new-${trial}.sqlite`)}`;
        const ended = await Promise.all([openAndClose(url, 90_000), openAndClose(url, 90_000)]);
        expect(ended).toEqual([
          { code: 0, stdout: 'closed\n' },
          { code: 0, stdout: 'closed\n' },
        ]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
