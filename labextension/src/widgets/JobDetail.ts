import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { getJobEvents, streamLogs } from '../api';
import { JobsModel } from '../jobsModel';
import { IJobsDiff } from '../models/jobs';
import { LogTail } from '../models/logs';
import { formatJSON } from '../models/parameters';
import {
  buildTimeline,
  ITimelineEntry,
  timelineTime
} from '../models/timeline';
import {
  baseName,
  cellProgress,
  formatDuration,
  formatTime,
  isUnfinished,
  statusChip
} from '../models/status';
import { APIError } from '../request';
import { IJobEvent, IJobInfo } from '../tokens';

/** What the detail's buttons do (the plugin implements them). */
export interface IJobActions {
  openOutput(job: IJobInfo): void;
  rerun(job: IJobInfo, edit: boolean): void;
  cancel(job: IJobInfo): void;
  remove(job: IJobInfo): void;
}

/**
 * One job in the main area: status with the reason, parameters, profile, image, times,
 * output, actions, an events timeline (its milestones and the Kubernetes events of the Job
 * and its pods), and its log following live (the last `tailLines` lines kept).
 */
export class JobDetail extends Widget {
  constructor(options: JobDetail.IOptions) {
    super();
    this.addClass('jp-k8s-JobDetail');
    this.jobId = options.id;
    this.id = `jupyter-k8s-job-detail-${options.id}`;
    this.title.label = options.id;
    this.title.caption = `Kubernetes job ${options.id}`;
    this.title.closable = true;
    this._model = options.model;
    this._actions = options.actions;
    this._tail = new LogTail(options.tailLines ?? 2000);
    this._fetchEvents = options.fetchEvents ?? getJobEvents;

    this.node.tabIndex = -1;
    this._header = div('jp-k8s-JobDetail-header');
    this._buttons = div('jp-k8s-JobDetail-actions');
    this._buttons.setAttribute('role', 'toolbar');
    this._buttons.setAttribute('aria-label', 'Job actions');
    this._reason = div('jp-k8s-JobDetail-reason');
    this._fields = document.createElement('dl');
    this._fields.className = 'jp-k8s-JobDetail-fields';
    this._params = div('jp-k8s-JobDetail-params');

    const logHead = div('jp-k8s-JobDetail-logHead');
    const logTitle = document.createElement('h3');
    logTitle.textContent = 'Log';
    logTitle.id = `${this.id}-log-title`;
    this._logStatus = div('jp-k8s-JobDetail-logStatus');
    this._logStatus.setAttribute('aria-live', 'polite');
    const followLabel = document.createElement('label');
    followLabel.className = 'jp-k8s-JobDetail-follow';
    this._follow = document.createElement('input');
    this._follow.type = 'checkbox';
    this._follow.checked = true;
    followLabel.append(
      this._follow,
      document.createTextNode(' Scroll with the log')
    );
    logHead.append(logTitle, this._logStatus, followLabel);
    this._log = document.createElement('pre');
    this._log.className = 'jp-k8s-JobDetail-log';
    this._log.tabIndex = 0;
    this._log.setAttribute('role', 'log');
    this._log.setAttribute('aria-labelledby', logTitle.id);
    this._logPartial = document.createElement('span');
    this._log.appendChild(this._logPartial);

    const main = div('jp-k8s-JobDetail-main');
    const paramsTitle = document.createElement('h3');
    paramsTitle.textContent = 'Parameters';
    const eventsTitle = document.createElement('h3');
    eventsTitle.textContent = 'Events';
    eventsTitle.id = `${this.id}-events-title`;
    this._timeline = document.createElement('ol');
    this._timeline.className = 'jp-k8s-Timeline';
    this._timeline.setAttribute('aria-labelledby', eventsTitle.id);
    this._eventsStatus = div('jp-k8s-Timeline-status jp-k8s-muted');
    this._eventsStatus.textContent = 'Loading…';
    main.append(
      this._header,
      this._buttons,
      this._reason,
      this._fields,
      paramsTitle,
      this._params,
      eventsTitle,
      this._timeline,
      this._eventsStatus,
      logHead,
      this._log
    );
    this.node.appendChild(main);

    this._model.changed.connect(this._onChanged, this);
    const known = this._model.store.get(this.jobId);
    if (known) {
      this._job = known;
    }
    this._render();
    if (!known) {
      void this._model.refresh(true).then(() => {
        this._job = this._model.store.get(this.jobId) ?? null;
        this._gone = this._job === null;
        this._render();
        this._maybeStartLogs();
      });
    }
  }

