/**
 * The log of a job's view: streamed from `GET /jupyter-k8s/jobs/{id}/logs`, following live
 * while the job runs, the last `tailLines` lines kept in the page.
 */

import { TranslationBundle } from '@jupyterlab/translation';
import { Poll } from '@lumino/polling';

import { streamLogs } from '../api';
import { el } from '../dom';
import { isNotFound, messageOf } from '../errors';
import { LogTail } from '../models/logs';
import { isUnfinished } from '../models/status';
import { IJobInfo } from '../tokens';
import { JobTimeline } from './JobTimeline';

/** The first retry of a failed log read waits this long (ms), the next ones twice as long. */
const FIRST_RETRY_MS = 2000;

/** The longest wait between retries (ms). */
const MAX_RETRY_MS = 30_000;

/**
 * The log of one job. Plain DOM (`nodes` go into the job view's column); `host` is the
 * view, which must be attached for the log to be read.
 *
 * A read that fails (the pod not started yet, the server away) is tried again later,
 * 2 s, 4 s, ... 30 s after, by a lumino `Poll` that ticks only when a retry is due. It
 * never stands by: a hidden tab follows a running log too, so a retry must not be lost.
 */
export class JobLog {
  constructor(options: JobLog.IOptions) {
    const trans = options.trans;
    this._trans = trans;
    this._jobId = options.jobId;
    this._host = options.host;
    this._tail = new LogTail(options.tailLines ?? 2000);

    const head = el('div', 'jp-k8s-JobDetail-logHead');
    const title = el('h3', '', trans.__('Log'));
    title.id = `${options.idPrefix}-log-title`;
    this._status = el('div', 'jp-k8s-JobDetail-logStatus');
    this._status.setAttribute('aria-live', 'polite');
    const followLabel = el('label', 'jp-k8s-JobDetail-follow');
    this._follow = el('input', '');
    this._follow.type = 'checkbox';
    this._follow.checked = true;
    followLabel.append(
      this._follow,
      document.createTextNode(` ${trans.__('Scroll with the log')}`)
    );
    head.append(title, this._status, followLabel);
    this._log = el('pre', 'jp-k8s-JobDetail-log');
    this._log.tabIndex = 0;
    this._log.setAttribute('role', 'log');
    this._log.setAttribute('aria-labelledby', title.id);
    this._partial = el('span', '');
    this._log.appendChild(this._partial);
    this.nodes = [head, this._log];

    this._retry = new Poll({
      auto: false,
      factory: async () => {
        this._retryDue = false;
        this.update();
      },
      frequency: { interval: Poll.NEVER, backoff: false, max: Poll.NEVER },
      name: 'jupyter-k8s:job-log',
      standby: 'never'
    });
  }

  /** The elements, in order. */
  readonly nodes: readonly HTMLElement[];

  /** The log lines kept. */
  get tail(): LogTail {
    return this._tail;
  }

  /** The job as the view knows it (null: not known yet), and whether it is gone. */
  setJob(job: IJobInfo | null, gone: boolean): void {
    this._job = job;
    this._gone = gone;
  }

  /**
   * Start following the log once the job's pod has started (and the view is attached),
   * unless it is followed already, complete, or a retry is due later; `retryNow` drops a
   * retry that is due (the job changed: its pod may have started).
   */
  update(retryNow = false): void {
    if (retryNow && this._retryDue) {
      this._retryDue = false;
      void this._retry.stop();
    }
    const job = this._job;
    if (
      !job ||
      this._abort ||
      this._done ||
      !this._host.isAttached ||
      this._gone
    ) {
      return;
    }
    if (job.phase === 'Pending' && !job.started) {
      this._setStatus(this._trans.__('Waiting for the pod to start…'));
      return;
    }
    if (this._retryDue) {
      return;
    }
    void this._stream(isUnfinished(job));
  }

  /** Stop reading and retrying. */
  dispose(): void {
    this._abort?.abort();
    this._abort = null;
    this._retry.dispose();
  }

  private async _stream(follow: boolean): Promise<void> {
    const trans = this._trans;
    const abort = new AbortController();
    this._abort = abort;
    this._clear();
    this._setStatus(follow ? trans.__('Following…') : trans.__('Loading…'));
    let failed = false;
    try {
      await streamLogs(this._jobId, {
        follow,
        tail: this._tail.limit,
        signal: abort.signal,
        onText: chunk => this._append(chunk)
      });
      if (abort.signal.aborted) {
        return;
      }
      // The server ends a followed stream when the job ends: the log is complete.
      this._done = true;
      this._setStatus(
        this._tail.received === 0
          ? trans.__('The log is empty.')
          : this._tail.dropped > 0
            ? trans.__(
                'The last %1 lines (%2 earlier ones not shown).',
                this._tail.lines.length,
                this._tail.dropped
              )
            : trans.__('End of the log.')
      );
    } catch (error) {
      if (abort.signal.aborted) {
        return;
      }
      // A 404 before the pod started: nothing to read yet.
      this._setStatus(
        isNotFound(error)
          ? trans.__('Waiting for the pod to start…')
          : trans.__('The log could not be read: %1', messageOf(error))
      );
      failed = true;
    } finally {
      if (this._abort === abort) {
        this._abort = null;
      }
    }
    if (failed && !this._host.isDisposed) {
      // Try again later, less and less often; a change of the job tries at once.
      const delay = Math.min(
        MAX_RETRY_MS,
        FIRST_RETRY_MS * 2 ** this._retries++
      );
      this._retryDue = true;
      void this._retry.schedule({ interval: delay, phase: 'rejected' });
    } else {
      this._retries = 0;
    }
  }

  private _clear(): void {
    this._tail.clear();
    this._log.replaceChildren(this._partial);
    this._partial.textContent = '';
  }

  private _append(chunk: string): void {
    const atBottom =
      this._log.scrollHeight - this._log.scrollTop - this._log.clientHeight <
      24;
    const { appended, removed } = this._tail.push(chunk);
    for (
      let i = 0;
      i < removed && this._log.firstChild !== this._partial;
      i++
    ) {
      this._log.firstChild?.remove();
    }
    if (appended.length) {
      const fragment = document.createDocumentFragment();
      for (const line of appended) {
        fragment.appendChild(document.createTextNode(line + '\n'));
      }
      this._log.insertBefore(fragment, this._partial);
    }
    this._partial.textContent = this._tail.partial;
    if (this._follow.checked && atBottom) {
      this._log.scrollTop = this._log.scrollHeight;
    }
    if (this._tail.dropped > 0) {
      this._setStatus(
        this._trans.__(
          'Following… (the last %1 lines are shown)',
          this._tail.limit
        )
      );
    }
  }

  private _setStatus(text: string): void {
    if (this._status.textContent !== text) {
      this._status.textContent = text;
    }
  }

  private _trans: TranslationBundle;
  private _jobId: string;
  private _host: JobTimeline.IHost;
  private _job: IJobInfo | null = null;
  private _gone = false;
  private _tail: LogTail;
  private _status: HTMLDivElement;
  private _follow: HTMLInputElement;
  private _log: HTMLPreElement;
  private _partial: HTMLSpanElement;
  private _abort: AbortController | null = null;
  private _done = false;
  private _retry: Poll;
  private _retryDue = false;
  private _retries = 0;
}

export namespace JobLog {
  export interface IOptions {
    jobId: string;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
    host: JobTimeline.IHost;
    /** Log lines kept in the page (default 2,000). */
    tailLines?: number;
    trans: TranslationBundle;
  }
}
