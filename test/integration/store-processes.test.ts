import { spawn } from 'node:child_process';
import path from 'node:path';
import { createEmptyMysqlDatabase } from '../helpers/databases';

const REPO = path.resolve(__dirname, '..', '..');

/** Opens the store at argv[1] in a process of its own and closes it; the process must then end by itself. */
const OPEN_AND_CLOSE = `
const { openDatabase } = require(${JSON.stringify(path.join(REPO, 'lib', 'store', 'database.ts'))});
openDatabase(process.argv[1], process.argv[2] ? { existing: { namedBy: 'test' } } : {})
  .then((store) => store.close())
  .then(() => console.log('closed'), (error) => console.log('failed:', error.message));
`;

interface Ended {
  /** null: still running at the deadline (then killed). */
  code: number | null;
  stdout: string;
}

function openAndClose(url: string, deadlineMs: number, existing = false): Promise<Ended> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', OPEN_AND_CLOSE, url, ...(existing ? ['existing'] : [])], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, deadlineMs);
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
      expect(await openAndClose(empty.url, 15_000)).toEqual({ code: 0, stdout: 'closed\n' });
      const refused = new URL(empty.url);
      refused.pathname = `${refused.pathname}_missing`;
      const ended = await openAndClose(refused.toString(), 15_000, true);
      expect(ended.code).toBe(0);
      expect(ended.stdout).toMatch(/^failed: No store at .*: the database does not exist/);
    } finally {
      await empty.drop();
    }
  }, 40_000);

});
