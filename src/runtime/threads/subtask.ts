/**
 * What every thread of a threaded job does for its own subtask, the main
 * thread included: build the executor (restoring its part of a checkpoint),
 * open the links to the other subtasks, and wire exchanges to local tasks or
 * to proxies on those links.
 */
import type { MessagePort } from 'node:worker_threads';
import { CheckpointRestore } from '../../checkpoint/snapshot.ts';
import { loadCheckpoint } from '../../checkpoint/storage.ts';
import type { KeyedStateBackend } from '../../state/backend.ts';
import { WatermarkAlignment } from '../alignment.ts';
import { Executor, type ExecutorOptions } from '../executor.ts';
import type { PhysicalPlan } from '../physical.ts';
import { Link } from './link.ts';

/**
 * What a threaded run needs of a pipeline — the DSL's `Pipeline` is one —
 * declared here so that the runtime does not import the DSL above it.
 */
export interface ThreadedPipeline {
  readonly name: string;
  readonly options: { readonly maxParallelism: number };
  /** The physical plan for `parallelism` subtasks (the same in every thread: it is planned from the same module). */
  physicalPlan(parallelism: number): PhysicalPlan;
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
    readonly attempt: string;
    readonly ports: Record<number, MessagePort>;
    readonly checkpointing: boolean;
    readonly restoreDir: string | undefined;
    readonly alignment: SharedArrayBuffer;
    readonly hotKeys: boolean;
    readonly assignment: Int32Array | undefined;
    readonly countKeyGroups: boolean;
    readonly onFail: (e: unknown) => void;
  },
): Promise<SubtaskSetup> {
  const plan = pipeline.physicalPlan(o.parallelism);
  const backend = await pipeline.stateBackendFor(o.subtask);
  let restore: ReturnType<CheckpointRestore['restoreSubtask']> | undefined;
  if (o.restoreDir !== undefined) {
    restore = new CheckpointRestore(
      await loadCheckpoint(o.restoreDir),
      o.parallelism,
      pipeline.options.maxParallelism,
      { steps: plan.steps, sources: plan.sources },
      (id) => plan.splittable.includes(id),
    ).restoreSubtask(o.subtask, backend, o.assignment);
  }
  const executor = new Executor(plan, {
    ...pipeline.executorOptions(),
    stateBackend: backend,
    subtask: o.subtask,
    parallelism: o.parallelism,
    jobStart: o.jobStart,
    attempt: o.attempt,
    checkpointing: o.checkpointing,
    ...(restore === undefined ? {} : { restore }),
    alignment: new WatermarkAlignment(plan.splittable, o.parallelism, o.alignment),
    hotKeys: o.hotKeys,
    ...(o.assignment === undefined ? {} : { assignment: o.assignment }),
    countKeyGroups: o.countKeyGroups,
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
