/**
 * One row of the job list: status chip (with the reason, or the cell progress), notebook,
 * the schedule it is a run of, profile, age or duration, a sweep's progress (`sweep 4/6
 * done, 1 failed`), and the scheduler's or the failure's message, or the first line of the
 * cell a running job executes. Plain DOM, no JupyterLab imports: unit-tested with
 * jest.
 */

import { english, Trans } from '../i18n';
import { baseName, statusChip, timeSummary } from '../models/status';
import { sweepProgress } from '../models/sweep';
import { IJobInfo } from '../tokens';

/** A row's skeleton, made once per pooled row. */
export function createRow(): HTMLElement {
  const row = document.createElement('div');
  row.className = 'jp-k8s-JobRow';
  // Line 1: notebook, profile, time. Line 2: the status chip (it gets the whole width, so a
  // reason such as "Unschedulable" fits), a sweep's progress, then the scheduler's or the
  // failure's message.
  row.innerHTML =
    '<div class="jp-k8s-JobRow-line">' +
    '<span class="jp-k8s-JobRow-notebook"></span>' +
    '<span class="jp-k8s-JobRow-schedule"></span>' +
    '<span class="jp-k8s-JobRow-profile"></span>' +
    '<span class="jp-k8s-JobRow-time"></span>' +
    '</div>' +
    '<div class="jp-k8s-JobRow-line jp-k8s-JobRow-meta">' +
    '<span class="jp-k8s-Chip"></span>' +
    '<span class="jp-k8s-JobRow-sweep"></span>' +
    '<span class="jp-k8s-JobRow-message"></span>' +
    '</div>';
  return row;
}

/** Fill a row with a job (text only: cheap enough for every poll). */
export function renderRow(
  job: IJobInfo,
  row: HTMLElement,
  now: number,
  trans: Trans = english
): void {
  const chip = statusChip(job, trans);
  const [nbNode, scheduleNode, profileNode, timeNode] = row.firstElementChild!
    .children as unknown as [
    HTMLElement,
    HTMLElement,
    HTMLElement,
    HTMLElement
  ];
  const [chipNode, sweepNode, messageNode] = row.lastElementChild!
    .children as unknown as [HTMLElement, HTMLElement, HTMLElement];
  chipNode.className = `jp-k8s-Chip jp-mod-${chip.tone}`;
  chipNode.textContent = chip.text;
  nbNode.textContent = baseName(job.notebook);
  scheduleNode.textContent = job.schedule ?? '';
  scheduleNode.title = job.schedule
    ? trans.__('A run of schedule %1', job.schedule)
    : '';
  profileNode.textContent = job.profile ?? '';
  const time = timeSummary(job, now, trans);
  timeNode.textContent = time;
  // A running job's cell: its first line, as text (it comes from the pod), cut by CSS.
  const line =
    job.phase === 'Running' && !job.sweep ? (job.current_cell_line ?? '') : '';
  const message =
    job.phase === 'Pending' || job.phase === 'Failed'
      ? (job.message ?? '')
      : line;
  messageNode.textContent = message;
  messageNode.classList.toggle('jp-mod-code', !!line);
  const sweep = job.sweep ? sweepProgress(job.sweep, trans) : '';
  sweepNode.textContent = sweep;
  row.classList.toggle('jp-mod-sweep', !!job.sweep);
  const extra = [
    sweep,
    line,
    job.schedule ? trans.__('A run of schedule %1', job.schedule) : ''
  ].filter(Boolean);
  row.title = [`${job.notebook} (${job.id})`, chip.title, ...extra].join('\n');
  row.setAttribute(
    'aria-label',
    [
      baseName(job.notebook),
      chip.title,
      sweep,
      line,
      job.schedule ? trans.__('schedule %1', job.schedule) : '',
      job.profile ? trans.__('profile %1', job.profile) : '',
      time
    ]
      .filter(Boolean)
      .join(', ')
  );
}
