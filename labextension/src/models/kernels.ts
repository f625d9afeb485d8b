/**
 * Remote-kernel start-up feedback: what a starting kernel's status reads as, and the
 * watcher that polls `GET /jupyter-k8s/kernels` while a Kubernetes kernel starts and tells
 * a view (JupyterLab notifications in the app, a fake in tests) what to show.
 *
 * Why poll this endpoint: jupyter_server lists a kernel only once its start returned, and
 * a GPU kernel can wait minutes for a node. The server keeps what each starting pod waits
 * for (the scheduler's message, the image pull) and serves it here. No JupyterLab imports
 * (a lumino `Poll` keeps the time): unit-tested with jest. The texts go through the
 * translation bundle given (English by default).
 */

import { PromiseDelegate } from '@lumino/coreutils';
import { Poll } from '@lumino/polling';

import { english, Trans } from '../i18n';
import { IKernelStatus } from '../tokens';
import { queuedClause, queueStartupText } from './queue';
import { baseName } from './status';

/** How a status reads: a sentence and its colour family. */
export interface IKernelStatusText {
  text: string;
  tone: 'pending' | 'success' | 'error';
}

/** Phases of a kernel that is still on its way up. */
const STARTING_PHASES = new Set(['Creating', 'Pending', 'Starting']);

/** Whether the kernel is still starting (Creating, Pending or Starting). */
export function isStarting(status: IKernelStatus): boolean {
  return STARTING_PHASES.has(status.phase ?? '');
}

/**
 * The scheduler's message without its preemption post-scriptum:
 * "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes ..." →
 * "0/1 nodes are available: 1 Insufficient nvidia.com/gpu".
 */
export function schedulerSummary(message: string): string {
  const cut = message.search(/\.?\s*preemption:/i);
  const head = cut >= 0 ? message.slice(0, cut) : message;
  return head.trim().replace(/\.$/, '');
}

/** What the pod lacks, from the scheduler's "Insufficient <resource>" words. */
function missingResource(message: string, trans: Trans): string | null {
  const found = /Insufficient ([\w./-]+)/i.exec(message);
  if (!found) {
    return null;
  }
  const resource = found[1].toLowerCase();
  if (resource.endsWith('gpu')) {
    return trans.__('a GPU');
  }
  if (resource === 'cpu') {
    return trans.__('CPU');
  }
  if (resource === 'memory') {
    return trans.__('memory');
  }
  return resource;
}

