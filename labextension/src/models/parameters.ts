/**
 * The parameters of a notebook: read from its cell tagged `parameters` (the way papermill
 * finds them), shown in the submit form with their types, and turned back into JSON values.
 *
 * Only simple assignments are understood: `name = literal` or `name: type = literal`, where
 * the literal is a number, a string, True/False, None, or a list/tuple/dict of those (which
 * become JSON). Any other expression (`np.arange(3)`, `datetime.now()`) is kept as its
 * source text (kind `text`): the form shows it, and sends it only if the user changes it.
 *
 * Pure functions, no JupyterLab imports: unit-tested with jest. What a person reads goes
 * through the translation bundle given last (English by default).
 */

import { english, Trans } from '../i18n';
import { JSONValue } from '../tokens';

/** The type a parameter has in the form. */
export type ParameterKind =
  'int' | 'float' | 'string' | 'boolean' | 'null' | 'json' | 'text';

/** Kinds a user can pick for a value, in the order the form lists them. */
export const PARAMETER_KINDS: readonly ParameterKind[] = [
  'int',
  'float',
  'string',
  'boolean',
  'null',
  'json'
];

/** The label of a kind in the form. */
export function kindLabel(kind: ParameterKind, trans: Trans = english): string {
  switch (kind) {
    case 'int':
      return trans.__('integer');
    case 'float':
      return trans.__('number');
    case 'string':
      return trans.__('string');
    case 'boolean':
      return trans.__('boolean');
    case 'null':
      return 'None';
    case 'json':
      return trans.__('list/dict (JSON)');
    case 'text':
      return trans.__('expression');
  }
}

/** A parameter as found in the parameters cell. */
export interface IParameterSpec {
  /** The variable name. */
  name: string;
  /** The type of its default value. */
  kind: ParameterKind;
  /** The default value as JSON (undefined for kind `text`: an expression). */
  value: JSONValue | undefined;
  /** The default's source text, as written in the cell. */
  source: string;
  /** The type annotation, when there is one (`n: int = 3` gives `int`). */
  annotation?: string;
  /** A trailing comment (`n = 3  # rows to read` gives `rows to read`). */
  comment?: string;
}

/** The minimal shape of a notebook cell (nbformat JSON or a cell model's fields). */
export interface ICellLike {
  cell_type: string;
  metadata?: { tags?: unknown } | Record<string, unknown>;
  source: string | string[];
}

/** The source of the first cell tagged `parameters`, or null when there is none. */
export function findParametersSource(
  cells: readonly ICellLike[]
): string | null {
  for (const cell of cells) {
    const tags = (cell.metadata as { tags?: unknown } | undefined)?.tags;
    if (
      cell.cell_type === 'code' &&
      Array.isArray(tags) &&
      tags.includes('parameters')
    ) {
      return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
    }
  }
  return null;
}

const ASSIGNMENT =
  /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([^=]+?)\s*)?=(?!=)\s*(.*)$/;

const PYTHON_KEYWORDS = new Set([
  'False',
  'None',
  'True',
  'and',
  'as',
  'assert',
  'async',
  'await',
  'break',
  'class',
  'continue',
  'def',
  'del',
  'elif',
  'else',
  'except',
  'finally',
  'for',
  'from',
  'global',
  'if',
  'import',
  'in',
  'is',
  'lambda',
  'nonlocal',
  'not',
  'or',
  'pass',
  'raise',
  'return',
  'try',
  'while',
  'with',
  'yield'
]);

/**
 * The parameters assigned in a parameters cell's source, in order (a name assigned twice
 * keeps its last value, at its first place). Lines that are not top-level assignments are
 * skipped; a value whose brackets are open continues on the following lines.
 */
export function parseParametersCell(source: string): IParameterSpec[] {
  const lines = source.split(/\r\n|\r|\n/);
  const found = new Map<string, IParameterSpec>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s/.test(line)) {
      continue; // indented: inside a block, not a top-level assignment
    }
    const match = ASSIGNMENT.exec(line);
    if (!match || PYTHON_KEYWORDS.has(match[1])) {
      continue;
    }
    let rest = match[3];
    // Join continuation lines while brackets are open (a list or dict over several lines).
    let { depth, code, comment } = scanLine(rest);
    while (depth > 0 && i + 1 < lines.length) {
      i++;
      rest += '\n' + lines[i];
      ({ depth, code, comment } = scanLine(rest));
    }
    const expression = code.trim();
    if (!expression) {
      continue;
    }
    const spec: IParameterSpec = {
      name: match[1],
      ...classifyLiteral(expression),
      source: expression
    };
    if (match[2]) {
      spec.annotation = match[2].trim();
    }
    if (comment) {
      spec.comment = comment;
    }
    found.set(spec.name, spec);
  }
  return [...found.values()];
}

/**
 * Split a line into code and trailing comment (a `#` outside strings), and count the
 * brackets left open.
 */
