/**
 * How a Kueue queue reads in the UI (docs/queues.md): the compact state of a queued job's
 * row ("Queued 2/3 in gpu", "Preempted", "Inadmissible"), the rows of the job view's Queue
 * block, a starting kernel's queue line, and the queue and priority choices of the submit
 * form. Pure functions, no JupyterLab imports: unit-tested with jest.
 *
 * Everything here was read back from the cluster (queue names, Kueue's messages): it only
 * ever becomes text (`textContent`, `title`), and names that go into a narrow chip are
 * clipped here so a 253-character name cannot push the rest of a row away.
 */

import { english, Trans } from '../i18n';
import { IProfile, IQueueInfo, IQueueUsage, QueueState } from '../tokens';

/** Queue states in which the work waits (a job in them is Pending). */
const WAITING: ReadonlySet<QueueState> = new Set([
  'queued',
  'preempted',
  'inadmissible'
]);

/** The JobInfo / KernelStatus reasons of work that waits in its queue. */
const WAITING_REASONS: ReadonlySet<string> = new Set([
  'Queued',
  'Preempted',
  'Inadmissible'
]);

/** The most characters of a queue name a chip shows. */
export const CHIP_NAME_MAX = 24;

/** Whether the work waits in its queue (queued, preempted and requeued, inadmissible). */
export function isQueueWaiting(
  queue: IQueueInfo | null | undefined
): queue is IQueueInfo {
  return !!queue && WAITING.has(queue.state);
}

/** Whether a reason is one of a job or kernel that waits in a Kueue queue. */
export function isQueueReason(reason: string | null | undefined): boolean {
  return WAITING_REASONS.has(reason ?? '');
}

/** `text` cut to `max` characters, the cut marked with an ellipsis. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** A 1-based count from the server, or null where it is missing or not a count. */
function count(value: unknown, min: number): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= min
    ? value
    : null;
}

/** A queue state for a person (`Queued`, ...; an unknown one as the server spells it). */
export function queueStateLabel(
  state: QueueState,
  trans: Trans = english
): string {
  switch (state) {
    case 'queued':
      return trans.__('Queued');
    case 'admitted':
      return trans.__('Admitted');
    case 'preempted':
      return trans.__('Preempted');
    case 'inadmissible':
      return trans.__('Inadmissible');
    case 'finished':
      return trans.__('Finished');
    default:
      return String(state);
  }
}

/**
 * Its place in the LocalQueue: `2 of 3`, `2` (the total unknown), `3 pending` (its own
 * place unknown), or '' when Kueue's visibility API said nothing.
 */
export function queuePlace(queue: IQueueInfo, trans: Trans = english): string {
  const position = count(queue.position, 1);
  const pending = count(queue.pending, 0);
  if (position !== null && pending !== null && pending >= position) {
    return trans.__('%1 of %2', position, pending);
  }
  if (position !== null) {
    return String(position);
  }
  if (pending) {
    return trans.__('%1 pending', pending);
  }
  return '';
}

/**
 * The compact state of a waiting job for its status chip: `Queued 2/3 in gpu`, `Queued in
 * gpu` (no position known), `Preempted`, `Inadmissible`; '' once admitted or finished (the
 * job's own status tells the rest).
 */
export function queueChipText(
  queue: IQueueInfo | null | undefined,
  trans: Trans = english
): string {
  if (!isQueueWaiting(queue)) {
    return '';
  }
  if (queue.state !== 'queued') {
    return queueStateLabel(queue.state, trans);
  }
  const name = clip(queue.queue, CHIP_NAME_MAX);
  const position = count(queue.position, 1);
  const pending = count(queue.pending, 0);
  if (position !== null && pending !== null && pending >= position) {
    return trans.__('Queued %1/%2 in %3', position, pending, name);
  }
  if (position !== null) {
    return trans.__('Queued #%1 in %2', position, name);
  }
  return trans.__('Queued in %1', name);
}

/** One resource of the ClusterQueue: `nvidia.com/gpu 1 of 1`. */
export function usageLine(usage: IQueueUsage, trans: Trans = english): string {
  return trans.__('%1 %2 of %3', usage.resource, usage.used, usage.quota);
}

/** A row of the job view's Queue block: a stable key, a label, and one value or lines. */
export interface IQueueRow {
  key:
    | 'state'
    | 'queue'
    | 'cluster_queue'
    | 'position'
    | 'priority_class'
    | 'usage'
    | 'message';
  label: string;
  value: string | string[];
}

/**
 * The rows of the job view's Queue block: state, LocalQueue, ClusterQueue, position (while
 * it waits), priority class, the ClusterQueue's usage (a line per resource) and Kueue's
 * message. Missing values read as an em dash; no usage row where the ClusterQueue could not
 * be read.
 */
export function queueRows(
  queue: IQueueInfo,
  trans: Trans = english
): IQueueRow[] {
  const rows: IQueueRow[] = [
    {
      key: 'state',
      label: trans.__('State'),
      value: queueStateLabel(queue.state, trans)
    },
    { key: 'queue', label: trans.__('Queue'), value: queue.queue || '—' },
    {
      key: 'cluster_queue',
      label: trans.__('ClusterQueue'),
      value: queue.cluster_queue || '—'
    }
  ];
  if (isQueueWaiting(queue)) {
    rows.push({
      key: 'position',
      label: trans.__('Position'),
      value: queuePlace(queue, trans) || trans.__('not known yet')
    });
  }
  rows.push({
    key: 'priority_class',
    label: trans.__('Priority class'),
    value: queue.priority_class || '—'
  });
  const usage = Array.isArray(queue.usage) ? queue.usage : [];
  if (usage.length) {
    rows.push({
      key: 'usage',
      label: trans.__('Usage'),
      value: usage.map(u => usageLine(u, trans))
    });
  }
  rows.push({
    key: 'message',
    label: trans.__('Message'),
    value: queue.message || '—'
  });
  return rows;
}

