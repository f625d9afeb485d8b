/**
 * The state of the submit form, away from the DOM: parameter rows (pre-filled from the
 * notebook's parameters cell, or a past job's parameters), which of them the user changed,
 * and the request they make. Pure: unit-tested with jest; the problems it finds are told
 * through the translation bundle given last (English by default).
 */

import { english, Trans } from '../i18n';
import { JSONValue } from '../tokens';
import { parseSweepValues } from './sweep';
import {
  formatValue,
  IParameterSpec,
  isValidParameterName,
  jsonEqual,
  kindOfValue,
  ParameterKind,
  parseFormValue
} from './parameters';

/** One row of the parameters form. */
export interface IParameterRow {
  /** The name (editable only for rows the user added). */
  name: string;
  /** The kind of the value. */
  kind: ParameterKind;
  /** The value as typed. */
  text: string;
  /** The notebook's value (kind and text) the row starts from; absent for added rows. */
  initial?: { kind: ParameterKind; text: string; value: JSONValue | undefined };
  /** The notebook's default is an expression, not a literal (shown as its source). */
  expression?: boolean;
  /** A row the user (or a past job) added: not in the parameters cell. */
  added: boolean;
  /** The notebook's comment on the line, if any. */
  comment?: string;
  /** Whether the row takes several values (a sweep) in `sweepText`. */
  sweep?: boolean;
  /** The values of a swept row as typed: `0.1, 0.01` or a JSON list. */
  sweepText?: string;
}

/**
 * Rows for the parameters cell's specs; `values` (a past job's parameters, or values typed
 * before) override the defaults, and names not in the cell become added rows.
 */
export function rowsFromSpecs(
  specs: readonly IParameterSpec[],
  values: Record<string, JSONValue> = {}
): IParameterRow[] {
  const rows: IParameterRow[] = specs.map(spec => {
    const expression = spec.kind === 'text';
    const kind: ParameterKind = expression ? 'string' : spec.kind;
    const text = expression ? spec.source : formatValue(spec.kind, spec.value);
    const row: IParameterRow = {
      name: spec.name,
      kind,
      text,
      initial: { kind, text, value: spec.value },
      added: false
    };
    if (expression) {
      row.expression = true;
    }
    if (spec.comment) {
      row.comment = spec.comment;
    }
    if (spec.name in values) {
      setRowValue(row, values[spec.name]);
    }
    return row;
  });
  const known = new Set(specs.map(s => s.name));
  for (const [name, value] of Object.entries(values)) {
    if (!known.has(name)) {
      const row: IParameterRow = { name, kind: 'null', text: '', added: true };
      setRowValue(row, value);
      rows.push(row);
    }
  }
  return rows;
}

/** Put a JSON value into a row (its kind follows the value). */
export function setRowValue(row: IParameterRow, value: JSONValue): void {
  // Keep a float row a float when the value is a whole number (`1.0` stays `1.0`).
  const kind =
    row.initial?.kind === 'float' && typeof value === 'number'
      ? 'float'
      : kindOfValue(value);
  row.kind = kind;
  row.text = formatValue(kind, value);
}

/** Whether a row differs from the notebook's value (only such rows are sent). */
export function isRowChanged(row: IParameterRow): boolean {
  if (row.added || !row.initial) {
    return true;
  }
  if (row.kind === row.initial.kind && row.text === row.initial.text) {
    return false;
  }
  if (row.expression) {
    return true;
  }
  // `3` typed over `3`, or `[1,2]` over `[1, 2]`: the same value is no change.
  const parsed = parseFormValue(row.kind, row.text);
  return !(
    parsed.ok &&
    row.initial.value !== undefined &&
    kindFamily(row.kind) === kindFamily(row.initial.kind) &&
    jsonEqual(parsed.value, row.initial.value)
  );
}

function kindFamily(kind: ParameterKind): string {
  return kind === 'int' || kind === 'float' ? 'number' : kind;
}

/** Put a row back to the notebook's value. */
export function resetRow(row: IParameterRow): void {
  if (row.initial) {
    row.kind = row.initial.kind;
    row.text = row.initial.text;
  }
}

