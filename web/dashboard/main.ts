/**
 * The live dashboard of one eddy run (issue 17): listens to `/api/events`
 * (Server-Sent Events; the browser reconnects by itself and the server
 * starts each connection with the whole picture) and redraws every second.
 */
import type { DashboardInit, DashboardState, StepView } from '../../src/ops/dashboard-state.ts';
import { Charts } from './charts.ts';
import { byId, fill, row } from './dom.ts';
import * as f from './format.ts';
import { GraphView } from './graph.ts';
import './style.css';

let graph: GraphView | undefined;
let charts: Charts | undefined;

function start(init: DashboardInit): void {
  byId('pipeline').textContent = init.pipeline;
  document.title = `eddy · ${init.pipeline}`;
  byId('facts').textContent =
    `${init.mode}${init.mode === 'threads' ? ` × ${init.parallelism}` : ''} · run ${init.runId}`;
  graph = init.graph === null ? undefined : new GraphView(byId<SVGSVGElement>('graph'), init.graph);
  byId('chart-rate').replaceChildren();
  byId('chart-process').replaceChildren();
  charts = new Charts(init.history);
  render(init.state);
}

function render(s: DashboardState): void {
  const phase = byId('phase');
  phase.textContent = s.phase;
  phase.dataset['phase'] = s.phase;
  byId('reason').textContent = `${s.reason}${s.restarts > 0 ? ` · ${s.restarts} restarts` : ''}`;
  graph?.update(s.steps);
  fill(
    'steps',
    s.steps.map((x) =>
      row(
        [
          x.id,
          x.kind,
          f.count(x.recordsIn),
          f.rate(x.inRate),
          f.count(x.recordsOut),
          f.rate(x.outRate),
          f.percent(x.busy),
          x.kind === 'source' ? f.percent(x.backpressure) : '',
          f.micros(x.p99Micros),
          f.eventTime(x.watermark),
          f.count(x.lateRecords),
          f.count(x.deadLetters),
          x.stateEntries === 0 && x.stateBytes === null
            ? ''
            : `${f.count(x.stateEntries)}${x.stateBytes === null ? '' : ` · ${f.bytes(x.stateBytes)}`}`,
          x.trueRate === null ? '' : f.rate(x.trueRate),
          x.needed === null ? '' : String(x.needed),
          x.skew === null ? '' : x.skew.toFixed(2),
        ],
        { step: x.id, recordsIn: String(x.recordsIn), recordsOut: String(x.recordsOut) },
      ),
    ),
    'no steps yet',
  );
  byId('checkpoint-summary').textContent =
    `${f.count(s.checkpointsCompleted)} completed, ${f.count(s.checkpointsFailed)} failed`;
  fill(
    'checkpoints',
    [...s.checkpoints]
      .reverse()
      .map((c) =>
        row(
          [
            f.clock(c.at),
            c.kind,
            f.ms(c.durationMs),
            f.bytes(c.bytes),
            f.ms(c.alignmentMs),
            c.error === null ? 'ok' : `failed: ${c.error}`,
          ],
          { result: c.error === null ? 'ok' : 'failed' },
        ),
      ),
    'no checkpoint since the page opened the run',
  );
  fill('dead-letters', deadLetterRows(s.steps), 'none');
  byId('scale').textContent =
    s.scale.bottleneck === null || s.scale.sustainableRate === null
      ? 'DS2: not enough work in the last second to measure the steps'
      : `DS2: the steps' own processing sustains about ${f.rate(s.scale.sustainableRate)} source records/s at this parallelism (reading and the event loop not counted); bottleneck "${s.scale.bottleneck}"; the current input needs ${s.scale.parallelism} subtask${s.scale.parallelism === 1 ? '' : 's'}`;
  fill(
    'hot-keys',
    s.steps.flatMap((x) =>
      x.hotKeys.map((h) =>
        row([x.id, h.key, f.percent(h.share), f.rate(h.share * x.inRate)], { step: x.id, key: h.key }),
      ),
    ),
    'no keyed step has seen records',
  );
  const kafka = s.kafka;
  byId('kafka-panel').hidden = kafka === null;
  if (kafka !== null) {
    byId('kafka-summary').textContent =
      `${kafka.tasks.length} partitions on this instance · ${kafka.rebalances} rebalances · ${kafka.restarts} task restarts`;
    fill(
      'kafka',
      kafka.partitions.map((p) => {
        const partition = Number(p.task.slice(p.task.lastIndexOf(':') + 1));
        const restore = [...kafka.restores].reverse().find((r) => r.partition === partition);
        return row(
          [
            p.task,
            f.count(p.records),
            f.rate(p.rate),
            p.lag < 0 ? '—' : f.count(p.lag),
            f.count(p.buffered),
            restore === undefined
              ? '—'
              : `${f.ms(restore.ms)}, ${f.count(restore.records)} records${restore.standby ? ' (warm standby)' : ''}`,
          ],
          { task: p.task },
        );
      }),
      'no partitions assigned',
    );
  }
}

function deadLetterRows(steps: readonly StepView[]): HTMLTableRowElement[] {
  const rows: HTMLTableRowElement[] = [];
  for (const s of steps)
    for (const [code, n] of Object.entries(s.deadLettersByCode)) {
      const last = s.lastDeadLetter;
      rows.push(
        row(
          [
            s.id,
            code,
            f.count(n),
            last !== null && last.code === code ? `${f.clock(last.at)} ${last.reason}` : '',
          ],
          {
            step: s.id,
            code,
          },
        ),
      );
    }
  return rows;
}

const events = new EventSource('/api/events');
events.addEventListener('init', (e) => start(JSON.parse((e as MessageEvent<string>).data) as DashboardInit));
events.addEventListener('state', (e) => {
  const state = JSON.parse((e as MessageEvent<string>).data) as DashboardState;
  charts?.add(state.sample);
  render(state);
});
events.addEventListener('error', () => {
  const phase = byId('phase');
  if (events.readyState !== EventSource.OPEN) {
    phase.textContent = 'disconnected';
    phase.dataset['phase'] = 'disconnected';
    byId('reason').textContent = 'the run ended or cannot be reached; retrying';
  }
});
