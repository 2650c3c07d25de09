/**
 * The entry of a worker thread: it imports the pipeline module, builds the
 * pipeline with the same options (so the plan and step ids are the same as in
 * every other subtask), runs its own subtask, and talks to the other subtasks
 * over direct links and to the job over its parent port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { OptionSpec, PipelineModule } from '../../cli/define.ts';
import { Executor } from '../executor.ts';
import { Link } from './link.ts';
import type { ControlMessage, ReportMessage, WorkerData } from './protocol.ts';

const data = workerData as WorkerData;
const port = parentPort!;
const report = (m: ReportMessage) => port.postMessage(m);

try {
  const mod = ((await import(data.module)) as { default: PipelineModule<Record<string, OptionSpec>> })
    .default;
  const pipeline = await mod.build(data.values as never);
  const executor = new Executor(pipeline.scope.graph, {
    ...pipeline.executorOptions(),
    stateBackend: await pipeline.stateBackendFor(data.subtask),
    subtask: data.subtask,
    parallelism: data.parallelism,
    jobStart: data.jobStart,
    onFail: (e) =>
      report({ t: 'error', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack }),
  });
  executor.build();
  const links = new Map<number, Link>();
  for (const [k, p] of Object.entries(data.ports)) links.set(Number(k), new Link(p, executor));
  executor.wireTo((k, consumer) =>
    k === data.subtask ? executor.task(consumer)! : links.get(k)!.target(consumer),
  );
  await executor.startOperators();
  void executor.drained.then(() => report({ t: 'drained' }));
  port.on('message', async (m: ControlMessage) => {
    switch (m.t) {
      case 'start':
        executor.startSources();
        return;
      case 'stop':
        executor.stop();
        return;
      case 'metrics':
        report({ t: 'metrics', m: executor.metrics() });
        return;
      case 'close':
        await executor.close();
        for (const link of links.values()) link.close();
        report({ t: 'closed' });
        port.close();
        return;
    }
  });
  report({ t: 'ready' });
} catch (e) {
  report({ t: 'error', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack });
}
