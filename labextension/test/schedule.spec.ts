import { english } from '../src/i18n';
import {
  cronExamples,
  cronSummary,
  describeCron,
  formatUntil,
  scheduleRow
} from '../src/models/schedule';
import { IJobInfo, IScheduleInfo } from '../src/tokens';
import {
  createScheduleRow,
  IScheduleRowActions,
  renderScheduleRow
} from '../src/widgets/scheduleRow';
import { ScheduleOptions } from '../src/widgets/ScheduleFields';
import { createRow, renderRow } from '../src/widgets/jobRow';
import { job } from './helpers';

const NOW = Date.parse('2026-01-01T10:00:00Z');

function schedule(overrides: Partial<IScheduleInfo> = {}): IScheduleInfo {
  return {
    id: 'sc-report-abc12',
    notebook: 'reports/report.ipynb',
    owner: 'me',
    parameters: {},
    cron: '0 6 * * *',
    time_zone: 'Europe/Paris',
    suspended: false,
    next_run: '2026-01-01T10:05:00Z',
    last_schedule: null,
    last_successful: null,
    active: [],
    runs: [],
    ...overrides
  };
}

describe('cron in words', () => {
  it.each([
    ['* * * * *', 'every minute'],
    ['*/15 * * * *', 'every 15 minutes'],
    ['*/1 * * * *', 'every minute'],
    ['30 * * * *', 'every hour at :30'],
    ['0 6 * * *', 'every day at 06:00'],
    ['5 18 ? * *', 'every day at 18:05'],
    ['0 9 * * 1-5', 'Monday to Friday at 09:00'],
    ['0 9 * * mon-fri', 'Monday to Friday at 09:00'],
    ['0 9 * * 0', 'every Sunday at 09:00'],
    ['0 9 * * 7', 'every Sunday at 09:00'],
    ['0 0 1 * *', 'on day 1 of every month at 00:00'],
    ['@hourly', 'every hour'],
    ['@daily', 'every day at 00:00'],
    ['  0   6 * *   * ', 'every day at 06:00']
  ])('%s: %s', (cron, words) => {
    expect(describeCron(cron)).toBe(words);
  });

  it.each([
    '0 6 * 1 *', // a month: not said in words
    '0 6,18 * * *',
    '0 6 1 * 1', // day of month and weekday together
    '61 * * * *',
    '0 24 * * *',
    '0 6 * *', // four fields
    '@every 5m',
    'nonsense'
  ])('says nothing it cannot say right: %s', cron => {
    expect(describeCron(cron)).toBe('');
  });

  it('shows the raw cron and the zone always, the words when known', () => {
    expect(cronSummary('0 6 * * *', 'Europe/Paris')).toBe(
      '0 6 * * * (Europe/Paris): every day at 06:00'
    );
    expect(cronSummary('0 6,18 * * *', null)).toBe('0 6,18 * * * (UTC)');
  });

  it('offers examples whose words agree with describeCron', () => {
    for (const [cron, words] of cronExamples()) {
      expect(describeCron(cron)).toBe(words);
    }
  });
});

describe('time to the next run', () => {
  it.each([
    ['2026-01-01T10:00:12Z', 'in 12 s'],
    ['2026-01-01T10:00:00.400Z', 'due now'],
    ['2026-01-01T09:59:00Z', 'due now'],
    ['2026-01-01T10:05:00Z', 'in 5 min'],
    ['2026-01-01T10:59:40Z', 'in 1 h'],
    ['2026-01-01T13:00:00Z', 'in 3 h'],
    ['2026-01-04T10:00:00Z', 'in 3 d']
  ])('%s: %s', (iso, text) => {
    expect(formatUntil(iso, NOW)).toBe(text);
  });

  it('is empty without a time', () => {
    expect(formatUntil(null, NOW)).toBe('');
    expect(formatUntil('not a time', NOW)).toBe('');
  });
});