  /** The job's id. */
  readonly jobId: string;

  /** The job as last seen. */
  get job(): IJobInfo | null {
    return this._job;
  }

  /** The timeline shown (for tests). */
  get timeline(): readonly ITimelineEntry[] {
    return this._entries;
  }

  /** The log lines kept (for tests). */
  get logTail(): LogTail {
    return this._tail;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopLogs();
    this._clearEventsTimer();
    this._model.setViewVisible(this.id, false);
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.setViewVisible(this.id, true);
    void this.refreshEvents();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._model.setViewVisible(this.id, this.isVisible);
    this._maybeStartLogs();
    void this.refreshEvents();
  }

  protected onBeforeDetach(msg: Message): void {
    this._clearEventsTimer();
    super.onBeforeDetach(msg);
  }

  protected onBeforeHide(msg: Message): void {
    this._model.setViewVisible(this.id, false);
    super.onBeforeHide(msg);
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.node.focus();
  }

  private _onChanged(sender: JobsModel, diff: IJobsDiff): void {
    if (diff.removed.includes(this.jobId)) {
      this._gone = true;
      this._render();
      return;
    }
    const job = [...diff.added, ...diff.changed].find(j => j.id === this.jobId);
    if (job) {
      this._job = job;
      this._gone = false;
      this._render();
      if (this._retryTimer !== null) {
        window.clearTimeout(this._retryTimer);
        this._retryTimer = null;
      }
      this._maybeStartLogs();
      void this.refreshEvents();
    }
  }

  /**
   * Ask the server for the job's events and show the timeline. Called when the detail
   * opens or is shown again, whenever the job changes, and every `EVENTS_INTERVAL_MS` while
   * it is unfinished and visible (a pending pod's FailedScheduling repeats without the job
   * changing). Answers that did
   * not change cost a 304 (ETag) and no re-render.
   */
  async refreshEvents(): Promise<void> {
    if (this._eventsInflight || this.isDisposed || !this.isAttached) {
      return this._eventsInflight ?? undefined;
    }
    this._clearEventsTimer();
    this._eventsInflight = (async () => {
      try {
        this._events = await this._fetchEvents(this.jobId);
        this._eventsError = null;
      } catch (error) {
        const gone = error instanceof APIError && error.response.status === 404;
        this._eventsError = gone
          ? null
          : `The events could not be read: ${error instanceof Error ? error.message : error}`;
      }
      this._renderTimeline();
    })().finally(() => {
      this._eventsInflight = null;
      // Only while someone can see it: a hidden tab asks again when it is shown.
      if (
        !this.isDisposed &&
        this.isVisible &&
        this._job &&
        isUnfinished(this._job) &&
        !this._gone
      ) {
        this._eventsTimer = window.setTimeout(() => {
          this._eventsTimer = null;
          void this.refreshEvents();
        }, EVENTS_INTERVAL_MS);
      }
    });
    return this._eventsInflight;
  }

  private _renderTimeline(): void {
    const entries = this._job ? buildTimeline(this._job, this._events) : [];
    const key = JSON.stringify(entries);
    if (key !== this._entriesKey) {
      // Only when something changed: no flicker, and a reader's scroll stays put.
      this._entriesKey = key;
      this._entries = entries;
      this._timeline.replaceChildren(...entries.map(timelineItem));
    }
    const status =
      this._eventsError ?? (entries.length === 0 ? 'No events yet.' : '');
    this._eventsStatus.textContent = status;
    this._eventsStatus.style.display = status ? '' : 'none';
  }

