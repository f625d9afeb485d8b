import { createRow, renderRow } from '../src/widgets/jobRow';
import { VirtualList } from '../src/widgets/VirtualList';
import { IJobInfo } from '../src/tokens';
import { job } from './helpers';

function makeList(onActivate = jest.fn()) {
  const list = new VirtualList<IJobInfo>({
    label: 'Notebook jobs',
    rowHeight: 46,
    overscan: 5,
    idPrefix: 'jp-k8s-job',
    keyOf: j => j.id,
    createRow,
    renderRow: (j, row) =>
      renderRow(j, row, Date.parse('2026-01-01T10:10:00Z')),
    onActivate,
    fallbackHeight: 460
  });
  document.body.appendChild(list.node);
  return { list, onActivate };
}

const jobs = Array.from({ length: 1000 }, (_, i) =>
  job({
    id: `j${i}`,
    notebook: `nb-${i}.ipynb`,
    phase: 'Succeeded',
    duration_seconds: i
  })
);

describe('VirtualList', () => {
  afterEach(() => {
    document.body.replaceChildren();
  });

  it('renders only the rows in view for 1,000 items', () => {
    const { list } = makeList();
    list.setItems(jobs);
    // 460 px / 46 px = 10 rows in view, plus 5 below (none above at the top).
    expect(list.renderedCount).toBe(15);
    expect(list.node.querySelectorAll('[role="option"]')).toHaveLength(15);
    const spacer = list.node.firstElementChild as HTMLElement;
    expect(spacer.style.height).toBe(`${1000 * 46}px`);
  });

  it('moves its window when scrolled, reusing row nodes', () => {
    const { list } = makeList();
    list.setItems(jobs);
    const first = list.node.querySelector('[role="option"]');
    list.node.scrollTop = 46 * 500;
    list.update();
    const rows = [
      ...list.node.querySelectorAll<HTMLElement>('[role="option"]')
    ];
    expect(rows).toHaveLength(20);
    expect(rows[0].dataset.index).toBe('495');
    expect(rows[0].getAttribute('aria-posinset')).toBe('496');
    expect(rows[0].getAttribute('aria-setsize')).toBe('1000');
    expect(rows[0].style.transform).toBe(`translateY(${495 * 46}px)`);
    expect(rows[0]).toBe(first);
    expect(rows[0].textContent).toContain('nb-495.ipynb');
  });

  it('is a keyboard-operable listbox', () => {
    const { list, onActivate } = makeList();
    list.setItems(jobs);
    expect(list.node.getAttribute('role')).toBe('listbox');
    expect(list.node.getAttribute('aria-label')).toBe('Notebook jobs');
    expect(list.node.tabIndex).toBe(0);
    list.node.dispatchEvent(new FocusEvent('focus'));
    expect(list.activeKey).toBe('j0');
    const key = (k: string) =>
      list.node.dispatchEvent(
        new KeyboardEvent('keydown', { key: k, bubbles: true })
      );
    key('ArrowDown');
    key('ArrowDown');
    expect(list.activeKey).toBe('j2');
    expect(list.node.getAttribute('aria-activedescendant')).toBe(
      'jp-k8s-job-j2'
    );
    expect(
      document.getElementById('jp-k8s-job-j2')?.getAttribute('aria-selected')
    ).toBe('true');
    key('End');
    expect(list.activeKey).toBe('j999');
    // The active row was scrolled into view, so it is in the DOM.
    expect(document.getElementById('jp-k8s-job-j999')).not.toBeNull();
    key('PageUp');
    expect(list.activeKey).toBe('j990');
    key('Home');
    expect(list.activeKey).toBe('j0');
    key('Enter');
    expect(onActivate).toHaveBeenCalledWith(jobs[0]);
  });

  it('opens a row on click and keeps the active item across updates', () => {
    const { list, onActivate } = makeList();
    list.setItems(jobs.slice(0, 5));
    (
      list.node.querySelector(
        '#jp-k8s-job-j3 .jp-k8s-JobRow-notebook'
      ) as HTMLElement
    ).click();
    expect(onActivate).toHaveBeenCalledWith(jobs[3]);
    expect(list.activeKey).toBe('j3');
    list.setItems(jobs.slice(2, 6));
    expect(list.activeKey).toBe('j3');
    list.setItems(jobs.slice(5, 6));
    expect(list.activeKey).toBeNull();
  });

  it('shows its empty text', () => {
    const { list } = makeList();
    list.setEmptyText('No jobs yet.');
    list.setItems([]);
    const empty = list.node.querySelector<HTMLElement>(
      '.jp-k8s-VirtualList-empty'
    )!;
    expect(empty.textContent).toBe('No jobs yet.');
    expect(empty.style.display).toBe('');
    list.setItems(jobs.slice(0, 1));
    expect(empty.style.display).toBe('none');
  });
});

describe('job rows', () => {
  it('show chip, notebook, profile, time and the pending reason', () => {
    const row = createRow();
    renderRow(
      job({
        phase: 'Pending',
        reason: 'Unschedulable',
        message: '0/1 nodes are available: 1 Insufficient nvidia.com/gpu.',
        profile: 'gpu',
        created: '2026-01-01T10:00:00Z'
      }),
      row,
      Date.parse('2026-01-01T10:02:00Z')
    );
    const chip = row.querySelector('.jp-k8s-Chip')!;
    expect(chip.textContent).toBe('Pending · Unschedulable');
    expect(chip.className).toBe('jp-k8s-Chip jp-mod-pending');
    expect(row.querySelector('.jp-k8s-JobRow-notebook')!.textContent).toBe(
      'report.ipynb'
    );
    expect(row.querySelector('.jp-k8s-JobRow-profile')!.textContent).toBe(
      'gpu'
    );
    expect(row.querySelector('.jp-k8s-JobRow-time')!.textContent).toBe(
      '2 min ago'
    );
    expect(row.querySelector('.jp-k8s-JobRow-message')!.textContent).toContain(
      'Insufficient nvidia.com/gpu'
    );
    expect(row.getAttribute('aria-label')).toContain('Pending: Unschedulable');
  });

  it('show the cell of a running job and no stale message', () => {
    const row = createRow();
    renderRow(job({ phase: 'Failed', message: 'boom' }), row, 0);
    renderRow(
      job({
        phase: 'Running',
        current_cell: 2,
        total_cells: 5,
        duration_seconds: 12
      }),
      row,
      0
    );
    expect(row.querySelector('.jp-k8s-Chip')!.textContent).toBe(
      'Running · cell 2/5'
    );
    expect(row.querySelector('.jp-k8s-JobRow-time')!.textContent).toBe(
      'for 12 s'
    );
    expect(row.querySelector('.jp-k8s-JobRow-message')!.textContent).toBe('');
  });
});
