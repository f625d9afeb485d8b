/**
 * How a schedule reads in the UI: its cron in words where that is easy, the time to its next
 * run, its last run and how that went. Pure functions, no JupyterLab imports: unit-tested
 * with jest. The texts go through the translation bundle given last (English by default).
 */

import { english, Trans } from '../i18n';
import { IJobInfo, IScheduleInfo, JobPhase } from '../tokens';
import { baseName, formatAge, parseTime, phaseLabel } from './status';

/** Cron expressions the dialogs offer as examples, with what they mean. */
export function cronExamples(trans: Trans = english): [string, string][] {
  return [
    ['0 6 * * *', trans.__('every day at 06:00')],
    ['*/15 * * * *', trans.__('every 15 minutes')],
    ['0 9 * * 1-5', trans.__('Monday to Friday at 09:00')],
    ['@hourly', trans.__('every hour')]
  ];
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** A weekday field value (`1`, `mon`, `7` is Sunday too) as 0..6, or null. */
function weekday(text: string): number | null {
  const lower = text.toLowerCase();
  const named = DAYS.indexOf(lower);
  if (named >= 0) {
    return named;
  }
  if (/^[0-7]$/.test(lower)) {
    return Number(lower) % 7;
  }
  return null;
}

function dayName(day: number, trans: Trans): string {
  return [
    trans.__('Sunday'),
    trans.__('Monday'),
    trans.__('Tuesday'),
    trans.__('Wednesday'),
    trans.__('Thursday'),
    trans.__('Friday'),
    trans.__('Saturday')
  ][day];
}

/** A number field (`0`..`max`) as a number, or null. */
function fieldNumber(text: string, max: number): number | null {
  if (!/^\d{1,2}$/.test(text)) {
    return null;
  }
  const n = Number(text);
  return n <= max ? n : null;
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A cron expression in words, for the common shapes: every minute, every N minutes, hourly
 * at a minute, daily, on weekdays or one weekday, monthly on a day, and the macros. '' for
 * anything else (the raw cron is always shown too, so nothing is lost).
 */
export function describeCron(cron: string, trans: Trans = english): string {
  const text = cron.trim().replace(/\s+/g, ' ');
  const macros: Record<string, string> = {
    '@yearly': trans.__('every year on 1 January at 00:00'),
    '@annually': trans.__('every year on 1 January at 00:00'),
    '@monthly': trans.__('on the 1st of every month at 00:00'),
    '@weekly': trans.__('every Sunday at 00:00'),
    '@daily': trans.__('every day at 00:00'),
    '@midnight': trans.__('every day at 00:00'),
    '@hourly': trans.__('every hour')
  };
  if (text.startsWith('@')) {
    return macros[text.toLowerCase()] ?? '';
  }
  const fields = text.split(' ');
  if (fields.length !== 5) {
    return '';
  }
  const [min, hour, dom, month, dow] = fields.map(f => (f === '?' ? '*' : f));
  if (month !== '*') {
    return '';
  }
  if (hour === '*' && dom === '*' && dow === '*') {
    if (min === '*') {
      return trans.__('every minute');
    }
    const step = /^\*\/(\d+)$/.exec(min);
    if (step) {
      const n = Number(step[1]);
      return n === 1
        ? trans.__('every minute')
        : trans.__('every %1 minutes', n);
    }
    const m = fieldNumber(min, 59);
    return m === null ? '' : trans.__('every hour at :%1', pad(m));
  }
  const m = fieldNumber(min, 59);
  const h = fieldNumber(hour, 23);
  if (m === null || h === null) {
    return '';
  }
  const at = `${pad(h)}:${pad(m)}`;
  if (dom === '*' && dow === '*') {
    return trans.__('every day at %1', at);
  }
  if (dom === '*') {
    const range = /^(\w+)-(\w+)$/.exec(dow);
    if (range) {
      const from = weekday(range[1]);
      const to = weekday(range[2]);
      if (from === null || to === null) {
        return '';
      }
      return trans.__(
        '%1 to %2 at %3',
        dayName(from, trans),
        dayName(to, trans),
        at
      );
    }
    const day = weekday(dow);
    return day === null
      ? ''
      : trans.__('every %1 at %2', dayName(day, trans), at);
  }
  if (dow === '*') {
    const d = fieldNumber(dom, 31);
    return d === null || d === 0
      ? ''
      : trans.__('on day %1 of every month at %2', d, at);
  }
  return '';
}

/** The cron, its time zone and its words: `0 6 * * * (Europe/Paris): every day at 06:00`. */
export function cronSummary(
  cron: string,
  timeZone: string | null | undefined,
  trans: Trans = english
): string {
  const zone = timeZone || 'UTC';
  const words = describeCron(cron, trans);
  return words
    ? trans.__('%1 (%2): %3', cron, zone, words)
    : trans.__('%1 (%2)', cron, zone);
}

/** How long until a time: `in 12 s`, `in 5 min`, `in 3 h`, `in 2 d`; `due now` when past. */
export function formatUntil(
  iso: string | null | undefined,
  now: number,
  trans: Trans = english
): string {
  const then = parseTime(iso);
  if (then === null) {
    return '';
  }
  const seconds = (then - now) / 1000;
  if (seconds < 1) {
    return trans.__('due now');
  }
  if (seconds < 60) {
    return trans.__('in %1 s', Math.ceil(seconds));
  }
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) {
    return trans.__('in %1 min', minutes);
  }
  const hours = Math.round(minutes / 60);
  if (hours < 48) {
    return trans.__('in %1 h', hours);
  }
  return trans.__('in %1 d', Math.round(hours / 24));
}

/** The IANA time zone of this browser (`Europe/Paris`), or '' when it does not say. */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone ?? '';
  } catch {
    return '';
  }
}

