/**
 * The entry of a worker thread: it imports the pipeline module, builds the
 * pipeline with the same options (so the plan and step ids are the same as in
 * every other subtask), runs its own subtask, and talks to the other subtasks
 * over direct links and to the job over its parent port, which also drives its
 * part of each checkpoint.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { bytesByStep, collectSubtask, localParticipant } from '../checkpoints.ts';
import type { ControlMessage, ReportMessage, WorkerData } from './protocol.ts';
import { setUpSubtask, type ThreadedPipeline } from './subtask.ts';

const data = workerData as WorkerData;
const port = parentPort!;
const report = (m: ReportMessage) => port.postMessage(m);
const failed = (e: unknown) =>
  report({ t: 'error', message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack });

try {
  // A `definePipeline` module (cli/define.ts), known here only by the shape the worker uses.
  const mod = (
    (await import(data.module)) as {
      default: { build(values: unknown): ThreadedPipeline | Promise<ThreadedPipeline> };
    }
  ).default;
  const pipeline = await mod.build(data.values);
  const { executor, links } = await setUpSubtask(pipeline, { ...data, onFail: failed });
  const participant = localParticipant(executor, links);
  let snapshot: ReturnType<typeof executor.snapshot> | undefined;
  void executor.drained.then(() => report({ t: 'drained' }));
  port.on('message', async (m: ControlMessage) => {
    try {
      switch (m.t) {
        case 'start':
          executor.startSources();
          return;
        case 'stop':
          executor.stop();
          return;
        case 'query':
          try {
            report({
              t: 'queried',
              id: m.id,
              state:
                m.scan === undefined
                  ? executor.queryState(m.step, m.key)
                  : executor.scanState(m.step, m.scan),
            });
          } catch (e) {
            report({ t: 'queried', id: m.id, error: (e as Error)?.message ?? String(e) });
          }
          return;
        case 'metrics':
          report({ t: 'metrics', m: executor.metrics() });
          return;
        case 'spread':
          executor.setSpread(m.on);
          return;
        case 'cp-park':
          await participant.park();
          report({ t: 'cp-parked' });
          return;
        case 'cp-drain':
          report({ t: 'cp-drained', ...(await participant.drain()) });
          return;
        case 'cp-snapshot':
          snapshot = executor.snapshot(m.id);
          report({ t: 'cp-snapshotted' });
          return;
        case 'cp-open':
          executor.openGate();
          return;
        case 'cp-collect': {
          const r = await collectSubtask(snapshot!);
          snapshot = undefined;
          executor.noteStateBytes(bytesByStep(r.chunks));
          report({ t: 'cp-collected', meta: r.meta, chunks: r.chunks, entries: r.entries });
          return;
        }
        case 'cp-complete':
          await executor.checkpointComplete(m.id);
          report({ t: 'cp-completed' });
          return;
        case 'cancel':
        case 'close':
          if (m.t === 'cancel') await executor.cancel();
          else await executor.close();
          for (const link of links.values()) link.close();
          report({ t: 'closed' });
          port.close();
          return;
      }
    } catch (e) {
      failed(e);
    }
  });
  report({ t: 'ready' });
} catch (e) {
  failed(e);
}
