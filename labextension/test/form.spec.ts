import {
  collectParameters,
  formatEnv,
  isRowChanged,
  parseEnv,
  resetRow,
  rowsFromSpecs
} from '../src/models/form';
import { parseParametersCell } from '../src/models/parameters';

const CELL =
  'n = 3\nrate = 1.0\nlabel = "run"\nflag = True\nstart = datetime.now()\n';

describe('parameter rows', () => {
  it('start from the notebook and send nothing unchanged', () => {
    const rows = rowsFromSpecs(parseParametersCell(CELL));
    expect(rows.map(r => [r.name, r.kind, r.text])).toEqual([
      ['n', 'int', '3'],
      ['rate', 'float', '1.0'],
      ['label', 'string', 'run'],
      ['flag', 'boolean', 'True'],
      ['start', 'string', 'datetime.now()']
    ]);
    expect(rows[4].expression).toBe(true);
    expect(rows.some(isRowChanged)).toBe(false);
    // No row swept: a plain job's request (no sweep).
    expect(collectParameters(rows)).toEqual({
      parameters: {},
      swept: null,
      errors: []
    });
  });

  it('send changed values, typed', () => {
    const rows = rowsFromSpecs(parseParametersCell(CELL));
    rows[0].text = '5';
    rows[1].text = '2';
    rows[3].text = 'False';
    rows[4].text = '2024-01-01';
    expect(collectParameters(rows)).toEqual({
      parameters: { n: 5, rate: 2, flag: false, start: '2024-01-01' },
      swept: null,
      errors: []
    });
  });

  it('count the same value spelled differently as no change', () => {
    const rows = rowsFromSpecs(parseParametersCell('xs = [1, 2]\nr = 0.5\n'));
    rows[0].text = '[1,2]';
    rows[1].text = '.5';
    expect(rows.map(isRowChanged)).toEqual([false, false]);
  });

  it('reset to the notebook value', () => {
    const rows = rowsFromSpecs(parseParametersCell(CELL));
    rows[0].kind = 'string';
    rows[0].text = 'x';
    expect(isRowChanged(rows[0])).toBe(true);
    resetRow(rows[0]);
    expect([rows[0].kind, rows[0].text]).toEqual(['int', '3']);
  });

  it('take a past job’s values over the defaults; unknown names become added rows', () => {
    const rows = rowsFromSpecs(parseParametersCell(CELL), {
      n: 10,
      rate: 3,
      extra: { a: 1 }
    });
    expect(rows.find(r => r.name === 'n')?.text).toBe('10');
    expect(rows.find(r => r.name === 'rate')).toMatchObject({
      kind: 'float',
      text: '3.0'
    });
    expect(rows[rows.length - 1]).toMatchObject({
      name: 'extra',
      kind: 'json',
      added: true
    });
    expect(collectParameters(rows).parameters).toEqual({
      n: 10,
      rate: 3,
      extra: { a: 1 }
    });
  });

  it('report bad values, bad names and duplicates by row', () => {
    const rows = rowsFromSpecs(parseParametersCell('n = 3\n'));
    rows[0].text = 'three';
    rows.push({ name: '2bad', kind: 'int', text: '1', added: true });
    rows.push({ name: 'n', kind: 'int', text: '1', added: true });
    rows.push({ name: '', kind: 'string', text: '', added: true });
    expect(collectParameters(rows).errors).toEqual([
      { index: 0, field: 'value', message: 'n must be an integer' },
      { index: 1, field: 'name', message: '"2bad" is not a valid Python name' },
      { index: 2, field: 'name', message: 'n is given twice' }
    ]);
  });
});

describe('environment lines', () => {
  it('parse NAME=value lines', () => {
    expect(parseEnv('A=1\n\n# comment\nB = two words\nC=x=y\n')).toEqual({
      env: { A: '1', B: 'two words', C: 'x=y' },
      errors: []
    });
  });

  it('say which line is wrong', () => {
    expect(parseEnv('A=1\nnovalue\n1X=2').errors).toEqual([
      'line 2: write NAME=value',
      'line 3: "1X" is not a valid variable name'
    ]);
  });

  it('format back', () => {
    expect(formatEnv({ A: '1', B: 'x' })).toBe('A=1\nB=x');
  });
});