/** A problem with one row. */
export interface IRowError {
  /** The row's index. */
  index: number;
  /** Which input: the name or the value. */
  field: 'name' | 'value';
  /** What is wrong, for a person. */
  message: string;
}

/**
 * The parameters to send: the changed rows, typed; and the swept rows' lists of values.
 * Errors name the row and the field; the result is only meaningful when there are none.
 *
 * A swept row with several values goes into `swept` (the request's `sweep`); one with a
 * single value is a plain parameter, sent when it differs from the notebook's. `swept` is
 * null when no row has several values: the request is then a plain job's, as without
 * sweeps.
 */
export function collectParameters(
  rows: readonly IParameterRow[],
  trans: Trans = english
): {
  parameters: Record<string, JSONValue>;
  swept: Record<string, JSONValue[]> | null;
  errors: IRowError[];
} {
  const parameters: Record<string, JSONValue> = {};
  const swept: Record<string, JSONValue[]> = {};
  const errors: IRowError[] = [];
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    const name = row.name.trim();
    const text = row.sweep ? (row.sweepText ?? '') : row.text;
    if (row.added) {
      if (!name && !text.trim()) {
        return; // an empty added row is ignored
      }
      if (!isValidParameterName(name)) {
        errors.push({
          index,
          field: 'name',
          message: trans.__('"%1" is not a valid Python name', name)
        });
        return;
      }
    }
    if (seen.has(name)) {
      errors.push({
        index,
        field: 'name',
        message: trans.__('%1 is given twice', name)
      });
      return;
    }
    seen.add(name);
    if (row.sweep) {
      const parsed = parseSweepValues(row.kind, text, trans);
      if (!parsed.ok) {
        errors.push({
          index,
          field: 'value',
          message: `${name} ${parsed.error}`
        });
      } else if (parsed.values.length > 1) {
        swept[name] = parsed.values;
      } else if (
        row.added ||
        row.expression ||
        !jsonEqual(parsed.values[0], row.initial?.value)
      ) {
        parameters[name] = parsed.values[0];
      }
      return;
    }
    if (!isRowChanged(row)) {
      return;
    }
    const parsed = parseFormValue(row.kind, row.text, trans);
    if (!parsed.ok) {
      errors.push({
        index,
        field: 'value',
        // The name, then the parser's phrase about it ("must be an integer").
        message: `${name} ${parsed.error}`
      });
      return;
    }
    parameters[name] = parsed.value;
  });
  return {
    parameters,
    swept: Object.keys(swept).length ? swept : null,
    errors
  };
}

/**
 * The swept rows that have several values, as (name, number of values), for the dialog's
 * live count of runs; rows whose values do not read yet are left out.
 */
export function sweptLengths(
  rows: readonly IParameterRow[]
): [string, number][] {
  const lengths: [string, number][] = [];
  for (const row of rows) {
    if (!row.sweep) {
      continue;
    }
    const parsed = parseSweepValues(row.kind, row.sweepText ?? '');
    if (parsed.ok && parsed.values.length > 1) {
      lengths.push([row.name.trim() || '?', parsed.values.length]);
    }
  }
  return lengths;
}

/**
 * Environment variables from `NAME=value` lines (blank lines and `#` comments skipped).
 */
export function parseEnv(
  text: string,
  trans: Trans = english
): {
  env: Record<string, string>;
  errors: string[];
} {
  const env: Record<string, string> = {};
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) {
      return;
    }
    const eq = trimmed.indexOf('=');
    const name = (eq < 0 ? trimmed : trimmed.slice(0, eq)).trim();
    if (eq < 0) {
      errors.push(trans.__('line %1: write NAME=value', i + 1));
      return;
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      errors.push(
        trans.__('line %1: "%2" is not a valid variable name', i + 1, name)
      );
      return;
    }
    env[name] = trimmed.slice(eq + 1).trimStart();
  });
  return { env, errors };
}

/** `NAME=value` lines of an environment (the inverse of `parseEnv`). */
export function formatEnv(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}
