/**
 * The child process of one eddy round: `node eddy-child.ts '<EddyRoundSpec as JSON>'`.
 * Prints the round's result as one JSON line on stdout.
 */
import { type EddyRoundSpec, runRoundHere } from './eddy.ts';

const spec = JSON.parse(process.argv[2] ?? '{}') as EddyRoundSpec;
const result = await runRoundHere(spec);
process.stdout.write(`${JSON.stringify(result)}\n`);