/** What a schedule's row shows. */
export interface IScheduleRow {
  /** The notebook's file name. */
  notebook: string;
  /** The cron, its zone and its words. */
  when: string;
  /** `next in 5 min`, `paused`, or '' when the server does not know. */
  next: string;
  /** `last run 3 min ago: Succeeded`, `running now`, `no run yet`. */
  last: string;
  /** The last run's phase, when known (the row's colour). */
  lastPhase: JobPhase | null;
  paused: boolean;
  /** Everything for a tooltip and screen readers. */
  title: string;
}

/**
 * A schedule's row. `jobOf` finds a run among the jobs the page knows (the job list): the
 * newest run's phase is the last run's outcome. A run Kubernetes no longer keeps is not
 * there; then the CronJob's times say whether the last run succeeded.
 */
export function scheduleRow(
  s: IScheduleInfo,
  jobOf: (id: string) => IJobInfo | undefined,
  now: number,
  trans: Trans = english
): IScheduleRow {
  const when = cronSummary(s.cron, s.time_zone, trans);
  const next = s.suspended
    ? trans.__('paused')
    : s.next_run
      ? trans.__('next %1', formatUntil(s.next_run, now, trans))
      : '';
  let last = trans.__('no run yet');
  let lastPhase: JobPhase | null = null;
  const newest = s.runs.length ? jobOf(s.runs[0]) : undefined;
  if (s.active.length) {
    last = trans._n('%1 run going on', '%1 runs going on', s.active.length);
    lastPhase = 'Running';
  } else if (newest) {
    lastPhase = newest.phase;
    const age = formatAge(newest.finished ?? newest.created, now, trans);
    last = trans.__('last run %1: %2', age, phaseLabel(newest.phase, trans));
  } else if (s.last_schedule || s.runs.length) {
    const lastTime = parseTime(s.last_schedule);
    const okTime = parseTime(s.last_successful);
    const age = formatAge(s.last_schedule, now, trans);
    if (lastTime !== null && okTime !== null && okTime >= lastTime) {
      lastPhase = 'Succeeded';
      last = trans.__('last run %1: %2', age, phaseLabel('Succeeded', trans));
    } else {
      last = age ? trans.__('last run %1', age) : trans.__('ran before');
    }
  }
  const title = [
    `${s.notebook} (${s.id})`,
    when,
    s.suspended ? trans.__('paused') : next,
    last
  ]
    .filter(Boolean)
    .join('\n');
  return {
    notebook: baseName(s.notebook),
    when,
    next,
    last,
    lastPhase,
    paused: s.suspended,
    title
  };
}