/** The sentence a user reads about a kernel's status, in Kubernetes' words where it has them. */
export function describeKernelStatus(
  status: IKernelStatus,
  trans: Trans = english
): IKernelStatusText {
  const phase = status.phase ?? 'Unknown';
  const reason = status.reason ?? '';
  const message = status.message ?? '';
  switch (phase) {
    case 'Creating':
      return { text: trans.__('Creating the kernel’s pod…'), tone: 'pending' };
    case 'Pending': {
      // Waiting in a Kueue queue: Kueue's words ("Queued in gpu: position 1 of 1; ..."),
      // not the scheduler's (the pod is gated until Kueue admits it).
      const queued = queueStartupText(status, trans);
      if (queued) {
        return { text: queued, tone: 'pending' };
      }
      if (reason === 'SchedulingGated') {
        return {
          text: trans.__('Preparing the kernel’s connection…'),
          tone: 'pending'
        };
      }
      if (reason === 'Scheduling' || !message) {
        return {
          text: trans.__('Waiting for the scheduler…'),
          tone: 'pending'
        };
      }
      const summary = schedulerSummary(message);
      const missing = missingResource(summary, trans);
      return {
        text: missing
          ? trans.__('Waiting for %1: %2', missing, summary)
          : trans.__('Waiting for a node: %1', summary),
        tone: 'pending'
      };
    }
    case 'Starting':
      if (reason === 'PullingImage' || reason === 'Pulling') {
        return {
          text: message
            ? trans.__('Pulling the image: %1', message)
            : trans.__('Pulling the image…'),
          tone: 'pending'
        };
      }
      if (reason === 'Restarting') {
        return { text: trans.__('Restarting the kernel…'), tone: 'pending' };
      }
      if (reason === 'ContainerCreating' || !reason) {
        return {
          text: trans.__('Starting the kernel in its pod…'),
          tone: 'pending'
        };
      }
      return {
        text: message
          ? trans.__('Starting: %1: %2', reason, message)
          : trans.__('Starting: %1', reason),
        tone: 'pending'
      };
    case 'Running':
      return {
        text: status.node
          ? trans.__(
              'Running on node %1 (pod %2)',
              status.node,
              status.pod ?? '?'
            )
          : trans.__('Running'),
        tone: 'success'
      };
    case 'Failed': {
      // A start that timed out while unschedulable: the scheduler's words, short enough for
      // a notification (JupyterLab cuts them at 140 characters).
      const scheduler = /\d+\/\d+ nodes are available:[^;)]*/.exec(message);
      const queued = queuedClause(message);
      if (reason === 'StartTimeout' && queued && !scheduler) {
        return {
          text: trans.__('Gave up waiting in the queue: %1', queued),
          tone: 'error'
        };
      }
      if (reason === 'StartTimeout' && scheduler) {
        const summary = schedulerSummary(scheduler[0]);
        return {
          text: trans.__(
            'Gave up waiting for %1: %2',
            missingResource(summary, trans) ?? trans.__('a node'),
            summary
          ),
          tone: 'error'
        };
      }
      return {
        text: trans.__(
          'Failed: %1',
          [reason, message].filter(Boolean).join(': ') ||
            trans.__('the kernel did not start')
        ),
        tone: 'error'
      };
    }
    default:
      return {
        text: [phase, reason, message].filter(Boolean).join(': '),
        tone: 'pending'
      };
  }
}

/**
 * The kernel's name for a person: its profile (else its kernelspec) and its notebook. Short,
 * because a notification shows 140 characters and the reason matters more.
 */
export function kernelTitle(
  status: IKernelStatus,
  trans: Trans = english
): string {
  const name = status.profile || status.kernel_name || status.kernel_id;
  return status.notebook
    ? trans.__('Kernel “%1” for %2', name, baseName(status.notebook))
    : trans.__('Kernel “%1”', name);
}

/** Where the watcher shows what it sees. */
export interface IKernelStartupView {
  /** A kernel is starting: show (or update) its line. */
  show(kernelId: string, title: string, status: IKernelStatusText): void;
  /** It is up or its start failed: say so once and let the line go. */
  done(kernelId: string, title: string, status: IKernelStatusText): void;
  /** It vanished while starting (its start was abandoned): drop the line quietly. */
  drop(kernelId: string): void;
}

/** Failed polls in a row after which the watcher gives up (the server is away). */
const MAX_FAILURES = 5;

/** After failures the interval doubles, up to this many times the interval. */
const MAX_BACKOFF = 8;

/**
 * Polls the kernel statuses while a Kubernetes kernel is expected to start, or while one
 * it saw starting has not ended, and tells the view. The first poll comes `grace` ms after
 * `expect()`: kernels up by then (a CPU kernel starts in about half a second) never show
 * a line, so fast starts make no noise.
 *
 * One lumino `Poll` per run of polls, disposed when the run ends. It stands by while the
 * browser tab is hidden (the lines are only for display) and resumes when it shows.
 */
export class KernelStartupWatcher {
  constructor(options: KernelStartupWatcher.IOptions) {
    this._fetch = options.fetch;
    this._view = options.view;
    this._interval = options.interval ?? 1000;
    this._linger = options.linger ?? 5000;
    this._grace = options.grace ?? 1000;
    this._now = options.now ?? (() => Date.now());
    this._trans = options.trans ?? english;
  }

  /** The kernels shown as starting now (for tests). */
  get showing(): string[] {
    return [...this._shown.keys()];
  }

  /** Whether a run of polls is going on. */
  get polling(): boolean {
    return this._poll !== null;
  }

