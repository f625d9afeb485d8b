/**
 * The live view's model: the cells of `GET /jupyter-k8s/jobs/{id}/live` (an nbformat-4
 * notebook of the run so far) read into what the view draws, and each new answer merged
 * with the cells already drawn, so that only cells that changed are drawn again (a cell's
 * outputs arrive as it finishes; re-rendering every output at every poll would flicker and
 * cost). Pure functions, no JupyterLab imports: unit-tested with jest.
 */

import { english, Trans } from '../i18n';
import { ILiveCell, ILiveHeader, ILiveNotebook } from '../tokens';
import { phaseLabel } from './status';

/** A code cell's state in the live view (`none`: a markdown or raw cell). */
export type LiveCellState = 'pending' | 'running' | 'done' | 'failed' | 'none';

const STATES: readonly string[] = ['pending', 'running', 'done', 'failed'];

/** One cell as the view draws it. */
export interface ILiveCellView {
  /** Stable across answers: the cell's id, else its position. */
  key: string;
  type: 'code' | 'markdown' | 'raw';
  source: string;
  state: LiveCellState;
  executionCount: number | null;
  /** nbformat outputs, as the server sent them (untrusted). */
  outputs: Record<string, unknown>[];
  /** What is drawn, as text: a cell whose fingerprint did not change is not redrawn. */
  fingerprint: string;
}

/** What an answer says of the run as a whole. */
export interface ILiveState {
  header: ILiveHeader;
  cells: ILiveCellView[];
}

function joinSource(source: string | string[] | undefined): string {
  return Array.isArray(source) ? source.join('') : (source ?? '');
}

/** One cell of an answer. */
export function readCell(cell: ILiveCell, position: number): ILiveCellView {
  const type =
    cell.cell_type === 'markdown' || cell.cell_type === 'raw'
      ? cell.cell_type
      : 'code';
  const raw = cell.metadata?.jupyter_k8s_live?.state;
  const state: LiveCellState =
    type !== 'code'
      ? 'none'
      : typeof raw === 'string' && STATES.includes(raw)
        ? (raw as LiveCellState)
        : 'pending';
  const source = joinSource(cell.source);
  const outputs = type === 'code' ? (cell.outputs ?? []) : [];
  const executionCount =
    typeof cell.execution_count === 'number' ? cell.execution_count : null;
  return {
    key: typeof cell.id === 'string' && cell.id ? cell.id : `#${position}`,
    type,
    source,
    state,
    executionCount,
    outputs,
    fingerprint: JSON.stringify([type, source, state, executionCount, outputs])
  };
}

/** An answer read. */
export function readLive(notebook: ILiveNotebook): ILiveState {
  const header = notebook.metadata?.jupyter_k8s_live ?? {};
  return {
    header,
    cells: (notebook.cells ?? []).map((cell, i) => readCell(cell, i))
  };
}

/** The cells to draw after a new answer, and which of them must be drawn again. */
export interface ILiveMerge {
  /** The new cells; unchanged ones are the very objects drawn before. */
  cells: ILiveCellView[];
  /** Positions (in `cells`) of the cells to draw (new or changed). */
  changed: number[];
  /** Whether the cells are not the same list any more (added, removed, reordered). */
  restructured: boolean;
}

/**
 * Merge a new answer's cells with those drawn: a cell with the same key and fingerprint
 * keeps its drawn object; others are to be drawn. The list is rebuilt (`restructured`) when
 * the keys differ in order or number, e.g. when the executed notebook replaces the run's
 * assembled one.
 */
export function mergeLive(
  drawn: readonly ILiveCellView[],
  next: readonly ILiveCellView[]
): ILiveMerge {
  const restructured =
    drawn.length !== next.length || drawn.some((c, i) => c.key !== next[i].key);
  const byKey = new Map(drawn.map(c => [c.key, c]));
  const changed: number[] = [];
  const cells = next.map((cell, i) => {
    const before = byKey.get(cell.key);
    if (before && before.fingerprint === cell.fingerprint && !restructured) {
      return before;
    }
    changed.push(i);
    return cell;
  });
  return { cells, changed, restructured };
}

/**
 * The view's status line: `Running · cell 3 of 5: for epoch in range(10):`, or how the run
 * ended.
 */
export function liveStatus(
  header: ILiveHeader,
  trans: Trans = english
): string {
  const phase = header.phase ? phaseLabel(header.phase, trans) : '';
  const progress = header.cell
    ? header.total
      ? trans.__('cell %1 of %2', header.cell, header.total)
      : trans.__('cell %1', header.cell)
    : '';
  const head = [phase, progress].filter(Boolean).join(' · ');
  if (header.finished) {
    return header.source === 'output'
      ? trans.__('%1: the executed notebook', head)
      : head;
  }
  return header.line ? `${head}: ${header.line}` : head;
}

/** Whether the run can still change (poll again). */
export function isLive(header: ILiveHeader): boolean {
  return !header.finished;
}
