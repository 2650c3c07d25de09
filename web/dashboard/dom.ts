/** DOM helpers: every value reaches the page as text, never as markup. */

export function byId<T extends HTMLElement | SVGElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as unknown as T;
}

/** A table row of text cells; `attrs` become data-* attributes of the row. */
export function row(
  cells: readonly string[],
  attrs: Readonly<Record<string, string>> = {},
): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const [k, v] of Object.entries(attrs)) tr.dataset[k] = v;
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

/** Replaces a table's body with `rows` (or one row saying `empty`). */
export function fill(table: string, rows: readonly HTMLTableRowElement[], empty: string): void {
  const body = byId<HTMLTableElement>(table).tBodies[0]!;
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 99;
    td.className = 'empty';
    td.textContent = empty;
    tr.append(td);
    body.replaceChildren(tr);
  } else body.replaceChildren(...rows);
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number>>,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}
