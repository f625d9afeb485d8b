/**
 * Parameter sweeps, the pure part of the UI: reading a list of values as the CLI's
 * `-p NAME 0.1,0.01` does, counting the runs of a grid or a zip, the progress of a sweep in
 * words, and the columns and order of its results table. No JupyterLab imports: unit-tested
 * with jest; texts through the bundle given last (English by default).
 */

import { english, Trans } from '../i18n';
import {
  ISweepInfo,
  ISweepResultRow,
  ISweepResults,
  JSONValue,
  SweepMode
} from '../tokens';
import { formatJSON, ParameterKind, parseFormValue } from './parameters';

/** The most parameter sets a sweep may have (the server's `MAX_COMBINATIONS`). */
export const MAX_RUNS = 1000;

/** The most indexes that run at once when a profile names no limit (the server's default). */
export const DEFAULT_MAX_PARALLELISM = 4;

/** One value as the CLI's `-p` reads it: `True`/`False`/`None`, JSON, else the string. */
export function parseCliValue(text: string): JSONValue {
  const python: Record<string, JSONValue> = {
    True: true,
    False: false,
    None: null
  };
  if (text in python) {
    return python[text];
  }
  try {
    return JSON.parse(text) as JSONValue;
  } catch {
    return text;
  }
}

/**
 * A list of values as the CLI's sweep `-p NAME VALUES` reads it: a JSON list as it is,
 * else comma-separated values, each read by `parseCliValue`.
 */
export function splitValues(text: string): JSONValue[] {
  const list = jsonList(text);
  if (list) {
    return list;
  }
  return text.split(',').map(part => parseCliValue(part.trim()));
}

