import {
  collectParameters,
  IParameterRow,
  rowsFromSpecs,
  sweptLengths
} from '../src/models/form';
import { parseParametersCell } from '../src/models/parameters';
import {
  compareValues,
  countRuns,
  defaultParallelism,
  describeRuns,
  nextOrder,
  parseCliValue,
  parseParallelism,
  parseSweepValues,
  resultColumns,
  sortRows,
  splitValues,
  sweepProgress
} from '../src/models/sweep';
import {
  ISweepIndex,
  ISweepInfo,
  ISweepResultRow,
  ISweepResults
} from '../src/tokens';
import { english } from '../src/i18n';
import { createRow, renderRow } from '../src/widgets/jobRow';
import type { ISubmitFormState } from '../src/widgets/SubmitForm';
import { SweepOptions } from '../src/widgets/SweepOptions';
import { SweepTable } from '../src/widgets/SweepTable';
import { job } from './helpers';

describe('values as the CLI reads them (-p NAME 0.1,0.01)', () => {
  it('reads each value as JSON, else as a string', () => {
    expect(parseCliValue('0.1')).toBe(0.1);
    expect(parseCliValue('32')).toBe(32);
    expect(parseCliValue('true')).toBe(true);
    expect(parseCliValue('True')).toBe(true);
    expect(parseCliValue('None')).toBeNull();
    expect(parseCliValue('"x"')).toBe('x');
    expect(parseCliValue('adam')).toBe('adam');
  });

  it('splits on commas, or takes a JSON list as it is', () => {
    expect(splitValues('0.1,0.01')).toEqual([0.1, 0.01]);
    expect(splitValues(' 0.1 , 1e-3 ')).toEqual([0.1, 0.001]);
    expect(splitValues('adam, sgd')).toEqual(['adam', 'sgd']);
    expect(splitValues('[[1, 2], [3, 4]]')).toEqual([
      [1, 2],
      [3, 4]
    ]);
    expect(splitValues('["a,b", "c"]')).toEqual(['a,b', 'c']);
    // Not a JSON list after all: split like any other text.
    expect(splitValues('[1, 2')).toEqual(['[1', 2]);
  });
});

describe('parseSweepValues: a swept row’s values, typed by its kind', () => {
  it('reads integers, numbers and booleans, and says which value is wrong', () => {
    expect(parseSweepValues('int', '16, 32,64')).toEqual({
      ok: true,
      values: [16, 32, 64]
    });
    expect(parseSweepValues('float', '0.1, 1e-3, 2')).toEqual({
      ok: true,
      values: [0.1, 0.001, 2]
    });
    expect(parseSweepValues('boolean', 'True, False')).toEqual({
      ok: true,
      values: [true, false]
    });
    expect(parseSweepValues('int', '1, 2.5')).toEqual({
      ok: false,
      error: 'has a value that is not an integer: 2.5'
    });
    expect(parseSweepValues('float', '0.1, fast')).toEqual({
      ok: false,
      error: 'has a value that is not a number: fast'
    });
  });

  it('keeps a string row’s values strings (the CLI’s -r), JSON lists included', () => {
    expect(parseSweepValues('string', 'adam, 1, true')).toEqual({
      ok: true,
      values: ['adam', '1', 'true']
    });
    expect(parseSweepValues('string', '["a, b", "c"]')).toEqual({
      ok: true,
      values: ['a, b', 'c']
    });
    expect(parseSweepValues('string', '["a", 1]')).toEqual({
      ok: false,
      error: 'has a value that is not a string: 1'
    });
  });

  it('reads a JSON row as the CLI does: a JSON list, or values each read as JSON', () => {
    expect(parseSweepValues('json', '[[1, 2], [3]]')).toEqual({
      ok: true,
      values: [[1, 2], [3]]
    });
    expect(parseSweepValues('json', '1, {"a": 1}, x')).toEqual({
      ok: true,
      values: [1, { a: 1 }, 'x']
    });
  });

  it('wants at least one value, and no empty one', () => {
    expect(parseSweepValues('int', '  ')).toEqual({
      ok: false,
      error: 'needs at least one value'
    });
    expect(parseSweepValues('int', '[]')).toEqual({
      ok: false,
      error: 'needs at least one value'
    });
    expect(parseSweepValues('int', '1,,2').ok).toBe(false);
    expect(parseSweepValues('string', 'a,').ok).toBe(false);
  });
});

