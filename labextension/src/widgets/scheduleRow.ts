/**
 * One row of the schedule list: notebook (and "Paused"), the cron with its time zone and
 * words, the next run, the last run and how it went (a link to that run), and the actions
 * pause/resume, run now, edit, delete. Plain DOM, no JupyterLab imports: unit-tested with
 * jest. The row is updated in place at each poll, so focus stays on its buttons.
 */

import { button, el } from '../dom';
import { english, Trans } from '../i18n';
import { scheduleRow } from '../models/schedule';
import { IJobInfo, IScheduleInfo, JobPhase } from '../tokens';

/** What a row's buttons do. */
export interface IScheduleRowActions {
  /** Pause (`suspend` true) or resume. */
  setPaused(schedule: IScheduleInfo, paused: boolean): void;
  runNow(schedule: IScheduleInfo): void;
  edit(schedule: IScheduleInfo): void;
  remove(schedule: IScheduleInfo): void;
  /** Open one of its runs (a job). */
  openJob(id: string): void;
}

const TONES: Record<JobPhase, string> = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'success',
  Failed: 'error',
  Cancelled: 'cancelled'
};

/**
 * A row's skeleton. `actions` get the schedule the row shows when clicked (the row keeps
 * it in `current`), so the buttons are made once.
 */
export function createScheduleRow(
  actions: IScheduleRowActions,
  trans: Trans = english
): HTMLLIElement {
  const row = el('li', 'jp-k8s-ScheduleRow') as HTMLLIElement & {
    current?: IScheduleInfo;
  };
  const head = el('div', 'jp-k8s-ScheduleRow-line');
  head.append(
    el('span', 'jp-k8s-ScheduleRow-notebook'),
    el('span', 'jp-k8s-Chip jp-mod-cancelled jp-k8s-ScheduleRow-paused')
  );
  const when = el('div', 'jp-k8s-ScheduleRow-when');
  const status = el('div', 'jp-k8s-ScheduleRow-line jp-k8s-ScheduleRow-status');
  const last = button('jp-k8s-ScheduleRow-last', '');
  last.addEventListener('click', () => {
    const run = last.dataset.job;
    if (run) {
      actions.openJob(run);
    }
  });
  status.append(el('span', 'jp-k8s-ScheduleRow-next'), last);
  const bar = el('div', 'jp-k8s-ScheduleRow-actions');
  bar.setAttribute('role', 'toolbar');
  const specs: [string, string, (s: IScheduleInfo) => void][] = [
    ['pause', '', s => actions.setPaused(s, !s.suspended)],
    ['run', trans.__('Run now'), s => actions.runNow(s)],
    ['edit', trans.__('Edit…'), s => actions.edit(s)],
    ['delete', trans.__('Delete'), s => actions.remove(s)]
  ];
  for (const [name, text, act] of specs) {
    const b = button(`jp-k8s-ScheduleRow-button jp-mod-${name}`, text);
    b.addEventListener('click', () => {
      if (row.current) {
        act(row.current);
      }
    });
    bar.appendChild(b);
  }
  row.append(head, when, status, bar);
  return row;
}

/** Fill a row with a schedule (text only: cheap enough for every poll). */
export function renderScheduleRow(
  schedule: IScheduleInfo,
  row: HTMLElement,
  jobOf: (id: string) => IJobInfo | undefined,
  now: number,
  trans: Trans = english
): void {
  (row as HTMLElement & { current?: IScheduleInfo }).current = schedule;
  const view = scheduleRow(schedule, jobOf, now, trans);
  row.dataset.id = schedule.id;
  row.title = view.title;
  row.classList.toggle('jp-mod-paused', view.paused);
  row.setAttribute(
    'aria-label',
    [view.notebook, view.when, view.next, view.last].filter(Boolean).join(', ')
  );
  const q = <T extends HTMLElement>(selector: string) =>
    row.querySelector(selector) as T;
  q('.jp-k8s-ScheduleRow-notebook').textContent = view.notebook;
  const paused = q('.jp-k8s-ScheduleRow-paused');
  paused.textContent = trans.__('Paused');
  paused.hidden = !view.paused;
  q('.jp-k8s-ScheduleRow-when').textContent = view.when;
  q('.jp-k8s-ScheduleRow-next').textContent = view.next;
  const last = q<HTMLButtonElement>('.jp-k8s-ScheduleRow-last');
  last.textContent = view.last;
  const run = schedule.active[0] ?? schedule.runs[0] ?? '';
  last.dataset.job = run;
  last.disabled = !run;
  last.title = run ? trans.__('Open run %1', run) : '';
  last.className =
    'jp-k8s-ScheduleRow-last' +
    (view.lastPhase ? ` jp-mod-${TONES[view.lastPhase] ?? 'pending'}` : '');
  const pause = q<HTMLButtonElement>('.jp-mod-pause');
  pause.textContent = view.paused ? trans.__('Resume') : trans.__('Pause');
  pause.title = view.paused
    ? trans.__('Run on the schedule again')
    : trans.__('No run starts until resumed; a run going on finishes');
  q<HTMLButtonElement>('.jp-mod-run').title = trans.__(
    'Run the notebook now, paused or not'
  );
  q<HTMLButtonElement>('.jp-mod-edit').title = trans.__(
    'Change the cron or the time zone'
  );
  q<HTMLButtonElement>('.jp-mod-delete').title = trans.__(
    'Delete the schedule (executed notebooks stay)'
  );
  for (const b of row.querySelectorAll<HTMLButtonElement>(
    '.jp-k8s-ScheduleRow-button'
  )) {
    b.setAttribute(
      'aria-label',
      `${b.textContent ?? ''} ${view.notebook} (${schedule.id})`
    );
  }
}
