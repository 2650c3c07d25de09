/** The two time-series charts (uPlot): records in and out per second; memory and event-loop delay. */
import uPlot from 'uplot';
import type { Sample } from '../../src/ops/dashboard-state.ts';
import { byId } from './dom.ts';

type Columns = [number[], ...number[][]];

export class Charts {
  readonly #rate: uPlot;
  readonly #process: uPlot;
  readonly #rateData: Columns = [[], [], []];
  readonly #processData: Columns = [[], [], [], []];

  constructor(history: readonly Sample[]) {
    const width = (id: string) => Math.max(280, byId<HTMLElement>(id).clientWidth - 8);
    this.#rate = new uPlot(
      {
        width: width('chart-rate'),
        height: 200,
        scales: { x: { time: true } },
        series: [
          {},
          { label: 'in (sources)', stroke: '#2f6fb0', width: 2 },
          { label: 'out (sinks)', stroke: '#3a9d5d', width: 2 },
        ],
        axes: [{}, { size: 60 }],
      },
      [[], [], []],
      byId<HTMLElement>('chart-rate'),
    );
    this.#process = new uPlot(
      {
        width: width('chart-process'),
        height: 200,
        scales: { x: { time: true }, mb: {}, ms: {} },
        series: [
          {},
          { label: 'RSS MiB', stroke: '#7a4fb0', width: 2, scale: 'mb' },
          { label: 'heap MiB', stroke: '#b07a4f', width: 1, scale: 'mb' },
          { label: 'event-loop p99 ms', stroke: '#c0392b', width: 1, scale: 'ms' },
        ],
        axes: [{}, { scale: 'mb', size: 50 }, { scale: 'ms', side: 1, grid: { show: false }, size: 40 }],
      },
      [[], [], [], []],
      byId<HTMLElement>('chart-process'),
    );
    for (const s of history) this.#push(s);
    this.#draw();
  }

  add(sample: Sample): void {
    this.#push(sample);
    this.#draw();
  }

  #push(s: Sample): void {
    const keep = (cols: Columns) => {
      if (cols[0].length > 300) for (const c of cols) c.shift();
    };
    this.#rateData[0].push(s.t);
    this.#rateData[1]!.push(s.inRate);
    this.#rateData[2]!.push(s.outRate);
    this.#processData[0].push(s.t);
    this.#processData[1]!.push(s.rssMb);
    this.#processData[2]!.push(s.heapMb);
    this.#processData[3]!.push(s.loopP99Ms);
    keep(this.#rateData);
    keep(this.#processData);
  }

  #draw(): void {
    this.#rate.setData(this.#rateData);
    this.#process.setData(this.#processData);
  }
}