describe('counting the runs', () => {
  it('grid: the product; zip: the common length, or null', () => {
    expect(countRuns('grid', [2, 3])).toBe(6);
    expect(countRuns('grid', [2, 3, 4])).toBe(24);
    expect(countRuns('zip', [3, 3])).toBe(3);
    expect(countRuns('zip', [2, 3])).toBeNull();
    expect(countRuns('grid', [])).toBe(0);
  });

  it('says it in words, and what the server would refuse', () => {
    expect(
      describeRuns('grid', [
        ['lr', 2],
        ['batch', 3]
      ])
    ).toEqual({ count: 6, text: '6 runs: 2 × 3', problem: false });
    expect(describeRuns('grid', [['lr', 3]])).toEqual({
      count: 3,
      text: '3 runs',
      problem: false
    });
    expect(
      describeRuns('zip', [
        ['lr', 3],
        ['batch', 3]
      ])
    ).toEqual({ count: 3, text: '3 runs: lr, batch zipped', problem: false });
    expect(
      describeRuns('zip', [
        ['lr', 2],
        ['batch', 3]
      ])
    ).toEqual({
      count: null,
      text: 'Zip needs lists of one length (lr: 2, batch: 3).',
      problem: true
    });
    const big = describeRuns('grid', [
      ['a', 40],
      ['b', 30]
    ]);
    expect(big.problem).toBe(true);
    expect(big.text).toBe('1200 runs: 40 × 30, over the limit of 1000.');
  });
});

describe('parallelism', () => {
  it('proposes the profile’s limit, no more than the runs', () => {
    expect(defaultParallelism(4, 6)).toBe(4);
    expect(defaultParallelism(4, 2)).toBe(2);
    expect(defaultParallelism(undefined, 10)).toBe(4);
    expect(defaultParallelism(8, null)).toBe(8);
  });

  it('reads the field: empty is the default; 1 to the limit', () => {
    expect(parseParallelism('', 4, 6)).toEqual({ ok: true, value: 4 });
    expect(parseParallelism(' 2 ', 4, 6)).toEqual({ ok: true, value: 2 });
    expect(parseParallelism('0', 4, 6).ok).toBe(false);
    expect(parseParallelism('1.5', 4, 6).ok).toBe(false);
    expect(parseParallelism('5', 4, 6)).toEqual({
      ok: false,
      error: 'Parallelism: at most 4 with this profile.'
    });
  });
});

describe('swept rows in the request', () => {
  const CELL = 'lr = 0.1\nbatch = 32\nopt = "adam"\n';

  function rows(): IParameterRow[] {
    return rowsFromSpecs(parseParametersCell(CELL));
  }

  it('several values go to the sweep, in the row order', () => {
    const r = rows();
    r[0].sweep = true;
    r[0].sweepText = '0.1, 0.01';
    r[1].sweep = true;
    r[1].sweepText = '16,32,64';
    expect(collectParameters(r)).toEqual({
      parameters: {},
      swept: { lr: [0.1, 0.01], batch: [16, 32, 64] },
      errors: []
    });
    expect(sweptLengths(r)).toEqual([
      ['lr', 2],
      ['batch', 3]
    ]);
  });

  it('one value is a plain parameter, sent only when it differs', () => {
    const r = rows();
    r[0].sweep = true;
    r[0].sweepText = '0.1'; // the notebook's own value
    r[2].sweep = true;
    r[2].sweepText = 'sgd';
    expect(collectParameters(r)).toEqual({
      parameters: { opt: 'sgd' },
      swept: null,
      errors: []
    });
    expect(sweptLengths(r)).toEqual([]);
  });

  it('a bad value is the row’s error', () => {
    const r = rows();
    r[1].sweep = true;
    r[1].sweepText = '16, big';
    const { errors, swept } = collectParameters(r);
    expect(swept).toBeNull();
    expect(errors).toEqual([
      {
        index: 1,
        field: 'value',
        message: 'batch has a value that is not an integer: big'
      }
    ]);
  });
});

describe('progress of a sweep', () => {
  const sweep: ISweepInfo = {
    total: 6,
    parallelism: 2,
    succeeded: 3,
    failed: 1,
    running: 2,
    pending: 0,
    cancelled: 0,
    indexes: []
  };

  it('counts the ended indexes and names the failed ones', () => {
    expect(sweepProgress(sweep)).toBe('sweep 4/6 done, 1 failed');
    expect(sweepProgress({ ...sweep, succeeded: 6, failed: 0 })).toBe(
      'sweep 6/6 done'
    );
    expect(
      sweepProgress({ ...sweep, succeeded: 0, failed: 0, cancelled: 6 })
    ).toBe('sweep 6/6 done, 6 cancelled');
  });

  it('shows in the job list row', () => {
    const row = createRow();
    renderRow(
      job({ phase: 'Running', sweep }),
      row,
      Date.parse('2026-01-01T10:10:00Z')
    );
    expect(row.querySelector('.jp-k8s-JobRow-sweep')!.textContent).toBe(
      'sweep 4/6 done, 1 failed'
    );
    expect(row.classList.contains('jp-mod-sweep')).toBe(true);
    expect(row.getAttribute('aria-label')).toContain('sweep 4/6 done');
    // The same pooled row for a plain job: no sweep left over.
    renderRow(job(), row, Date.parse('2026-01-01T10:10:00Z'));
    expect(row.querySelector('.jp-k8s-JobRow-sweep')!.textContent).toBe('');
    expect(row.classList.contains('jp-mod-sweep')).toBe(false);
  });
});

