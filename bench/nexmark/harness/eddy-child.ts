/**
 * The child process of one eddy round: `node eddy-child.ts '<EddyRoundSpec as JSON>'`.
 * Prints the round's result as one JSON line on stdout.
 */
import { type EddyRoundSpec, runRoundHere } from './eddy.ts';
import { runThreadedRound } from './eddy-threads.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as EddyRoundSpec;
const result = (spec.parallelism ?? 1) > 1 ? await runThreadedRound(spec) : await runRoundHere(spec);
process.stdout.write(`${JSON.stringify(result)}\n`);