/** `text` as a JSON list when it is one (`[[1, 2], [3]]`), else null. */
function jsonList(text: string): JSONValue[] | null {
  if (!text.trimStart().startsWith('[')) {
    return null;
  }
  try {
    const value = JSON.parse(text) as JSONValue;
    return Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The outcome of reading a values field. */
export type ParsedValues =
  { ok: true; values: JSONValue[] } | { ok: false; error: string };

/**
 * The values of a swept parameter row, typed by the row's kind. Comma-separated values are
 * read as the CLI reads them, and must then fit the kind: an integer row's values are
 * integers, and so on; a string row keeps each part a string (the CLI's `-r`), and `json`
 * (or `None`) rows take whatever the CLI makes of them. A JSON list is taken as it is
 * (that is how values holding commas, or lists of lists, are written), checked the same
 * way. `error` is a phrase that follows the parameter's name.
 */
export function parseSweepValues(
  kind: ParameterKind,
  text: string,
  trans: Trans = english
): ParsedValues {
  if (!text.trim()) {
    return { ok: false, error: trans.__('needs at least one value') };
  }
  const list = jsonList(text);
  if (list) {
    const bad = list.find(v => !fitsKind(v, kind));
    if (bad !== undefined) {
      return {
        ok: false,
        error: trans.__(
          'has a value that is not %1: %2',
          kindNoun(kind, trans),
          formatJSON(bad)
        )
      };
    }
    if (list.length === 0) {
      return { ok: false, error: trans.__('needs at least one value') };
    }
    return { ok: true, values: list };
  }
  const parts = text.split(',').map(part => part.trim());
  if (parts.some(part => part === '')) {
    return {
      ok: false,
      error: trans.__('has an empty value (two commas, or one at an end)')
    };
  }
  switch (kind) {
    case 'string':
    case 'text':
      return { ok: true, values: parts };
    case 'int':
    case 'float':
    case 'boolean': {
      const values: JSONValue[] = [];
      for (const part of parts) {
        const parsed = parseFormValue(kind, part, trans);
        if (!parsed.ok) {
          return {
            ok: false,
            error: trans.__(
              'has a value that is not %1: %2',
              kindNoun(kind, trans),
              part
            )
          };
        }
        values.push(parsed.value);
      }
      return { ok: true, values };
    }
    default:
      return { ok: true, values: parts.map(parseCliValue) };
  }
}

/** Whether a value from a JSON list fits a row's kind. */
function fitsKind(value: JSONValue, kind: ParameterKind): boolean {
  switch (kind) {
    case 'int':
      return typeof value === 'number' && Number.isInteger(value);
    case 'float':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    default:
      return true;
  }
}

function kindNoun(kind: ParameterKind, trans: Trans): string {
  switch (kind) {
    case 'int':
      return trans.__('an integer');
    case 'float':
      return trans.__('a number');
    case 'boolean':
      return trans.__('True or False');
    case 'string':
      return trans.__('a string');
    default:
      return trans.__('a value');
  }
}

/**
 * How many parameter sets lists of these lengths make: grid, their product; zip, their
 * common length, or null when they differ (the server refuses such a sweep).
 */
export function countRuns(
  mode: SweepMode,
  lengths: readonly number[]
): number | null {
  if (lengths.length === 0) {
    return 0;
  }
  if (mode === 'zip') {
    return lengths.every(n => n === lengths[0]) ? lengths[0] : null;
  }
  return lengths.reduce((a, b) => a * b, 1);
}

/** What the dialog says about the runs of a sweep, and whether it adds up. */
export interface IRunsSummary {
  /** The number of runs; null: a zip of lists of different lengths. */
  count: number | null;
  /** `6 runs: 2 × 3`, `3 runs: lr, batch zipped`, or why it does not add up. */
  text: string;
  /** The server would refuse it (zip lengths differ, too many runs). */
  problem: boolean;
}

/**
 * The runs a sweep makes, in words: `6 runs: 2 × 3` (a grid, one factor per swept
 * parameter in order), `3 runs: lr, batch zipped`, or what is wrong with it.
 */
export function describeRuns(
  mode: SweepMode,
  lists: readonly [string, number][],
  trans: Trans = english
): IRunsSummary {
  const count = countRuns(
    mode,
    lists.map(([, n]) => n)
  );
  if (count === null) {
    const said = lists.map(([name, n]) => `${name}: ${n}`).join(', ');
    return {
      count,
      text: trans.__('Zip needs lists of one length (%1).', said),
      problem: true
    };
  }
  const runs = trans._n('%1 run', '%1 runs', count);
  let text: string;
  if (lists.length < 2) {
    text = runs;
  } else if (mode === 'zip') {
    text = trans.__(
      '%1: %2 zipped',
      runs,
      lists.map(([name]) => name).join(', ')
    );
  } else {
    text = `${runs}: ${lists.map(([, n]) => n).join(' × ')}`;
  }
  if (count > MAX_RUNS) {
    return {
      count,
      text: trans.__('%1, over the limit of %2.', text, MAX_RUNS),
      problem: true
    };
  }
  return { count, text, problem: false };
}

/**
 * The parallelism the dialog proposes: the profile's limit, but no more than the runs
 * (more would only be capped by the Job).
 */
export function defaultParallelism(
  maxParallelism: number | undefined,
  runs: number | null
): number {
  const limit = maxParallelism ?? DEFAULT_MAX_PARALLELISM;
  return Math.max(1, runs ? Math.min(limit, runs) : limit);
}

/** How far a sweep got, for the job list: `sweep 4/6 done, 1 failed`. */
export function sweepProgress(
  sweep: ISweepInfo,
  trans: Trans = english
): string {
  const done = sweep.succeeded + sweep.failed + sweep.cancelled;
  const parts = [trans.__('sweep %1/%2 done', done, sweep.total)];
  if (sweep.failed) {
    parts.push(trans.__('%1 failed', sweep.failed));
  }
  if (sweep.cancelled) {
    parts.push(trans.__('%1 cancelled', sweep.cancelled));
  }
  return parts.join(', ');
}

// -- the results table ---------------------------------------------------------------------

/** A column of the results table. */
export interface IResultColumn {
  /** Unique among the columns: `index`, `param:<name>`, `record:<name>`, `status`, `output`. */
  key: string;
  /** The header's text. */
  label: string;
  kind: 'index' | 'parameter' | 'record' | 'status' | 'output';
}

/** The columns: the index, each parameter, each recorded value, the status, the output. */
export function resultColumns(
  table: Pick<ISweepResults, 'parameters' | 'records'>,
  trans: Trans = english
): IResultColumn[] {
  return [
    { key: 'index', label: '#', kind: 'index' },
    ...table.parameters.map(name => ({
      key: `param:${name}`,
      label: name,
      kind: 'parameter' as const
    })),
    ...table.records.map(name => ({
      key: `record:${name}`,
      label: name,
      kind: 'record' as const
    })),
    { key: 'status', label: trans.__('Status'), kind: 'status' },
    { key: 'output', label: trans.__('Output'), kind: 'output' }
  ];
}

/** The value a row has in a column (what it sorts by); undefined: none. */
export function cellValue(
  row: ISweepResultRow,
  key: string
): JSONValue | undefined {
  if (key === 'index') {
    return row.index;
  }
  if (key === 'status') {
    return row.reason ? `${row.phase} · ${row.reason}` : row.phase;
  }
  if (key === 'output') {
    return row.output_path ?? undefined;
  }
  if (key.startsWith('param:')) {
    return row.parameters[key.slice('param:'.length)];
  }
  if (key.startsWith('record:')) {
    return row.records[key.slice('record:'.length)];
  }
  return undefined;
}

/** A cell's text: strings as they are, other values as JSON, nothing as ''. */
export function formatCell(value: JSONValue | undefined): string {
  if (value === undefined || value === null) {
    return '';
  }
  return typeof value === 'string' ? value : formatJSON(value);
}

const collator = new Intl.Collator(undefined, { numeric: true });

/**
 * The order of two cells, ascending: numbers as numbers (so 10 comes after 9), then
 * booleans, then text (`lr-10` after `lr-9`), then lists and objects by their JSON; a row
 * without a value comes last whichever the direction (see `sortRows`).
 */
export function compareValues(a: JSONValue, b: JSONValue): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) {
    return ra - rb;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') {
    return Number(a) - Number(b);
  }
  return collator.compare(formatCell(a), formatCell(b));
}