  private _clearEventsTimer(): void {
    if (this._eventsTimer !== null) {
      window.clearTimeout(this._eventsTimer);
      this._eventsTimer = null;
    }
  }

  private _render(): void {
    const job = this._job;
    this._header.replaceChildren();
    // Without a job (loading, or deleted) only the heading shows.
    this.toggleClass('jp-mod-empty', !job);
    if (!job) {
      this._header.appendChild(
        text(
          'h2',
          this._gone ? `Job ${this.jobId} no longer exists` : 'Loading…'
        )
      );
      this._buttons.replaceChildren();
      return;
    }
    const chip = statusChip(job);
    this.title.label = `${baseName(job.notebook)} · ${job.phase}`;
    const chipNode = text('span', chip.text);
    chipNode.className = `jp-k8s-Chip jp-mod-${chip.tone}`;
    chipNode.title = chip.title;
    const h2 = text('h2', baseName(job.notebook));
    h2.title = job.notebook;
    this._header.append(chipNode, h2);
    if (this._gone) {
      this._header.appendChild(text('span', '(deleted)'));
    }

    this._renderButtons(job);

    // Reason and message, in Kubernetes' words
    this._reason.replaceChildren();
    if (job.reason || job.message) {
      this._reason.className = `jp-k8s-JobDetail-reason jp-mod-${chip.tone}`;
      if (job.reason) {
        this._reason.appendChild(text('strong', job.reason));
      }
      if (job.message) {
        this._reason.appendChild(text('span', job.message));
      }
      this._reason.style.display = '';
    } else {
      this._reason.style.display = 'none';
    }

    // Fields
    const rows: [string, string][] = [
      ['Job', job.id],
      ['Notebook', job.notebook],
      ['Profile', job.profile ?? '—'],
      ['Image', job.image ?? '—'],
      ['Created', formatTime(job.created)],
      ['Started', formatTime(job.started)],
      ['Finished', formatTime(job.finished)],
      ['Duration', formatDuration(job.duration_seconds) || '—'],
      ['Progress', cellProgress(job) || '—'],
      ['Output', outputText(job)]
    ];
    this._fields.replaceChildren();
    for (const [label, value] of rows) {
      this._fields.appendChild(text('dt', label));
      const dd = text('dd', value);
      dd.title = value;
      this._fields.appendChild(dd);
    }

    // Parameters
    this._params.replaceChildren();
    const names = Object.keys(job.parameters ?? {});
    if (names.length === 0) {
      this._params.appendChild(
        text('div', 'None: the notebook’s own values.', 'jp-k8s-muted')
      );
    } else {
      const table = document.createElement('table');
      table.className = 'jp-k8s-JobDetail-paramTable';
      const head = document.createElement('tr');
      head.append(text('th', 'Name'), text('th', 'Value'));
      table.appendChild(head);
      for (const name of names) {
        const tr = document.createElement('tr');
        tr.append(
          text('td', name),
          text('td', formatJSON(job.parameters[name]))
        );
        table.appendChild(tr);
      }
      this._params.appendChild(table);
    }
  }

