/**
 * A differential case as an `eddy run` module, so worker threads can build it:
 * every thread builds the case of `seed`; the sinks of the main thread's copy
 * (where sinks run) write into the outputs registered for the seed.
 */
import { collectSink, definePipeline } from '../../src/index.ts';
import { buildPipeline, emptyOutputs, makeCase, type Outputs, strictAsyncSink } from './cases.ts';

/** Outputs by seed, filled by the copy of the pipeline in this thread. */
export const outputsBySeed = new Map<number, Outputs>();

export default definePipeline({
  name: 'differential',
  description: 'one random case of the differential suite',
  options: {
    seed: { type: 'number', default: 1, description: 'the case' },
    state: { type: 'string', default: '', description: 'a directory for durable state (else the heap)' },
  },
  build: ({ seed, state }) => {
    let out = outputsBySeed.get(seed);
    if (out === undefined) outputsBySeed.set(seed, (out = emptyOutputs()));
    const dead = collectSink<never>();
    return buildPipeline(
      makeCase(seed),
      {
        main: strictAsyncSink(out.main, out.sinkProblems),
        late: { ...collectSink(), open: () => ({ write: (vs) => void out.late.push(...vs) }) },
        dead: { ...dead, open: () => ({ write: (vs) => void out.dead.push(...vs) }) },
      },
      state === '' ? {} : { state: { kind: 'durable', path: state } },
    );
  },
});