describe('a schedule row', () => {
  const none = () => undefined;

  it('says when it runs next, and that it never ran', () => {
    const row = scheduleRow(schedule(), none, NOW, english);
    expect(row.notebook).toBe('report.ipynb');
    expect(row.when).toBe('0 6 * * * (Europe/Paris): every day at 06:00');
    expect(row.next).toBe('next in 5 min');
    expect(row.last).toBe('no run yet');
    expect(row.lastPhase).toBeNull();
    expect(row.paused).toBe(false);
  });

  it('says paused instead of a next run', () => {
    const row = scheduleRow(
      schedule({ suspended: true, next_run: null }),
      none,
      NOW
    );
    expect(row.next).toBe('paused');
    expect(row.paused).toBe(true);
    expect(row.title).toContain('paused');
  });

  it('takes the last outcome from the newest run in the job list', () => {
    const runs: Record<string, IJobInfo> = {
      'sc-report-abc12-2': job({
        id: 'sc-report-abc12-2',
        phase: 'Failed',
        finished: '2026-01-01T09:57:00Z'
      })
    };
    const row = scheduleRow(
      schedule({ runs: ['sc-report-abc12-2', 'sc-report-abc12-1'] }),
      id => runs[id],
      NOW
    );
    expect(row.last).toBe('last run 3 min ago: Failed');
    expect(row.lastPhase).toBe('Failed');
  });

  it('says a run goes on', () => {
    const row = scheduleRow(
      schedule({ active: ['sc-report-abc12-3'], runs: ['sc-report-abc12-3'] }),
      none,
      NOW
    );
    expect(row.last).toBe('1 run going on');
    expect(row.lastPhase).toBe('Running');
  });

  it("falls back to the CronJob's times when the run is not known", () => {
    const ok = scheduleRow(
      schedule({
        last_schedule: '2026-01-01T09:00:00Z',
        last_successful: '2026-01-01T09:00:40Z'
      }),
      none,
      NOW
    );
    expect(ok.last).toBe('last run 1 h ago: Succeeded');
    const unknown = scheduleRow(
      schedule({ last_schedule: '2026-01-01T09:00:00Z' }),
      none,
      NOW
    );
    expect(unknown.last).toBe('last run 1 h ago');
    expect(unknown.lastPhase).toBeNull();
  });
});

describe('the schedule row DOM', () => {
  function actions(): IScheduleRowActions & { calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      setPaused: (s, paused) => calls.push(`pause ${s.id} ${paused}`),
      runNow: s => calls.push(`run ${s.id}`),
      edit: s => calls.push(`edit ${s.id}`),
      remove: s => calls.push(`delete ${s.id}`),
      openJob: id => calls.push(`open ${id}`)
    };
  }

  it('fills the row and its buttons act on the schedule shown now', () => {
    const a = actions();
    const row = createScheduleRow(a);
    renderScheduleRow(schedule(), row, () => undefined, NOW);
    expect(row.dataset.id).toBe('sc-report-abc12');
    const text = (sel: string) => row.querySelector(sel)!.textContent;
    expect(text('.jp-k8s-ScheduleRow-notebook')).toBe('report.ipynb');
    expect(text('.jp-k8s-ScheduleRow-next')).toBe('next in 5 min');
    expect(text('.jp-mod-pause')).toBe('Pause');
    expect(
      (row.querySelector('.jp-k8s-ScheduleRow-paused') as HTMLElement).hidden
    ).toBe(true);
    (row.querySelector('.jp-mod-pause') as HTMLButtonElement).click();
    // The same row, now paused, with a run: the buttons follow.
    renderScheduleRow(
      schedule({ suspended: true, next_run: null, runs: ['r1'] }),
      row,
      () =>
        job({ id: 'r1', phase: 'Succeeded', finished: '2026-01-01T09:59:00Z' }),
      NOW
    );
    expect(text('.jp-mod-pause')).toBe('Resume');
    expect(row.classList.contains('jp-mod-paused')).toBe(true);
    expect(text('.jp-k8s-ScheduleRow-last')).toBe(
      'last run 1 min ago: Succeeded'
    );
    (row.querySelector('.jp-mod-pause') as HTMLButtonElement).click();
    (row.querySelector('.jp-mod-run') as HTMLButtonElement).click();
    (row.querySelector('.jp-mod-edit') as HTMLButtonElement).click();
    (row.querySelector('.jp-mod-delete') as HTMLButtonElement).click();
    (
      row.querySelector('.jp-k8s-ScheduleRow-last') as HTMLButtonElement
    ).click();
    expect(a.calls).toEqual([
      'pause sc-report-abc12 true',
      'pause sc-report-abc12 false',
      'run sc-report-abc12',
      'edit sc-report-abc12',
      'delete sc-report-abc12',
      'open r1'
    ]);
  });
});