  private _renderButtons(job: IJobInfo): void {
    const unfinished = isUnfinished(job);
    const specs: [string, string, boolean, () => void][] = [
      [
        'Open output',
        job.output_state === 'ready'
          ? `Open ${job.output_path}`
          : job.output_state === 'pending'
            ? 'The executed notebook is not there yet'
            : 'No executed notebook',
        job.output_state === 'ready' && !!job.output_path,
        () => this._actions.openOutput(job)
      ],
      [
        'Rerun',
        'Run the notebook again with the same parameters',
        !this._gone,
        () => this._actions.rerun(job, false)
      ],
      [
        'Rerun with changes…',
        'Run the notebook again with other parameters',
        !this._gone,
        () => this._actions.rerun(job, true)
      ],
      [
        'Cancel',
        'Stop the job; the notebook is kept as far as it got',
        unfinished && !this._gone,
        () => this._actions.cancel(job)
      ],
      [
        'Delete',
        'Delete the job and its log (the executed notebook stays)',
        !this._gone,
        () => this._actions.remove(job)
      ]
    ];
    // Update the buttons in place so focus stays where it is across polls.
    if (this._buttons.children.length !== specs.length) {
      this._buttons.replaceChildren(
        ...specs.map(([label], i) => {
          const b = document.createElement('button');
          b.type = 'button';
          b.textContent = label;
          b.className =
            'jp-mod-styled jp-k8s-JobDetail-button' +
            (i === 0
              ? ' jp-mod-accept'
              : i === 4
                ? ' jp-mod-warn'
                : ' jp-mod-reject');
          b.addEventListener('click', () => this._handlers[i]?.());
          return b;
        })
      );
    }
    this._handlers = specs.map(s => s[3]);
    specs.forEach(([, title, enabled], i) => {
      const b = this._buttons.children[i] as HTMLButtonElement;
      b.title = title;
      b.disabled = !enabled;
    });
  }

  /** Start following the log once the job's pod has started. */
  private _maybeStartLogs(): void {
    const job = this._job;
    if (
      !job ||
      this._logAbort ||
      this._logDone ||
      !this.isAttached ||
      this._gone
    ) {
      return;
    }
    if (job.phase === 'Pending' && !job.started) {
      this._setLogStatus('Waiting for the pod to start…');
      return;
    }
    if (this._retryTimer !== null) {
      return;
    }
    void this._streamLogs(isUnfinished(job));
  }

  private async _streamLogs(follow: boolean): Promise<void> {
    const abort = new AbortController();
    this._logAbort = abort;
    this._clearLog();
    this._setLogStatus(follow ? 'Following…' : 'Loading…');
    let retry = false;
    try {
      await streamLogs(this.jobId, {
        follow,
        tail: this._tail.limit,
        signal: abort.signal,
        onText: chunk => this._appendLog(chunk)
      });
      if (abort.signal.aborted) {
        return;
      }
      // The server ends a followed stream when the job ends: the log is complete.
      this._logDone = true;
      this._setLogStatus(
        this._tail.received === 0
          ? 'The log is empty.'
          : this._tail.dropped > 0
            ? `The last ${this._tail.lines.length} lines (${this._tail.dropped} earlier ones not shown).`
            : 'End of the log.'
      );
    } catch (error) {
      if (abort.signal.aborted) {
        return;
      }
      const notStarted =
        error instanceof APIError && error.response.status === 404;
      this._setLogStatus(
        notStarted
          ? 'Waiting for the pod to start…'
          : `The log could not be read: ${error instanceof Error ? error.message : error}`
      );
      retry = true;
    } finally {
      if (this._logAbort === abort) {
        this._logAbort = null;
      }
    }
    if (retry && !this.isDisposed) {
      // Try again later, less and less often (2 s, 4 s, ... 30 s); a change of the job
      // (its pod started, say) tries at once.
      const delay = Math.min(30_000, 2000 * 2 ** this._retries++);
      this._retryTimer = window.setTimeout(() => {
        this._retryTimer = null;
        this._maybeStartLogs();
      }, delay);
    } else {
      this._retries = 0;
    }
  }

  private _stopLogs(): void {
    this._logAbort?.abort();
    this._logAbort = null;
    if (this._retryTimer !== null) {
      window.clearTimeout(this._retryTimer);
      this._retryTimer = null;
    }
  }

  private _clearLog(): void {
    this._tail.clear();
    this._log.replaceChildren(this._logPartial);
    this._logPartial.textContent = '';
  }

