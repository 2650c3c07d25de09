/**
 * What every thread of a threaded job does for its own subtask, the main
 * thread included: build the executor (restoring its part of a checkpoint),
 * open the links to the other subtasks, and wire exchanges to local tasks or
 * to proxies on those links.
 */
import type { MessagePort } from 'node:worker_threads';
import { CheckpointRestore } from '../../checkpoint/snapshot.ts';
import { loadCheckpoint } from '../../checkpoint/storage.ts';
import type { LogicalGraph } from '../../plan/graph.ts';
import type { KeyedStateBackend } from '../../state/backend.ts';
import { alignedSources, WatermarkAlignment } from '../alignment.ts';
import { Executor, type ExecutorOptions } from '../executor.ts';
import { Link } from './link.ts';

/**
 * What a threaded run needs of a pipeline — the DSL's `Pipeline` is one —
 * declared here so that the runtime does not import the DSL above it.
 */
export interface ThreadedPipeline {
  readonly name: string;
  readonly scope: { readonly graph: LogicalGraph };
  readonly options: { readonly maxParallelism: number };
  executorOptions(): Pick<ExecutorOptions, 'maxParallelism' | 'batchSize' | 'lingerMs' | 'errorPolicy'> & {
    readonly maxParallelism: number;
  };
  stateBackendFor(subtask: number): Promise<KeyedStateBackend>;
}

export interface SubtaskSetup {
  readonly executor: Executor;
  readonly links: Map<number, Link>;
  /** The checkpoint resumed from, if any. */
  readonly restoredFrom: number | undefined;
}

export async function setUpSubtask(
  pipeline: ThreadedPipeline,
  o: {
    readonly subtask: number;
    readonly parallelism: number;
    readonly jobStart: number;
    readonly ports: Record<number, MessagePort>;
    readonly checkpointing: boolean;
    readonly restoreDir: string | undefined;
    readonly alignment: SharedArrayBuffer;
    readonly onFail: (e: unknown) => void;
  },
): Promise<SubtaskSetup> {
  const graph = pipeline.scope.graph;
  const backend = await pipeline.stateBackendFor(o.subtask);
  let restore: ReturnType<CheckpointRestore['restoreSubtask']> | undefined;
  if (o.restoreDir !== undefined) {
    const nodes = [...graph.nodes.values()];
    restore = new CheckpointRestore(
      await loadCheckpoint(o.restoreDir),
      o.parallelism,
      pipeline.options.maxParallelism,
      {
        steps: new Set(graph.nodes.keys()),
        sources: new Set(nodes.filter((n) => n.kind === 'source').map((n) => n.id)),
      },
      (id) => graph.nodes.get(id)?.source?.source.splittable === true,
    ).restoreSubtask(o.subtask, backend);
  }
  const executor = new Executor(graph, {
    ...pipeline.executorOptions(),
    stateBackend: backend,
    subtask: o.subtask,
    parallelism: o.parallelism,
    jobStart: o.jobStart,
    checkpointing: o.checkpointing,
    ...(restore === undefined ? {} : { restore }),
    alignment: new WatermarkAlignment(alignedSources(graph), o.parallelism, o.alignment),
    onFail: o.onFail,
  });
  executor.build();
  const links = new Map<number, Link>();
  for (const [k, p] of Object.entries(o.ports)) links.set(Number(k), new Link(p, executor));
  executor.wireTo((k, consumer) =>
    k === o.subtask ? executor.task(consumer)! : links.get(k)!.target(consumer),
  );
  await executor.startOperators();
  return { executor, links, restoredFrom: restore?.checkpointId };
}