function resultRow(
  index: number,
  parameters: ISweepResultRow['parameters'],
  records: ISweepResultRow['records'],
  phase: ISweepResultRow['phase'] = 'Succeeded'
): ISweepResultRow {
  return {
    index,
    parameters,
    phase,
    reason: phase === 'Failed' ? 'NotebookFailed' : null,
    message: phase === 'Failed' ? 'ValueError: no' : null,
    output_path: `train.abc-${index}.ipynb`,
    records
  };
}

const TABLE: ISweepResults = {
  id: 'nb-train-abc',
  phase: 'Failed',
  parameters: ['a', 'name'],
  records: ['score'],
  rows: [
    resultRow(0, { a: 1, name: 'run-9' }, { score: 9 }),
    resultRow(1, { a: 2, name: 'run-10' }, { score: 10 }),
    resultRow(2, { a: 3, name: 'run-2' }, {}, 'Failed'),
    resultRow(3, { a: 4, name: 'run-1' }, { score: 0.5 })
  ]
};

describe('sorting the results', () => {
  it('numbers sort as numbers, text with its numbers in order', () => {
    expect(compareValues(9, 10)).toBeLessThan(0);
    expect(compareValues('run-9', 'run-10')).toBeLessThan(0);
    expect(compareValues(10, 'a')).toBeLessThan(0);
    const byScore = sortRows(TABLE.rows, {
      key: 'record:score',
      descending: false
    });
    expect(byScore.map(r => r.index)).toEqual([3, 0, 1, 2]);
    const byName = sortRows(TABLE.rows, {
      key: 'param:name',
      descending: false
    });
    expect(byName.map(r => r.parameters.name)).toEqual([
      'run-1',
      'run-2',
      'run-9',
      'run-10'
    ]);
  });

  it('descending flips the order; a row without a value stays last', () => {
    const down = sortRows(TABLE.rows, {
      key: 'record:score',
      descending: true
    });
    expect(down.map(r => r.index)).toEqual([1, 0, 3, 2]);
    // Ties keep the index order.
    const tied = sortRows(
      [resultRow(1, { a: 1 }, { s: 1 }), resultRow(0, { a: 1 }, { s: 1 })],
      { key: 'param:a', descending: true }
    );
    expect(tied.map(r => r.index)).toEqual([0, 1]);
  });

  it('a click sorts ascending, a second click descending', () => {
    const first = nextOrder(null, 'record:score');
    expect(first).toEqual({ key: 'record:score', descending: false });
    expect(nextOrder(first, 'record:score')).toEqual({
      key: 'record:score',
      descending: true
    });
    expect(nextOrder(first, 'param:a')).toEqual({
      key: 'param:a',
      descending: false
    });
  });

  it('columns: index, parameters, records, status, output', () => {
    expect(resultColumns(TABLE).map(c => c.key)).toEqual([
      'index',
      'param:a',
      'param:name',
      'record:score',
      'status',
      'output'
    ]);
  });
});

