/**
 * The events of a job's view: a timeline of the job's milestones and the Kubernetes events
 * of the Job and its pods (`GET /jupyter-k8s/jobs/{id}/events`), asked for again while the
 * job is unfinished and the view visible.
 */

import { TranslationBundle } from '@jupyterlab/translation';

import { el } from '../dom';
import { isNotFound, messageOf } from '../errors';
import { isUnfinished } from '../models/status';
import {
  buildTimeline,
  ITimelineEntry,
  timelineTime
} from '../models/timeline';
import { IJobEvent, IJobInfo } from '../tokens';
import { VisibleRefresh } from './VisibleRefresh';

/** How often the events of an unfinished job are asked for (ms). */
const EVENTS_INTERVAL_MS = 5000;

/**
 * The timeline of one job. Plain DOM (`nodes` go into the job view's column); `host` is
 * the view, whose attachment and visibility say whether to ask the server.
 *
 * It asks again every `EVENTS_INTERVAL_MS` while the job is unfinished and the view
 * visible (a pending pod's FailedScheduling repeats without the job changing; see
 * VisibleRefresh.ts).
 */
export class JobTimeline {
  constructor(options: JobTimeline.IOptions) {
    const trans = options.trans;
    this._trans = trans;
    this._jobId = options.jobId;
    this._fetch = options.fetch;
    const title = el('h3', '', trans.__('Events'));
    title.id = `${options.idPrefix}-events-title`;
    this._list = el('ol', 'jp-k8s-Timeline');
    this._list.setAttribute('aria-labelledby', title.id);
    this._status = el(
      'div',
      'jp-k8s-Timeline-status jp-k8s-muted',
      trans.__('Loading…')
    );
    this.nodes = [title, this._list, this._status];
    this._refresh = new VisibleRefresh({
      host: options.host,
      name: 'jupyter-k8s:job-events',
      intervalMs: EVENTS_INTERVAL_MS,
      load: () => this._load(),
      live: () => !!this._job && isUnfinished(this._job) && !this._gone
    });
  }

  /** The elements, in order. */
  readonly nodes: readonly HTMLElement[];

  /** The timeline shown. */
  get entries(): readonly ITimelineEntry[] {
    return this._entries;
  }

  /** The job as the view knows it (null: not known yet), and whether it is gone. */
  setJob(job: IJobInfo | null, gone: boolean): void {
    this._job = job;
    this._gone = gone;
  }

  /**
   * Ask the server for the job's events and show the timeline. Called when the view
   * opens or is shown again, whenever the job changes, and by the `Poll` (see the class
   * comment). Answers that did not change cost a 304 (ETag) and no re-render.
   */
  refresh(): Promise<void> {
    return this._refresh.refresh();
  }

  /** Ask no more until the next `refresh()` (the view is detached). */
  stop(): void {
    this._refresh.stop();
  }

  dispose(): void {
    this._refresh.dispose();
  }

  private async _load(): Promise<void> {
    try {
      this._events = await this._fetch(this._jobId);
      this._error = null;
    } catch (error) {
      this._error = isNotFound(error)
        ? null
        : this._trans.__('The events could not be read: %1', messageOf(error));
    }
    this._render();
  }

  private _render(): void {
    const trans = this._trans;
    const entries = this._job
      ? buildTimeline(this._job, this._events, trans)
      : [];
    const key = JSON.stringify(entries);
    if (key !== this._entriesKey) {
      // Only when something changed: no flicker, and a reader's scroll stays put.
      this._entriesKey = key;
      this._entries = entries;
      this._list.replaceChildren(
        ...entries.map(entry => timelineItem(entry, trans))
      );
    }
    const status =
      this._error ?? (entries.length === 0 ? trans.__('No events yet.') : '');
    this._status.textContent = status;
    this._status.style.display = status ? '' : 'none';
  }

  private _trans: TranslationBundle;
  private _jobId: string;
  private _fetch: (id: string) => Promise<IJobEvent[]>;
  private _refresh: VisibleRefresh;
  private _job: IJobInfo | null = null;
  private _gone = false;
  private _events: IJobEvent[] = [];
  private _error: string | null = null;
  private _entries: ITimelineEntry[] = [];
  private _entriesKey = '';
  private _list: HTMLOListElement;
  private _status: HTMLDivElement;
}

export namespace JobTimeline {
  /** What the timeline needs to know of the view it is in (a lumino `Widget`). */
  export type IHost = VisibleRefresh.IHost;

  export interface IOptions {
    jobId: string;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
    host: IHost;
    /** Where the events come from. */
    fetch: (id: string) => Promise<IJobEvent[]>;
    trans: TranslationBundle;
  }
}

function timelineItem(
  entry: ITimelineEntry,
  trans: TranslationBundle
): HTMLLIElement {
  const li = el('li', `jp-k8s-Timeline-entry jp-mod-${entry.tone}`);
  const time = el('time', 'jp-k8s-Timeline-time', timelineTime(entry.time));
  if (entry.time) {
    time.dateTime = entry.time;
    time.title = entry.time;
  }
  const title = el('span', 'jp-k8s-Timeline-title', entry.title);
  li.append(time, title);
  if (entry.count > 1) {
    const count = el('span', 'jp-k8s-Timeline-count', `×${entry.count}`);
    count.title = trans._n('seen %1 time', 'seen %1 times', entry.count);
    li.appendChild(count);
  }
  if (entry.detail) {
    li.appendChild(el('span', 'jp-k8s-Timeline-detail', entry.detail));
  }
  if (entry.source) {
    li.appendChild(el('span', 'jp-k8s-Timeline-source', entry.source));
  }
  return li;
}
