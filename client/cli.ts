/** The project's command line: start and follow runs, inspect snapshots and quarantine. */
import { ZodError } from 'zod';
import { describeValidationError } from '../lib/errors';
import { buildProgram } from './program';

buildProgram()
  .parseAsync()
  .catch((error: unknown) => {
    const message = error instanceof ZodError ? `Invalid option: ${describeValidationError(error)}` : error instanceof Error ? error.message : String(error);
    console.error(message);
    process.exit(1);
  });