describe('SweepTable', () => {
  const indexes: ISweepIndex[] = TABLE.rows.map(r => ({
    index: r.index,
    parameters: r.parameters,
    phase: r.phase,
    output_path: r.output_path,
    output_state: r.index === 3 ? 'pending' : 'ready'
  }));

  function table() {
    const openPath = jest.fn();
    const view = new SweepTable({ openPath });
    document.body.appendChild(view.node);
    view.setData(TABLE, indexes);
    return { view, openPath };
  }

  afterEach(() => {
    document.body.replaceChildren();
  });

  function column(view: SweepTable, key: string): string[] {
    return [
      ...view.node.querySelectorAll<HTMLElement>(`tbody td[data-key="${key}"]`)
    ].map(td => td.textContent ?? '');
  }

  it('shows one row per index with parameters, records and status', () => {
    const { view } = table();
    expect(view.node.querySelectorAll('tbody tr')).toHaveLength(4);
    expect(column(view, 'record:score')).toEqual(['9', '10', '', '0.5']);
    expect(column(view, 'status')).toEqual([
      'Succeeded',
      'Succeeded',
      'Failed · NotebookFailed',
      'Succeeded'
    ]);
    const failed = view.node.querySelector<HTMLElement>(
      'tbody tr[data-index="2"] td[data-key="status"]'
    )!;
    expect(failed.title).toBe('ValueError: no');
  });

  it('sorts by a clicked header, numbers as numbers, and says so', () => {
    const { view } = table();
    const header = view.node.querySelector<HTMLButtonElement>(
      'button[data-key="record:score"]'
    )!;
    header.click();
    expect(column(view, 'record:score')).toEqual(['0.5', '9', '10', '']);
    expect(header.closest('th')!.getAttribute('aria-sort')).toBe('ascending');
    header.click();
    expect(column(view, 'record:score')).toEqual(['10', '9', '0.5', '']);
    expect(header.closest('th')!.getAttribute('aria-sort')).toBe('descending');
    // A refresh keeps the order (and the header, with its focus).
    view.setData({ ...TABLE }, indexes);
    expect(column(view, 'record:score')).toEqual(['10', '9', '0.5', '']);
    expect(view.node.contains(header)).toBe(true);
  });

  it('links each collected notebook; one not back yet is not a link', () => {
    const { view, openPath } = table();
    const links = view.node.querySelectorAll<HTMLAnchorElement>(
      '.jp-k8s-SweepTable-open'
    );
    expect(links).toHaveLength(3);
    links[1].click();
    expect(openPath).toHaveBeenCalledWith('train.abc-1.ipynb');
    expect(
      view.node.querySelector('tbody tr[data-index="3"] td[data-key="output"]')!
        .textContent
    ).toBe('not there yet');
  });

  it('a new recorded name adds its column', () => {
    const { view } = table();
    view.setData(
      {
        ...TABLE,
        records: ['score', 'loss'],
        rows: TABLE.rows.map(r => ({
          ...r,
          records: { ...r.records, loss: 1 }
        }))
      },
      indexes
    );
    expect(column(view, 'record:loss')).toEqual(['1', '1', '1', '1']);
  });
});

describe('SweepOptions (the dialog’s sweep part)', () => {
  function state(): ISubmitFormState {
    return {
      mode: 'submit',
      notebook: 'train.ipynb',
      notebookEditable: false,
      profile: 'small',
      image: '',
      envText: '',
      rows: rowsFromSpecs(parseParametersCell('lr = 0.1\nbatch = 32\n')),
      hasParametersCell: true,
      error: null,
      rowErrors: [],
      envErrors: []
    };
  }

  function runsText(options: SweepOptions): string {
    return options.node.querySelector('.jp-k8s-SubmitForm-runs')!.textContent!;
  }

  it('shows once a row is swept, and counts the runs as values are typed', () => {
    const s = state();
    const options = new SweepOptions({
      state: s,
      trans: english,
      idPrefix: 't'
    });
    expect(options.node.hidden).toBe(true);
    s.rows[0].sweep = true;
    s.rows[0].sweepText = '0.1';
    options.update();
    expect(options.node.hidden).toBe(false);
    expect(runsText(options)).toBe(
      'Give a swept parameter two or more values.'
    );
    s.rows[0].sweepText = '0.1, 0.01';
    s.rows[1].sweep = true;
    s.rows[1].sweepText = '16, 32, 64';
    options.update();
    expect(runsText(options)).toBe('6 runs: 2 × 3');
    s.sweepMode = 'zip';
    options.update();
    expect(runsText(options)).toBe(
      'Zip needs lists of one length (lr: 2, batch: 3).'
    );
  });

  it('proposes and bounds the runs at once by the profile', () => {
    const s = state();
    s.rows[0].sweep = true;
    s.rows[0].sweepText = '1, 2';
    const options = new SweepOptions({
      state: s,
      trans: english,
      idPrefix: 't'
    });
    const input = options.node.querySelector<HTMLInputElement>(
      'input[data-field="parallelism"]'
    )!;
    // Two runs: two at once, though the default limit is 4.
    expect(input.value).toBe('2');
    expect(input.max).toBe('4');
    options.setProfile({
      name: 'big',
      display_name: 'Big',
      default: false,
      max_parallelism: 1
    });
    expect(s.maxParallelism).toBe(1);
    expect(input.value).toBe('1');
    expect(input.max).toBe('1');
    expect(
      options.node.querySelector('.jp-k8s-SubmitForm-hint')!.textContent
    ).toBe('At most 1 at once with profile Big.');
  });
});
