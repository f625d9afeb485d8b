/**
 * A job's timeline: its milestones (submitted, running, finished) merged with the
 * Kubernetes events of the Job and its pods (scheduling, pulls, starts, failures), oldest
 * first. Pure functions, unit-tested with jest.
 */

import { IJobEvent, IJobInfo } from '../tokens';
import { parseTime } from './status';

/** One line of the timeline. */
export interface ITimelineEntry {
  /** ISO-8601 time, or null when Kubernetes did not say. */
  time: string | null;
  /** The colour family (a CSS modifier `jp-mod-<tone>`). */
  tone: 'info' | 'warning' | 'success' | 'error' | 'cancelled';
  /** Short: a Kubernetes reason (`FailedScheduling`) or a milestone (`Submitted`). */
  title: string;
  /** For a person: the event's message or the milestone's details. */
  detail: string;
  /** What it is about: `Pod/nb-x-abc12` or `Job/nb-x`; '' for a milestone. */
  source: string;
  /** How many times Kubernetes saw it (events repeat, e.g. FailedScheduling). */
  count: number;
}

const FINISHED_TONE: Record<string, ITimelineEntry['tone']> = {
  Succeeded: 'success',
  Failed: 'error',
  Cancelled: 'cancelled'
};

/** The job's timeline, oldest first (entries without a time keep their place at the end). */
export function buildTimeline(
  job: IJobInfo,
  events: readonly IJobEvent[]
): ITimelineEntry[] {
  const entries: ITimelineEntry[] = [];
  if (job.created) {
    const profile = job.profile ? ` with profile ${job.profile}` : '';
    entries.push(
      milestone(job.created, 'info', 'Submitted', `${job.notebook}${profile}`)
    );
  }
  for (const event of events) {
    entries.push({
      time: event.time,
      tone: event.type === 'Warning' ? 'warning' : 'info',
      title: event.reason,
      detail: event.message,
      source: eventSource(event),
      count: event.count || 1
    });
  }
  if (job.started) {
    entries.push(
      milestone(job.started, 'info', 'Running', 'the notebook started')
    );
  }
  if (job.finished && FINISHED_TONE[job.phase]) {
    const detail = [job.reason, job.message].filter(Boolean).join(': ');
    entries.push(
      milestone(job.finished, FINISHED_TONE[job.phase], job.phase, detail)
    );
  }
  return sortByTime(entries);
}

/** `Pod/nb-x-abc12 (runner)`: the object, and the container when the event names one. */
function eventSource(event: IJobEvent): string {
  if (!event.object || !event.name) {
    return '';
  }
  const container = event.container ? ` (${event.container})` : '';
  return `${event.object}/${event.name}${container}`;
}

function milestone(
  time: string,
  tone: ITimelineEntry['tone'],
  title: string,
  detail: string
): ITimelineEntry {
  return { time, tone, title, detail, source: '', count: 1 };
}

/** Stable sort by time; entries without one go last in their given order. */
function sortByTime(entries: ITimelineEntry[]): ITimelineEntry[] {
  const at = (e: ITimelineEntry) => parseTime(e.time) ?? Infinity;
  return entries
    .map((entry, index) => ({ entry, index, t: at(entry) }))
    .sort((a, b) => a.t - b.t || a.index - b.index)
    .map(x => x.entry);
}

/** The time of an entry as the timeline shows it (local time, seconds). */
export function timelineTime(time: string | null): string {
  const t = parseTime(time);
  return t === null
    ? '—'
    : new Date(t).toLocaleTimeString(undefined, { hour12: false });
}
