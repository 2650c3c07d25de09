/** The error a Kafka application's run rejects with once restarting gave up. */
import { errorText } from '../../connectors/kafka/errors.ts';
import { EddyError, type ErrorCode } from '../../errors/index.ts';

/** What failed and how often (`what`), then the last error; its code is the last error's when eddy made it. */
export function gaveUp(what: string, last: unknown): EddyError {
  const code: ErrorCode = last instanceof EddyError ? last.code : 'EDDY_IO_FAILED';
  return new EddyError(code, `${what}; last error: ${errorText(last)}`, { cause: last });
}
