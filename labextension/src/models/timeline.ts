/**
 * A job's timeline: its milestones (submitted, running, finished) merged with the
 * Kubernetes events of the Job and its pods (scheduling, pulls, starts, failures), oldest
 * first. Pure functions, unit-tested with jest; the milestones' texts go through the
 * translation bundle given last (English by default).
 */

import { english, Trans } from '../i18n';
import { IJobEvent, IJobInfo } from '../tokens';
import { phaseLabel, parseTime } from './status';

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

/**
 * Job events that tell how jupyter-k8s makes a job, not what happens to it: the Job is
 * created suspended and resumed once its notebook's ConfigMap exists (so nothing is left
 * half-made), which says nothing to the user.
 */
const HIDDEN_JOB_EVENTS = new Set(['Suspended', 'Resumed']);

const FINISHED_TONE: Record<string, ITimelineEntry['tone']> = {
  Succeeded: 'success',
  Failed: 'error',
  Cancelled: 'cancelled'
};

/**
 * The job's timeline, oldest first. The server answers the events in the order the API
 * server stored them, which is the true order: the kubelet and the Job controller stamp
 * whole seconds while the scheduler stamps microseconds, so their times alone would put a
 * pod's `Started` before its `Scheduled`. The milestones are placed by the second: the
 * submission before the events of its second, the start and the end after them.
 */
export function buildTimeline(
  job: IJobInfo,
  events: readonly IJobEvent[],
  trans: Trans = english
): ITimelineEntry[] {
  const keyed: { entry: ITimelineEntry; second: number; rank: number }[] = [];
  const add = (entry: ITimelineEntry, rank: number) => {
    const t = parseTime(entry.time);
    keyed.push({
      entry,
      second: t === null ? Infinity : Math.floor(t / 1000),
      rank
    });
  };
  if (job.created) {
    add(
      milestone(
        job.created,
        'info',
        trans.__('Submitted'),
        job.profile
          ? trans.__('%1 with profile %2', job.notebook, job.profile)
          : job.notebook
      ),
      0
    );
  }
  for (const event of events) {
    if (event.object === 'Job' && HIDDEN_JOB_EVENTS.has(event.reason)) {
      continue;
    }
    add(
      {
        time: event.time,
        tone: event.type === 'Warning' ? 'warning' : 'info',
        title: event.reason,
        detail: event.message,
        source: eventSource(event),
        count: event.count || 1
      },
      1
    );
  }
  if (job.started) {
    add(
      milestone(
        job.started,
        'info',
        phaseLabel('Running', trans),
        trans.__('the notebook started')
      ),
      2
    );
  }
  if (job.finished && FINISHED_TONE[job.phase]) {
    const detail = [job.reason, job.message].filter(Boolean).join(': ');
    add(
      milestone(
        job.finished,
        FINISHED_TONE[job.phase],
        phaseLabel(job.phase, trans),
        detail
      ),
      3
    );
    // The end is the last line: the Job controller's own Completed (or a pod's Killing) can
    // be stamped a second after the job's finish time.
    const end = keyed[keyed.length - 1];
    const latest = Math.max(
      ...keyed.map(k => (Number.isFinite(k.second) ? k.second : -Infinity))
    );
    if (Number.isFinite(latest) && latest > end.second) {
      end.second = latest;
    }
  }
  // A stable sort: events keep the server's order within their second.
  return keyed
    .map((k, index) => ({ ...k, index }))
    .sort((a, b) => a.second - b.second || a.rank - b.rank || a.index - b.index)
    .map(k => k.entry);
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

/** The time of an entry as the timeline shows it (local time, seconds). */
export function timelineTime(time: string | null): string {
  const t = parseTime(time);
  return t === null
    ? '—'
    : new Date(t).toLocaleTimeString(undefined, { hour12: false });
}
