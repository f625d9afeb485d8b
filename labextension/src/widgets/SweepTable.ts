/**
 * A sweep's results table: one row per index with its parameters, the values its notebook
 * recorded, its status and a link to its executed notebook; sorted by a click on a column's
 * header (again: the other way). Plain DOM, no JupyterLab imports: unit-tested with jest.
 */

import { button, el } from '../dom';
import { english, Trans } from '../i18n';
import { baseName, phaseLabel } from '../models/status';
import {
  cellValue,
  formatCell,
  IResultColumn,
  ISortOrder,
  nextOrder,
  resultColumns,
  sortRows
} from '../models/sweep';
import { ISweepIndex, ISweepResultRow, ISweepResults } from '../tokens';

const TONES: Record<string, string> = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'success',
  Failed: 'error',
  Cancelled: 'cancelled'
};

export class SweepTable {
  constructor(options: SweepTable.IOptions) {
    this._trans = options.trans ?? english;
    this._openPath = options.openPath;
    this.node = el('table', 'jp-k8s-SweepTable');
    if (options.label) {
      this.node.setAttribute('aria-label', options.label);
    }
    this._head = el('thead', '');
    this._body = el('tbody', '');
    this.node.append(this._head, this._body);
  }

  /** The table element. */
  readonly node: HTMLTableElement;

  /** The rows in the order shown. */
  get rows(): readonly ISweepResultRow[] {
    return this._shown;
  }

  /** How the rows are sorted (null: by index, as the server lists them). */
  get order(): ISortOrder | null {
    return this._order;
  }

  /**
   * Show a results table; `indexes` (the job's `sweep.indexes`) say whose executed
   * notebook is there to open. Redraws only what changed, so a refresh that brings
   * nothing new leaves the page (and the focus on a header) as it was.
   */
  setData(table: ISweepResults, indexes: readonly ISweepIndex[] = []): void {
    this._table = table;
    this._outputs = new Map(indexes.map(i => [i.index, i]));
    const columns = resultColumns(table, this._trans);
    const columnsKey = JSON.stringify(columns);
    if (columnsKey !== this._columnsKey) {
      this._columnsKey = columnsKey;
      this._columns = columns;
      if (this._order && !columns.some(c => c.key === this._order!.key)) {
        this._order = null;
      }
      this._renderHead();
    }
    this._renderBody();
  }

  /** Sort by a column (as a click on its header does): ascending, then descending. */
  sortBy(key: string): void {
    this._order = nextOrder(this._order, key);
    this._updateHead();
    this._renderBody(true);
  }

  private _renderHead(): void {
    const tr = el('tr', '');
    for (const column of this._columns) {
      const th = el('th', `jp-mod-${column.kind}`);
      th.scope = 'col';
      if (column.kind === 'output') {
        th.textContent = column.label;
      } else {
        const b = button('jp-k8s-SweepTable-sort', column.label);
        b.dataset.key = column.key;
        b.title = this._trans.__('Sort by %1', column.label);
        b.addEventListener('click', () => this.sortBy(column.key));
        th.appendChild(b);
      }
      tr.appendChild(th);
    }
    this._head.replaceChildren(tr);
    this._updateHead();
  }

  /** The sort indicator and `aria-sort` of each header. */
  private _updateHead(): void {
    const cells = this._head.querySelectorAll('th');
    this._columns.forEach((column, i) => {
      const th = cells[i];
      if (!th || column.kind === 'output') {
        return;
      }
      const sorted = this._order?.key === column.key;
      th.setAttribute(
        'aria-sort',
        sorted ? (this._order!.descending ? 'descending' : 'ascending') : 'none'
      );
      th.classList.toggle('jp-mod-sorted', sorted);
      const b = th.querySelector('button');
      if (b) {
        b.textContent = sorted
          ? `${column.label} ${this._order!.descending ? '▼' : '▲'}`
          : column.label;
      }
    });
  }

  private _renderBody(force = false): void {
    const table = this._table;
    if (!table) {
      return;
    }
    const rows = this._order ? sortRows(table.rows, this._order) : table.rows;
    const key = JSON.stringify([
      rows,
      [...this._outputs.values()].map(i => [i.output_state, i.output_path])
    ]);
    if (!force && key === this._bodyKey) {
      return;
    }
    this._bodyKey = key;
    this._shown = [...rows];
    this._body.replaceChildren(...rows.map(row => this._renderRow(row)));
  }

  private _renderRow(row: ISweepResultRow): HTMLTableRowElement {
    const tr = el('tr', `jp-mod-${TONES[row.phase] ?? 'pending'}`);
    tr.dataset.index = String(row.index);
    for (const column of this._columns) {
      tr.appendChild(this._renderCell(row, column));
    }
    return tr;
  }

  private _renderCell(
    row: ISweepResultRow,
    column: IResultColumn
  ): HTMLTableCellElement {
    const trans = this._trans;
    const td = el('td', `jp-mod-${column.kind}`);
    td.dataset.key = column.key;
    if (column.kind === 'status') {
      const phase = phaseLabel(row.phase, trans);
      td.textContent = row.reason ? `${phase} · ${row.reason}` : phase;
      if (row.message) {
        td.title = row.message;
      }
      return td;
    }
    if (column.kind === 'output') {
      td.appendChild(this._outputCell(row));
      return td;
    }
    const value = cellValue(row, column.key);
    const text = formatCell(value);
    td.textContent = text;
    td.title = text;
    if (typeof value === 'number') {
      td.classList.add('jp-mod-number');
    }
    return td;
  }

  /** A link that opens the index's executed notebook, or why there is none. */
  private _outputCell(row: ISweepResultRow): HTMLElement {
    const trans = this._trans;
    const index = this._outputs.get(row.index);
    const path = index?.output_path ?? row.output_path ?? '';
    const state = index?.output_state ?? 'none';
    if (state === 'ready' && path) {
      const link = el('a', 'jp-k8s-SweepTable-open', baseName(path));
      link.href = '#';
      link.title = trans.__('Open %1', path);
      link.addEventListener('click', event => {
        event.preventDefault();
        this._openPath(path);
      });
      return link;
    }
    const text =
      state === 'pending'
        ? trans.__('not there yet')
        : state === 'error'
          ? trans.__('not collected')
          : '—';
    const span = el('span', 'jp-k8s-muted', text);
    if (state === 'error' && index?.output_error) {
      span.title = index.output_error;
    }
    return span;
  }

  private _trans: Trans;
  private _openPath: (path: string) => void;
  private _head: HTMLTableSectionElement;
  private _body: HTMLTableSectionElement;
  private _table: ISweepResults | null = null;
  private _outputs = new Map<number, ISweepIndex>();
  private _columns: IResultColumn[] = [];
  private _columnsKey = '';
  private _bodyKey = '';
  private _order: ISortOrder | null = null;
  private _shown: ISweepResultRow[] = [];
}

export namespace SweepTable {
  export interface IOptions {
    /** Open a file of the workspace (an index's executed notebook). */
    openPath: (path: string) => void;
    /** The table's accessible name. */
    label?: string;
    /** The extension's bundle (default English). */
    trans?: Trans;
  }
}
