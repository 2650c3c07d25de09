/**
 * What happens when a user function throws on a record: by default the record
 * goes to the dead-letter output with the error as its reason and processing
 * goes on; with the 'fail' policy the pipeline stops with the error.
 */
import { EddyError } from '../errors/index.ts';
import type { OperatorContext } from './operator.ts';

export function userFunctionFailed(
  ctx: OperatorContext,
  error: unknown,
  value: unknown,
  time: number,
  stepId: string = ctx.stepId,
): void {
  if (ctx.errorPolicy === 'fail') {
    throw new EddyError('EDDY_USER_FUNCTION_FAILED', `user function threw: ${messageOf(error)}`, {
      cause: error,
      stepId,
    });
  }
  ctx.deadLetter(
    'EDDY_USER_FUNCTION_FAILED',
    `user function threw: ${messageOf(error)}`,
    value,
    time,
    stepId,
  );
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