  /**
   * A Kubernetes kernel starts (or restarts) somewhere in this page: poll until it is up,
   * at least `linger` ms from now. Resolves when the polls end.
   */
  expect(): Promise<void> {
    this._until = Math.max(this._until, this._now() + this._linger);
    if (this._poll && this._ended) {
      return this._ended;
    }
    const ended = new PromiseDelegate<void>();
    const poll = new Poll({
      auto: false,
      factory: () => this._tick(),
      frequency: {
        interval: this._interval,
        backoff: false,
        max: this._interval * MAX_BACKOFF
      },
      name: 'jupyter-k8s:kernel-startup',
      standby: 'when-hidden'
    });
    poll.disposed.connect(() => {
      this._poll = null;
      this._ended = null;
      ended.resolve();
    });
    this._poll = poll;
    this._ended = ended.promise;
    this._failures = 0;
    // A quick start needs no line: look only once it has had time to be up.
    void poll.schedule({
      interval: this._shown.size === 0 ? this._grace : Poll.IMMEDIATE,
      phase: 'started'
    });
    return this._ended;
  }

  /** Stop polling and drop every line. */
  dispose(): void {
    this._disposed = true;
    this._poll?.dispose();
    for (const id of this._shown.keys()) {
      this._view.drop(id);
    }
    this._shown.clear();
  }

  /** Apply one answer of the server (public for tests). */
  update(statuses: IKernelStatus[]): void {
    const seen = new Set<string>();
    for (const status of statuses) {
      const id = status.kernel_id;
      seen.add(id);
      const title = kernelTitle(status, this._trans);
      const text = describeKernelStatus(status, this._trans);
      if (isStarting(status)) {
        const key = `${title}\n${text.text}`;
        if (this._shown.get(id) !== key) {
          this._shown.set(id, key);
          this._view.show(id, title, text);
        }
      } else if (this._shown.has(id)) {
        this._shown.delete(id);
        this._view.done(id, title, text);
      }
    }
    for (const id of [...this._shown.keys()]) {
      if (!seen.has(id)) {
        this._shown.delete(id);
        this._view.drop(id);
      }
    }
  }

  /**
   * One poll (the factory of the `Poll`; it never rejects). It ends the run when nothing
   * starts any more or the server stayed away, else sets the next interval: `interval`,
   * doubled after each failure in a row, up to `MAX_BACKOFF` times.
   */
  private async _tick(): Promise<void> {
    const poll = this._poll;
    try {
      this.update(await this._fetch());
      this._failures = 0;
    } catch {
      // The server is briefly away (a restart): keep the lines, try again less often.
      this._failures++;
    }
    if (
      this._disposed ||
      (this._shown.size === 0 && this._now() >= this._until) ||
      this._failures >= MAX_FAILURES
    ) {
      poll?.dispose();
      return;
    }
    if (poll) {
      poll.frequency = {
        ...poll.frequency,
        interval: this._interval * Math.min(2 ** this._failures, MAX_BACKOFF)
      };
    }
  }

  private _fetch: () => Promise<IKernelStatus[]>;
  private _view: IKernelStartupView;
  private _interval: number;
  private _linger: number;
  private _grace: number;
  private _now: () => number;
  private _trans: Trans;
  private _until = 0;
  private _poll: Poll | null = null;
  private _ended: Promise<void> | null = null;
  private _failures = 0;
  private _shown = new Map<string, string>();
  private _disposed = false;
}

export namespace KernelStartupWatcher {
  export interface IOptions {
    /** The statuses (`GET /jupyter-k8s/kernels`). */
    fetch: () => Promise<IKernelStatus[]>;
    view: IKernelStartupView;
    /** Poll interval (ms, default 1,000). */
    interval?: number;
    /** How long to poll after `expect()` when nothing shows up starting (ms, default 5,000). */
    linger?: number;
    /** Wait this long before the first poll (ms, default 1,000). */
    grace?: number;
    /** The clock (ms). */
    now?: () => number;
    /** The translation bundle of the texts (default: English). */
    trans?: Trans;
  }
}