  private _appendLog(chunk: string): void {
    const atBottom =
      this._log.scrollHeight - this._log.scrollTop - this._log.clientHeight <
      24;
    const { appended, removed } = this._tail.push(chunk);
    for (
      let i = 0;
      i < removed && this._log.firstChild !== this._logPartial;
      i++
    ) {
      this._log.firstChild?.remove();
    }
    if (appended.length) {
      const fragment = document.createDocumentFragment();
      for (const line of appended) {
        fragment.appendChild(document.createTextNode(line + '\n'));
      }
      this._log.insertBefore(fragment, this._logPartial);
    }
    this._logPartial.textContent = this._tail.partial;
    if (this._follow.checked && atBottom) {
      this._log.scrollTop = this._log.scrollHeight;
    }
    if (this._tail.dropped > 0) {
      this._setLogStatus(
        `Following… (the last ${this._tail.limit} lines are shown)`
      );
    }
  }

  private _setLogStatus(text: string): void {
    if (this._logStatus.textContent !== text) {
      this._logStatus.textContent = text;
    }
  }

  private _model: JobsModel;
  private _actions: IJobActions;
  private _fetchEvents: (id: string) => Promise<IJobEvent[]>;
  private _events: IJobEvent[] = [];
  private _eventsError: string | null = null;
  private _entries: ITimelineEntry[] = [];
  private _entriesKey = '';
  private _eventsInflight: Promise<void> | null = null;
  private _eventsTimer: number | null = null;
  private _timeline: HTMLOListElement;
  private _eventsStatus: HTMLDivElement;
  private _job: IJobInfo | null = null;
  private _gone = false;
  private _tail: LogTail;
  private _header: HTMLDivElement;
  private _buttons: HTMLDivElement;
  private _handlers: (() => void)[] = [];
  private _reason: HTMLDivElement;
  private _fields: HTMLDListElement;
  private _params: HTMLDivElement;
  private _logStatus: HTMLDivElement;
  private _follow: HTMLInputElement;
  private _log: HTMLPreElement;
  private _logPartial: HTMLSpanElement;
  private _logAbort: AbortController | null = null;
  private _logDone = false;
  private _retryTimer: number | null = null;
  private _retries = 0;
}

export namespace JobDetail {
  export interface IOptions {
    id: string;
    model: JobsModel;
    actions: IJobActions;
    /** Log lines kept in the page (default 2,000). */
    tailLines?: number;
    /** Where the events come from (default: the REST API; tests pass their own). */
    fetchEvents?: (id: string) => Promise<IJobEvent[]>;
  }
}

/** How often the events of an unfinished job are asked for (ms). */
const EVENTS_INTERVAL_MS = 5000;

function timelineItem(entry: ITimelineEntry): HTMLLIElement {
  const li = document.createElement('li');
  li.className = `jp-k8s-Timeline-entry jp-mod-${entry.tone}`;
  const time = text('time', timelineTime(entry.time), 'jp-k8s-Timeline-time');
  if (entry.time) {
    time.dateTime = entry.time;
    time.title = entry.time;
  }
  const title = text('span', entry.title, 'jp-k8s-Timeline-title');
  li.append(time, title);
  if (entry.count > 1) {
    const count = text('span', `×${entry.count}`, 'jp-k8s-Timeline-count');
    count.title = `seen ${entry.count} times`;
    li.appendChild(count);
  }
  if (entry.detail) {
    li.appendChild(text('span', entry.detail, 'jp-k8s-Timeline-detail'));
  }
  if (entry.source) {
    li.appendChild(text('span', entry.source, 'jp-k8s-Timeline-source'));
  }
  return li;
}

function outputText(job: IJobInfo): string {
  const path = job.output_path ?? '';
  switch (job.output_state) {
    case 'ready':
      return path;
    case 'pending':
      return path ? `${path} (not there yet)` : 'not there yet';
    case 'error':
      return `could not be collected: ${job.output_error ?? 'unknown error'}`;
    default:
      return 'none (the notebook never started)';
  }
}

function div(className: string): HTMLDivElement {
  const node = document.createElement('div');
  node.className = className;
  return node;
}

function text<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  content: string,
  className = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) {
    node.className = className;
  }
  return node;
}