function rank(value: JSONValue): number {
  switch (typeof value) {
    case 'number':
      return 0;
    case 'boolean':
      return 1;
    case 'string':
      return 2;
    default:
      return 3;
  }
}

/** How the table is sorted: by a column's key, ascending or not. */
export interface ISortOrder {
  key: string;
  descending: boolean;
}

/**
 * The rows sorted by a column (a new array). Rows without a value in that column go last
 * in either direction, and ties keep the index order, so a sort is stable across refreshes.
 */
export function sortRows(
  rows: readonly ISweepResultRow[],
  order: ISortOrder
): ISweepResultRow[] {
  const sign = order.descending ? -1 : 1;
  return [...rows].sort((x, y) => {
    const a = cellValue(x, order.key);
    const b = cellValue(y, order.key);
    const missingA = a === undefined || a === null;
    const missingB = b === undefined || b === null;
    if (missingA || missingB) {
      if (missingA !== missingB) {
        return missingA ? 1 : -1;
      }
      return x.index - y.index;
    }
    return sign * compareValues(a, b) || x.index - y.index;
  });
}

/** The order after a click on a column's header: ascending first, then flipped. */
export function nextOrder(current: ISortOrder | null, key: string): ISortOrder {
  if (current && current.key === key) {
    return { key, descending: !current.descending };
  }
  return { key, descending: false };
}

/** The outcome of reading the parallelism field. */
export type ParsedParallelism =
  { ok: true; value: number } | { ok: false; error: string };

/**
 * The parallelism of a sweep from its field: empty is the default (`defaultParallelism`);
 * otherwise a whole number from 1 to the profile's limit.
 */
export function parseParallelism(
  text: string,
  maxParallelism: number | undefined,
  runs: number | null,
  trans: Trans = english
): ParsedParallelism {
  const trimmed = text.trim();
  if (!trimmed) {
    return { ok: true, value: defaultParallelism(maxParallelism, runs) };
  }
  const value = /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(value) || value < 1) {
    return {
      ok: false,
      error: trans.__('Parallelism must be a whole number, 1 or more.')
    };
  }
  const limit = maxParallelism ?? DEFAULT_MAX_PARALLELISM;
  if (value > limit) {
    return {
      ok: false,
      error: trans.__('Parallelism: at most %1 with this profile.', limit)
    };
  }
  return { ok: true, value };
}
