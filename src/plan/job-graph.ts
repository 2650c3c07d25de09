/**
 * A pipeline's steps and streams as plain data (JSON): what `Pipeline.graph()`
 * returns and the dashboard draws. Types only, with no imports, so the
 * dashboard's page can use them too.
 */
export interface JobGraph {
  /** `kind` is the plan's node kind: 'source', 'map', 'window', 'sink', … */
  readonly nodes: readonly { readonly id: string; readonly kind: string; readonly keyed: boolean }[];
  /** `output` names the stream of `from`: 'main', or a side output such as 'late'. */
  readonly edges: readonly { readonly from: string; readonly to: string; readonly output: string }[];
}
