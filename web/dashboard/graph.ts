/**
 * The job graph: laid out once by dagre (left to right, as data flows), drawn
 * as SVG, then recoloured every second from the steps' busy and backpressure
 * figures.
 */
import dagre from '@dagrejs/dagre';
import type { StepView } from '../../src/ops/dashboard-state.ts';
import type { JobGraph } from '../../src/plan/job-graph.ts';
import { svg } from './dom.ts';
import { rate } from './format.ts';

const W = 168;
const H = 58;

export class GraphView {
  readonly #nodes = new Map<string, { box: SVGRectElement; line: SVGTextElement; group: SVGGElement }>();

  constructor(root: SVGSVGElement, graph: JobGraph) {
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: 'LR', nodesep: 24, ranksep: 56, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of graph.nodes) g.setNode(n.id, { width: W, height: H });
    for (const e of graph.edges) g.setEdge(e.from, e.to, { output: e.output });
    dagre.layout(g);
    const size = g.graph();
    root.setAttribute('viewBox', `0 0 ${Math.ceil(size.width ?? W)} ${Math.ceil(size.height ?? H)}`);
    root.style.maxWidth = `${Math.ceil(size.width ?? W)}px`;
    const defs = svg('defs', {});
    const marker = svg('marker', {
      id: 'arrow',
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow-head' }));
    defs.append(marker);
    root.replaceChildren(defs);
    for (const e of graph.edges) {
      const points: readonly { x: number; y: number }[] = g.edge(e.from, e.to)?.points ?? [];
      if (points.length === 0) continue;
      const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
      const path = svg('path', {
        d,
        class: e.output === 'main' ? 'edge' : 'edge side',
        'marker-end': 'url(#arrow)',
      });
      root.append(path);
      if (e.output !== 'main') {
        const mid = points[Math.floor(points.length / 2)]!;
        const label = svg('text', { x: mid.x, y: mid.y - 4, class: 'edge-label' });
        label.textContent = e.output;
        root.append(label);
      }
    }
    for (const n of graph.nodes) {
      const at = g.node(n.id);
      const group = svg('g', {
        class: 'step',
        transform: `translate(${(at.x - W / 2).toFixed(1)} ${(at.y - H / 2).toFixed(1)})`,
        'data-step': n.id,
        'data-kind': n.kind,
      });
      const box = svg('rect', { width: W, height: H, rx: 6, class: 'box' });
      const title = svg('text', { x: 10, y: 20, class: 'step-id' });
      title.textContent = n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id;
      const kind = svg('text', { x: 10, y: 36, class: 'step-kind' });
      kind.textContent = `${n.kind}${n.keyed ? ' · keyed' : ''}`;
      const line = svg('text', { x: 10, y: 51, class: 'step-rate' });
      const tip = svg('title', {});
      tip.textContent = `${n.id} (${n.kind})`;
      group.append(tip, box, title, kind, line);
      root.append(group);
      this.#nodes.set(n.id, { box, line, group });
    }
  }

  update(steps: readonly StepView[]): void {
    for (const s of steps) {
      const node = this.#nodes.get(s.id);
      if (node === undefined) continue; // planner-made steps (combiners, the default dead-letter writer)
      node.box.style.fill = busyColour(s.busy);
      node.group.classList.toggle('backpressured', s.backpressure > 0.1);
      node.group.dataset['busy'] = s.busy.toFixed(3);
      node.group.dataset['backpressure'] = s.backpressure.toFixed(3);
      node.group.dataset['recordsIn'] = String(s.recordsIn);
      node.group.dataset['recordsOut'] = String(s.recordsOut);
      node.line.textContent =
        s.kind === 'source'
          ? `${rate(s.outRate)}/s out`
          : s.kind === 'sink'
            ? `${rate(s.inRate)}/s in`
            : `${rate(s.inRate)}/s in · ${rate(s.outRate)}/s out`;
    }
  }
}

/** Idle pale green to busy orange-red, as Flink's graph colours busy time. */
function busyColour(busy: number): string {
  const f = Math.min(1, Math.max(0, busy));
  const hue = 130 - 115 * f;
  return `hsl(${hue.toFixed(0)} ${(45 + 35 * f).toFixed(0)}% ${(90 - 32 * f).toFixed(0)}%)`;
}