function scanLine(text: string): {
  code: string;
  comment: string;
  depth: number;
} {
  let depth = 0;
  let quote: string | null = null;
  let code = '';
  const comments: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      code += c;
      if (c === '\\' && i + 1 < text.length) {
        code += text[++i];
      } else if (c === quote) {
        quote = null;
      }
      continue;
    }
    if (c === '#') {
      // The comment runs to the end of its line; code may go on after it.
      const end = text.indexOf('\n', i);
      comments.push(text.slice(i + 1, end < 0 ? undefined : end).trim());
      if (end < 0) {
        break;
      }
      i = end - 1;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '[' || c === '{' || c === '(') {
      depth++;
    } else if (c === ']' || c === '}' || c === ')') {
      depth--;
    }
    code += c;
  }
  return { code, comment: comments.filter(Boolean).join(' '), depth };
}

/** The kind and JSON value of a Python literal; kind `text` when it is not one. */
export function classifyLiteral(expression: string): {
  kind: ParameterKind;
  value: JSONValue | undefined;
} {
  const parsed = parsePythonLiteral(expression);
  if (parsed === undefined) {
    return { kind: 'text', value: undefined };
  }
  const { value, isFloat } = parsed;
  if (value === null) {
    return { kind: 'null', value };
  }
  switch (typeof value) {
    case 'boolean':
      return { kind: 'boolean', value };
    case 'string':
      return { kind: 'string', value };
    case 'number':
      return { kind: isFloat ? 'float' : 'int', value };
    default:
      return { kind: 'json', value };
  }
}

/**
 * Parse a Python literal into JSON: numbers, strings, True/False/None, lists, tuples (as
 * lists) and dicts with string keys. Undefined when `text` is anything else.
 */
export function parsePythonLiteral(
  text: string
): { value: JSONValue; isFloat: boolean } | undefined {
  const parser = new LiteralParser(text);
  try {
    const value = parser.value();
    parser.skipSpace();
    if (!parser.atEnd()) {
      return undefined;
    }
    return { value, isFloat: parser.topIsFloat };
  } catch {
    return undefined;
  }
}

class LiteralParser {
  constructor(private readonly text: string) {}

  /** Whether the top-level value was written as a float (`1.0`, `1e3`). */
  topIsFloat = false;

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) {
      this.pos++;
    }
  }

  value(): JSONValue {
    this.level++;
    try {
      if (this.level > 64) {
        throw new Error('nested too deeply');
      }
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === '[') {
        return this.sequence('[', ']');
      }
      if (c === '(') {
        return this.sequence('(', ')');
      }
      if (c === '{') {
        return this.dict();
      }
      if (c === '"' || c === "'") {
        return this.string();
      }
      const word = /^(True|False|None)\b/.exec(this.text.slice(this.pos));
      if (word) {
        this.pos += word[1].length;
        return word[1] === 'None' ? null : word[1] === 'True';
      }
      return this.number();
    } finally {
      this.level--;
    }
  }

  private sequence(open: string, close: string): JSONValue[] {
    this.pos++; // the opening bracket
    const items: JSONValue[] = [];
    let sawComma = false;
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === close) {
        this.pos++;
        if (open === '(' && items.length === 1 && !sawComma) {
          throw new Error('a parenthesised expression, not a tuple');
        }
        return items;
      }
      items.push(this.value());
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        sawComma = true;
        this.pos++;
      } else if (this.text[this.pos] !== close) {
        throw new Error(`expected , or ${close}`);
      }
    }
  }

  private dict(): { [key: string]: JSONValue } {
    this.pos++;
    const result: { [key: string]: JSONValue } = {};
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === '}') {
        this.pos++;
        return result;
      }
      const c = this.text[this.pos];
      if (c !== '"' && c !== "'") {
        throw new Error('dict keys must be strings');
      }
      const key = this.string();
      this.skipSpace();
      if (this.text[this.pos] !== ':') {
        throw new Error('expected :');
      }
      this.pos++;
      result[key] = this.value();
      this.skipSpace();
      if (this.text[this.pos] === ',') {
        this.pos++;
      } else if (this.text[this.pos] !== '}') {
        throw new Error('expected , or }');
      }
    }
  }

  private string(): string {
    const quote = this.text[this.pos];
    if (this.text.startsWith(quote.repeat(3), this.pos)) {
      throw new Error('triple-quoted strings are left as text');
    }
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === quote) {
        return out;
      }
      if (c === '\n') {
        break;
      }
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.pos++];
      const simple: Record<string, string> = {
        n: '\n',
        t: '\t',
        r: '\r',
        '0': '\0',
        '\\': '\\',
        "'": "'",
        '"': '"',
        a: '\x07',
        b: '\b',
        f: '\f',
        v: '\v'
      };
      if (e in simple) {
        out += simple[e];
      } else if (e === 'x' || e === 'u' || e === 'U') {
        const width = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + width);
        if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) {
          throw new Error('bad escape');
        }
        out += String.fromCodePoint(parseInt(hex, 16));
        this.pos += width;
      } else if (e === '\n') {
        // a line continuation inside the string
      } else {
        out += '\\' + e; // Python keeps unknown escapes as they are
      }
    }
    throw new Error('unterminated string');
  }

  private number(): number {
    const rest = this.text.slice(this.pos);
    const match =
      /^[+-]?(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*(?:[eE][+-]?\d+)?|\d(?:_?\d)*\.?(?:[eE][+-]?\d+)?)/.exec(
        rest
      );
    if (!match || match[0] === '' || /^[+-]?$/.test(match[0])) {
      throw new Error('not a literal');
    }
    const written = match[0];
    // Python rejects leading zeros on integers (`007`), except for zero itself.
    if (/^[+-]?0\d/.test(written) && !/[.eE]/.test(written)) {
      throw new Error('leading zeros');
    }
    const value = Number(written.replace(/_/g, ''));
    if (!Number.isFinite(value)) {
      throw new Error('not finite');
    }
    if (this.level === 1) {
      this.topIsFloat = /[.eE]/.test(written);
    }
    if (!/[.eE]/.test(written) && !Number.isSafeInteger(value)) {
      throw new Error('integer too large for JSON');
    }
    this.pos += written.length;
    return value;
  }

  private pos = 0;
  private level = 0;
}

