import {
  isLive,
  liveStatus,
  mergeLive,
  readCell,
  readLive
} from '../src/models/live';
import { ILiveCell, ILiveNotebook } from '../src/tokens';

function code(
  id: string,
  source: string,
  state: string,
  outputs: Record<string, unknown>[] = [],
  count: number | null = null
): ILiveCell {
  return {
    id,
    cell_type: 'code',
    source,
    metadata: { jupyter_k8s_live: { state } },
    execution_count: count,
    outputs
  };
}

function notebook(
  cells: ILiveCell[],
  header: Record<string, unknown> = {}
): ILiveNotebook {
  return {
    cells,
    metadata: { jupyter_k8s_live: { phase: 'Running', ...header } },
    nbformat: 4,
    nbformat_minor: 5
  };
}

const out = (text: string) => ({
  output_type: 'stream',
  name: 'stdout',
  text
});

describe('reading a live notebook', () => {
  it('reads cells: type, joined source, state, count, outputs', () => {
    const cell = readCell(
      {
        ...code('a', '', 'done', [out('1\n')], 1),
        source: ['import time\n', 'time.sleep(2)']
      },
      0
    );
    expect(cell).toMatchObject({
      key: 'a',
      type: 'code',
      source: 'import time\ntime.sleep(2)',
      state: 'done',
      executionCount: 1,
      outputs: [out('1\n')]
    });
  });

  it('keys cells without an id by position; unknown states read as pending', () => {
    const cell = readCell(
      { cell_type: 'code', source: 'x', metadata: {}, outputs: [] },
      4
    );
    expect(cell.key).toBe('#4');
    expect(cell.state).toBe('pending');
    const odd = readCell(
      { ...code('b', 'x', 'exploded'), execution_count: undefined },
      0
    );
    expect(odd.state).toBe('pending');
    expect(odd.executionCount).toBeNull();
  });

  it('gives markdown and raw cells no state and no outputs', () => {
    const md = readCell(
      {
        cell_type: 'markdown',
        source: '# Title',
        metadata: {},
        outputs: [out('x')]
      },
      0
    );
    expect(md.type).toBe('markdown');
    expect(md.state).toBe('none');
    expect(md.outputs).toEqual([]);
  });

  it('reads the header', () => {
    const live = readLive(
      notebook([code('a', 'x', 'running')], { cell: 1, total: 5 })
    );
    expect(live.header.cell).toBe(1);
    expect(live.cells).toHaveLength(1);
    expect(readLive({ ...notebook([]), metadata: {} }).header).toEqual({});
  });
});

describe('merging answers', () => {
  const first = readLive(
    notebook([
      code('a', 'import time', 'done', [out('a\n')], 1),
      code('b', 'time.sleep(2)', 'running'),
      code('c', 'print(3)', 'pending')
    ])
  ).cells;

  it('draws everything the first time', () => {
    const merged = mergeLive([], first);
    expect(merged.changed).toEqual([0, 1, 2]);
    expect(merged.restructured).toBe(true);
  });

  it('draws again only the cells that changed, keeping the others as drawn', () => {
    const next = readLive(
      notebook([
        code('a', 'import time', 'done', [out('a\n')], 1),
        code('b', 'time.sleep(2)', 'done', [out('b\n')], 2),
        code('c', 'print(3)', 'running')
      ])
    ).cells;
    const merged = mergeLive(first, next);
    expect(merged.restructured).toBe(false);
    expect(merged.changed).toEqual([1, 2]);
    expect(merged.cells[0]).toBe(first[0]);
    expect(merged.cells[1].outputs).toEqual([out('b\n')]);
  });

  it('draws nothing for the same answer again', () => {
    const again = readLive(
      notebook([
        code('a', 'import time', 'done', [out('a\n')], 1),
        code('b', 'time.sleep(2)', 'running'),
        code('c', 'print(3)', 'pending')
      ])
    ).cells;
    const merged = mergeLive(first, again);
    expect(merged.changed).toEqual([]);
    merged.cells.forEach((c, i) => expect(c).toBe(first[i]));
  });

  it('rebuilds when the cells are not the same list (the executed notebook arrived)', () => {
    const executed = readLive(
      notebook([
        code('a', 'import time', 'done', [out('a\n')], 1),
        code('injected', '# Parameters', 'done', [], 2),
        code('b', 'time.sleep(2)', 'done', [out('b\n')], 3),
        code('c', 'print(3)', 'done', [out('3\n')], 4)
      ])
    ).cells;
    const merged = mergeLive(first, executed);
    expect(merged.restructured).toBe(true);
    expect(merged.changed).toEqual([0, 1, 2, 3]);
  });
});

describe('the status line', () => {
  it('says the cell and its first line while running', () => {
    expect(
      liveStatus({
        phase: 'Running',
        cell: 3,
        total: 5,
        line: 'for epoch in range(10):'
      })
    ).toBe('Running · cell 3 of 5: for epoch in range(10):');
    expect(liveStatus({ phase: 'Running', cell: 2 })).toBe('Running · cell 2');
  });

  it('says how it ended, and whether this is the executed notebook', () => {
    const done = {
      phase: 'Succeeded' as const,
      cell: 5,
      total: 5,
      finished: true,
      source: 'output'
    };
    expect(liveStatus(done)).toBe(
      'Succeeded · cell 5 of 5: the executed notebook'
    );
    expect(liveStatus({ ...done, source: 'log' })).toBe(
      'Succeeded · cell 5 of 5'
    );
    expect(isLive(done)).toBe(false);
    expect(isLive({ phase: 'Running' })).toBe(true);
  });
});