describe('the submit dialog’s schedule box', () => {
  it('is off, with the reason, while a parameter is swept', () => {
    const state = {
      schedule: true,
      rows: [{ sweep: false }, { sweep: false }]
    };
    const box = new ScheduleOptions({
      state,
      trans: english,
      defaultTimeZone: 'Europe/Paris',
      idPrefix: 't'
    });
    const toggle = box.node.querySelector(
      'input[type=checkbox]'
    ) as HTMLInputElement;
    expect(toggle.disabled).toBe(false);
    expect(toggle.checked).toBe(true);
    expect(box.fields.node.hidden).toBe(false);
    expect(box.fields.zoneInput.value).toBe('Europe/Paris');

    state.rows[1].sweep = true;
    box.update();
    expect(toggle.disabled).toBe(true);
    expect(toggle.checked).toBe(false);
    expect(state.schedule).toBe(false);
    expect(toggle.title).toMatch(/sweep cannot be scheduled/i);
    expect(box.fields.node.hidden).toBe(true);
  });

  it('says the cron in words as it is typed, and fills an example', () => {
    const state: { schedule?: boolean; rows: { sweep?: boolean }[] } = {
      rows: []
    };
    const box = new ScheduleOptions({
      state,
      trans: english,
      defaultTimeZone: '',
      idPrefix: 't2'
    });
    const cron = box.fields.cronInput;
    cron.value = '*/15 * * * *';
    cron.dispatchEvent(new Event('input'));
    const words = box.node.querySelector('.jp-k8s-CronFields-words')!;
    expect(words.textContent).toBe('Runs every 15 minutes (UTC).');
    (
      box.node.querySelector('.jp-k8s-CronFields-example') as HTMLButtonElement
    ).click();
    expect(cron.value).toBe('0 6 * * *');
    expect(words.textContent).toBe('Runs every day at 06:00 (UTC).');
  });
});

describe('job rows of schedule runs and running cells', () => {
  it("shows a run's schedule and a running cell's first line", () => {
    const row = createRow();
    renderRow(
      job({
        phase: 'Running',
        schedule: 'sc-report-abc12',
        current_cell: 3,
        total_cells: 5,
        current_cell_line: 'for epoch in range(10):',
        duration_seconds: 12
      }),
      row,
      NOW
    );
    const text = (sel: string) => row.querySelector(sel)!.textContent;
    expect(text('.jp-k8s-Chip')).toBe('Running · cell 3/5');
    expect(text('.jp-k8s-JobRow-schedule')).toBe('sc-report-abc12');
    const message = row.querySelector('.jp-k8s-JobRow-message')!;
    expect(message.textContent).toBe('for epoch in range(10):');
    expect(message.classList.contains('jp-mod-code')).toBe(true);
    expect(row.getAttribute('aria-label')).toContain('for epoch in range(10):');

    // Finished: the line goes, the message is the failure's.
    renderRow(
      job({
        phase: 'Failed',
        message: 'boom',
        current_cell: 3,
        current_cell_line: 'x'
      }),
      row,
      NOW
    );
    expect(message.textContent).toBe('boom');
    expect(message.classList.contains('jp-mod-code')).toBe(false);
    expect(text('.jp-k8s-JobRow-schedule')).toBe('');
  });
});