/** The text a form shows for a value of the given kind. */
export function formatValue(
  kind: ParameterKind,
  value: JSONValue | undefined
): string {
  if (value === undefined) {
    return '';
  }
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? value : formatJSON(value);
    case 'null':
      return 'None';
    case 'boolean':
      return value ? 'True' : 'False';
    case 'int':
    case 'float':
      return typeof value === 'number'
        ? formatNumber(value, kind)
        : String(value);
    default:
      return formatJSON(value);
  }
}

/** JSON with a space after commas and colons, on one line: `[1, 2]`, `{"a": 1}`. */
export function formatJSON(value: JSONValue): string {
  if (Array.isArray(value)) {
    return `[${value.map(formatJSON).join(', ')}]`;
  }
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${formatJSON(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

function formatNumber(value: number, kind: ParameterKind): string {
  const text = String(value);
  return kind === 'float' && Number.isInteger(value) && !/e/i.test(text)
    ? `${text}.0`
    : text;
}

/** The outcome of reading one form field. */
export type ParsedValue =
  { ok: true; value: JSONValue } | { ok: false; error: string };

/**
 * Turn a form field's text into the JSON value of its kind, or say what is wrong (a
 * phrase that follows the parameter's name: "must be an integer").
 */
export function parseFormValue(
  kind: ParameterKind,
  text: string,
  trans: Trans = english
): ParsedValue {
  const trimmed = text.trim();
  switch (kind) {
    case 'string':
    case 'text':
      return { ok: true, value: text };
    case 'null':
      return { ok: true, value: null };
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (lower === 'true' || lower === '1' || lower === 'yes') {
        return { ok: true, value: true };
      }
      if (lower === 'false' || lower === '0' || lower === 'no') {
        return { ok: true, value: false };
      }
      return { ok: false, error: trans.__('must be True or False') };
    }
    case 'int': {
      if (!/^[+-]?\d(?:_?\d)*$/.test(trimmed)) {
        return { ok: false, error: trans.__('must be an integer') };
      }
      const value = Number(trimmed.replace(/_/g, ''));
      if (!Number.isSafeInteger(value)) {
        return { ok: false, error: trans.__('is too large') };
      }
      return { ok: true, value };
    }
    case 'float': {
      const literal = parsePythonLiteral(trimmed);
      if (!literal || typeof literal.value !== 'number') {
        return { ok: false, error: trans.__('must be a number') };
      }
      return { ok: true, value: literal.value };
    }
    case 'json': {
      if (!trimmed) {
        return { ok: false, error: trans.__('must be a JSON list or object') };
      }
      try {
        return { ok: true, value: JSON.parse(trimmed) as JSONValue };
      } catch {
        // Python spelling (single quotes, True/None) is welcome too.
        const literal = parsePythonLiteral(trimmed);
        if (literal) {
          return { ok: true, value: literal.value };
        }
        return { ok: false, error: trans.__('is not valid JSON') };
      }
    }
  }
}

/** The kind that describes a JSON value best (for parameters of a past job). */
export function kindOfValue(value: JSONValue): ParameterKind {
  if (value === null) {
    return 'null';
  }
  switch (typeof value) {
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'number':
      return Number.isInteger(value) ? 'int' : 'float';
    default:
      return 'json';
  }
}

/** Whether a name can be a parameter (a Python identifier, not a keyword). */
export function isValidParameterName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PYTHON_KEYWORDS.has(name);
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(
  a: JSONValue | undefined,
  b: JSONValue | undefined
): boolean {
  if (a === b) {
    return true;
  }
  if (a === null || b === null || a === undefined || b === undefined) {
    return false;
  }
  if (typeof a !== 'object' || typeof b !== 'object') {
    return false;
  }
  if (Array.isArray(a) !== Array.isArray(b)) {
    return false;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  const ao = a as { [key: string]: JSONValue };
  const bo = b as { [key: string]: JSONValue };
  const keys = Object.keys(ao);
  return (
    keys.length === Object.keys(bo).length &&
    keys.every(k => k in bo && jsonEqual(ao[k], bo[k]))
  );
}
