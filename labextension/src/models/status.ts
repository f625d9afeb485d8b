/**
 * How a job's state reads in the UI: the status chip, durations, ages and progress.
 * Pure functions, no JupyterLab imports: unit-tested with jest. The texts go through the
 * translation bundle given last (English by default, see i18n.ts).
 */

import { english, Trans } from '../i18n';
import { IJobInfo, JobPhase, UNFINISHED_PHASES } from '../tokens';
import { queueChipText } from './queue';

/** The colour family of a status chip (a CSS modifier class `jp-mod-<tone>`). */
export type ChipTone =
  'pending' | 'running' | 'success' | 'error' | 'cancelled';

/** What a status chip shows. */
export interface IStatusChip {
  /**
   * The chip's text, e.g. `Pending · Unschedulable`, `Pending · Queued 2/3 in gpu`,
   * `Running · cell 3/7`, `Succeeded`.
   */
  text: string;
  /** Its colour family. */
  tone: ChipTone;
  /** The full story for a tooltip and screen readers: phase, reason and message. */
  title: string;
}

const TONES: Record<JobPhase, ChipTone> = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'success',
  Failed: 'error',
  Cancelled: 'cancelled'
};

/** Whether a job is still going (Pending or Running). */
export function isUnfinished(job: Pick<IJobInfo, 'phase'>): boolean {
  return UNFINISHED_PHASES.includes(job.phase);
}

/**
 * Whether nothing more will change about a job: it is finished and its executed notebook
 * is collected (or failed to be, or never existed).
 */
export function isSettled(
  job: Pick<IJobInfo, 'phase' | 'output_state'>
): boolean {
  return !isUnfinished(job) && job.output_state !== 'pending';
}

/** A phase for a person (`Pending`, ...; an unknown one as the server spells it). */
export function phaseLabel(phase: JobPhase, trans: Trans = english): string {
  switch (phase) {
    case 'Pending':
      return trans.__('Pending');
    case 'Running':
      return trans.__('Running');
    case 'Succeeded':
      return trans.__('Succeeded');
    case 'Failed':
      return trans.__('Failed');
    case 'Cancelled':
      return trans.__('Cancelled');
    default:
      return phase;
  }
}

/** The progress of a running job, `cell 3/7`; empty when unknown. */
export function cellProgress(job: IJobInfo, trans: Trans = english): string {
  if (!job.current_cell) {
    return '';
  }
  return job.total_cells
    ? trans.__('cell %1/%2', job.current_cell, job.total_cells)
    : trans.__('cell %1', job.current_cell);
}

/** The status chip of a job. */
export function statusChip(job: IJobInfo, trans: Trans = english): IStatusChip {
  let tone = TONES[job.phase] ?? 'pending';
  const phase = phaseLabel(job.phase, trans);
  // A job waiting in its Kueue queue: its place there (`Queued 2/3 in gpu`) says more
  // than the reason; the title keeps Kueue's whole message.
  const queued = job.phase === 'Pending' ? queueChipText(job.queue, trans) : '';
  let detail = '';
  if (job.phase === 'Running') {
    detail = cellProgress(job, trans);
  } else if (queued) {
    detail = queued;
    if (job.queue?.state === 'inadmissible') {
      tone = 'error'; // waiting will not help: Kueue cannot admit it as it is
    }
  } else if (job.reason && job.reason !== job.phase) {
    detail = job.reason;
  }
  const text = detail ? `${phase} · ${detail}` : phase;
  const parts: string[] = [phase];
  if (job.reason && job.reason !== job.phase) {
    parts.push(job.reason);
  }
  let title = parts.join(': ');
  if (job.message) {
    title += ` — ${job.message}`;
  }
  if (job.phase === 'Running' && detail) {
    title += ` (${detail})`;
  }
  return { text, tone, title };
}

/** A duration for people: `0.4 s`, `41 s`, `3 min 5 s`, `2 h 4 min`, `3 d 2 h`. */
export function formatDuration(
  seconds: number | null | undefined,
  trans: Trans = english
): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  const s = Math.max(0, seconds);
  if (s < 10) {
    return trans.__('%1 s', (Math.floor(s * 10) / 10).toFixed(1));
  }
  if (s < 60) {
    return trans.__('%1 s', Math.floor(s));
  }
  const minutes = Math.floor(s / 60);
  if (minutes < 60) {
    const rest = Math.floor(s % 60);
    return rest
      ? trans.__('%1 min %2 s', minutes, rest)
      : trans.__('%1 min', minutes);
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    const rest = minutes % 60;
    return rest
      ? trans.__('%1 h %2 min', hours, rest)
      : trans.__('%1 h', hours);
  }
  const days = Math.floor(hours / 24);
  const rest = hours % 24;
  return rest ? trans.__('%1 d %2 h', days, rest) : trans.__('%1 d', days);
}

/** How long ago a time was: `just now`, `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function formatAge(
  iso: string | null | undefined,
  now: number,
  trans: Trans = english
): string {
  const then = parseTime(iso);
  if (then === null) {
    return '';
  }
  const seconds = Math.max(0, (now - then) / 1000);
  if (seconds < 5) {
    return trans.__('just now');
  }
  if (seconds < 60) {
    return trans.__('%1 s ago', Math.floor(seconds));
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return trans.__('%1 min ago', minutes);
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 24) {
    return trans.__('%1 h ago', hours);
  }
  return trans.__('%1 d ago', Math.floor(hours / 24));
}

/** Milliseconds since the epoch of an ISO time, or null. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/**
 * The time column of a job row: how long a finished job ran, or how long a running one
 * has been running, else its age. Durations are the server's (`duration_seconds`, fresh
 * on every poll), so a browser clock that is off does not matter.
 */
export function timeSummary(
  job: IJobInfo,
  now: number,
  trans: Trans = english
): string {
  if (!isUnfinished(job) && job.duration_seconds !== null) {
    const took = formatDuration(job.duration_seconds, trans);
    if (took) {
      return trans.__('took %1', took);
    }
  }
  if (job.phase === 'Running' && job.duration_seconds) {
    return trans.__('for %1', formatDuration(job.duration_seconds, trans));
  }
  return formatAge(job.created, now, trans);
}

/** A local date-time for the detail view, or an em dash. */
export function formatTime(iso: string | null | undefined): string {
  const t = parseTime(iso);
  return t === null ? '—' : new Date(t).toLocaleString();
}

/** The file name of a path (`a/b/report.ipynb` gives `report.ipynb`). */
export function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}