/** `Queued in gpu: position 1 of 1` in a message (a kernel's, say), up to its `;`. */
const QUEUED_CLAUSE = /Queued in [^\s:;()]+(?::\s*position \d+ of \d+)?/;

/**
 * What a starting kernel's line says while its pod waits in a Kueue queue, or null when it
 * does not. Kueue's message leads: it starts with what matters ("Queued in gpu: position
 * 1 of 1; ClusterQueue team-a uses nvidia.com/gpu 1 of 1"), and JupyterLab cuts a
 * notification at 140 characters. Without a message, the queue object's place.
 */
export function queueStartupText(
  status: {
    reason?: string | null;
    message?: string | null;
    queue?: IQueueInfo | null;
  },
  trans: Trans = english
): string | null {
  const queue = status.queue;
  const waiting = isQueueWaiting(queue);
  if (status.reason === 'Admitted') {
    // Admitted, Kueue's gate not lifted yet (a moment): its words, not the scheduler's.
    return status.message || trans.__('Admitted by Kueue');
  }
  if (!waiting && !isQueueReason(status.reason)) {
    return null;
  }
  const message = (waiting ? queue.message : '') || status.message || '';
  if (message) {
    // Kueue's words already say the state ("Queued in ...", "Preempted by ...",
    // "Inadmissible: ..."); otherwise say it first.
    const state = waiting
      ? queueStateLabel(queue.state, trans)
      : (status.reason ?? '');
    return message.startsWith(state) || QUEUED_CLAUSE.test(message)
      ? message
      : trans.__('%1: %2', state, message);
  }
  if (waiting) {
    const place = queuePlace(queue, trans);
    if (queue.state === 'queued') {
      return place
        ? trans.__('Queued in %1: position %2', queue.queue, place)
        : trans.__('Queued in %1', queue.queue);
    }
    return trans.__(
      '%1 in queue %2',
      queueStateLabel(queue.state, trans),
      queue.queue
    );
  }
  return trans.__('Waiting in a Kueue queue…');
}

/** The provisioner's words for a start that timed out in the queue: `(...)` holds where. */
const STILL_QUEUED = /still waiting in its Kueue queue \((.*)\)/;

/**
 * Where a start that timed out in the queue still was, from the failure's message (the
 * provisioner quotes the pod's queue status): "Queued in gpu: position 1 of 1", Kueue's
 * "Inadmissible: ..." as it is, or null when the message says nothing of a queue.
 */
export function queuedClause(
  message: string | null | undefined
): string | null {
  const text = message ?? '';
  const inner = STILL_QUEUED.exec(text)?.[1] ?? null;
  const found = QUEUED_CLAUSE.exec(inner ?? text);
  return found ? found[0] : inner;
}

/** One option of a submit-form select: the value sent ('' sends nothing) and its label. */
export interface IChoice {
  value: string;
  label: string;
}

/** Names, without repeats or empty ones, in order. */
function unique(names: readonly (string | null | undefined)[]): string[] {
  const seen: string[] = [];
  for (const name of names) {
    if (typeof name === 'string' && name && !seen.includes(name)) {
      seen.push(name);
    }
  }
  return seen;
}

/**
 * The choices of a select from a profile's default and its allowed list, or null when
 * there is nothing to choose (one value or none). Without a default, '' (`none`) comes
 * first: nothing is sent and the server applies none.
 */
function choices(
  fallback: string | null | undefined,
  allowed: readonly string[] | undefined,
  none: string,
  trans: Trans
): IChoice[] | null {
  const names = unique([fallback, ...(Array.isArray(allowed) ? allowed : [])]);
  const list: IChoice[] = fallback ? [] : [{ value: '', label: none }];
  for (const name of names) {
    list.push({
      value: name,
      label: name === fallback ? trans.__('%1 (default)', name) : name
    });
  }
  return list.length > 1 ? list : null;
}

/** The LocalQueues a profile lets a submit pick, or null when it offers no choice. */
export function queueChoices(
  profile: IProfile | null | undefined,
  trans: Trans = english
): IChoice[] | null {
  if (!profile) {
    return null;
  }
  return choices(
    profile.queue,
    profile.queues,
    trans.__('Not queued (run at once)'),
    trans
  );
}

/** The WorkloadPriorityClasses a profile lets a submit pick, or null when none to choose. */
export function priorityChoices(
  profile: IProfile | null | undefined,
  trans: Trans = english
): IChoice[] | null {
  if (!profile) {
    return null;
  }
  return choices(
    profile.priority_class,
    profile.priority_classes,
    trans.__('None (the queue’s default)'),
    trans
  );
}

/**
 * The `queue` and `priority_class` of a submit request from the form's picks: only a pick
 * that differs from the profile's default is sent (as with parameters: the server applies
 * the profile's own), and no priority class without a queue to use it in.
 */
export function queueRequestFields(
  profile: IProfile | null | undefined,
  queue: string | undefined,
  priorityClass: string | undefined
): { queue?: string; priority_class?: string } {
  const fields: { queue?: string; priority_class?: string } = {};
  if (!profile) {
    return fields;
  }
  if (queue !== undefined && queue !== (profile.queue ?? '')) {
    if (queue) {
      fields.queue = queue;
    }
  }
  const queued = queue !== undefined ? !!queue : !!profile.queue;
  if (
    queued &&
    priorityClass &&
    priorityClass !== (profile.priority_class ?? '')
  ) {
    fields.priority_class = priorityClass;
  }
  return fields;
}
