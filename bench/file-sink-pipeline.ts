/**
 * `bench file-sink`'s pipeline: generated events, a map, and every record to
 * JSON Lines — one file (`jsonLinesSink`, gathered into subtask 0) or part
 * files written by every subtask (`jsonLinesPartsSink`). A module, so worker
 * threads can build it too.
 */
import {
  definePipeline,
  generatorSource,
  jsonLinesPartsSink,
  jsonLinesSink,
  Pipeline,
} from '../src/index.ts';

export default definePipeline({
  name: 'bench-file-sink',
  description: 'every record of a generator to JSON Lines, one file or parts',
  options: {
    events: { type: 'number', default: 2_000_000, min: 1, description: 'how many events' },
    out: { type: 'string', default: 'out', description: 'the file (single) or directory (parts)' },
    parts: { type: 'boolean', default: false, description: 'part files from every subtask' },
  },
  build(o) {
    const p = new Pipeline({ name: 'bench-file-sink' });
    p.source(
      'events',
      generatorSource({
        count: o.events,
        startTime: 0,
        splits: 8,
        make: (i) => ({ id: i, device: `d${i % 997}`, value: i % 1000 }),
      }),
      { timestamp: 'ingestion' },
    )
      .map((e) => ({ id: e.id, device: e.device, value: e.value * 2, ok: e.value % 3 === 0 }))
      .sink(o.parts ? jsonLinesPartsSink({ dir: o.out }) : jsonLinesSink({ path: o.out }), 'out');
    return p;
  },
});
