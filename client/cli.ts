/** The project's command line: start and follow runs, inspect snapshots and quarantine. */
import { describeValidationError } from '../lib/errors';
import { escapeLines } from '../lib/quality/excerpt';
import { lazy } from './lazy';
import { buildProgram } from './program';

buildProgram()
  .parseAsync()
  .catch((error: unknown) => {
    const message = error instanceof lazy.zod().ZodError ? `Invalid option: ${describeValidationError(error)}` : error instanceof Error ? error.message : String(error);
    // A message can quote remote or stored text (a worker's reason, a server's error): each line escaped.
    console.error(escapeLines(message));
    // An error may carry its own code (LostContactError: the run's outcome is unknown, not a failure).
    const code = (error as { exitCode?: unknown } | null)?.exitCode;
    process.exit(typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : 1);
  });
