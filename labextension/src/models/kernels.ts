/**
 * Remote-kernel start-up feedback: what a starting kernel's status reads as, and the
 * watcher that polls `GET /jupyter-k8s/kernels` while a Kubernetes kernel starts and tells
 * a view (JupyterLab notifications in the app, a fake in tests) what to show.
 *
 * Why poll this endpoint: jupyter_server lists a kernel only once its start returned, and
 * a GPU kernel can wait minutes for a node. The server keeps what each starting pod waits
 * for (the scheduler's message, the image pull) and serves it here. Pure module: no
 * JupyterLab imports, unit-tested with jest.
 */

import { IKernelStatus } from '../tokens';
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
function missingResource(message: string): string | null {
  const found = /Insufficient ([\w./-]+)/i.exec(message);
  if (!found) {
    return null;
  }
  const resource = found[1].toLowerCase();
  if (resource.endsWith('gpu')) {
    return 'a GPU';
  }
  if (resource === 'cpu') {
    return 'CPU';
  }
  if (resource === 'memory') {
    return 'memory';
  }
  return resource;
}

/** The sentence a user reads about a kernel's status, in Kubernetes' words where it has them. */
export function describeKernelStatus(status: IKernelStatus): IKernelStatusText {
  const phase = status.phase ?? 'Unknown';
  const reason = status.reason ?? '';
  const message = status.message ?? '';
  switch (phase) {
    case 'Creating':
      return { text: 'Creating the kernel’s pod…', tone: 'pending' };
    case 'Pending': {
      if (reason === 'SchedulingGated') {
        return { text: 'Preparing the kernel’s connection…', tone: 'pending' };
      }
      if (reason === 'Scheduling' || !message) {
        return { text: 'Waiting for the scheduler…', tone: 'pending' };
      }
      const summary = schedulerSummary(message);
      const missing = missingResource(summary);
      return {
        text: missing
          ? `Waiting for ${missing}: ${summary}`
          : `Waiting for a node: ${summary}`,
        tone: 'pending'
      };
    }
    case 'Starting':
      if (reason === 'PullingImage' || reason === 'Pulling') {
        return {
          text: message
            ? `Pulling the image: ${message}`
            : 'Pulling the image…',
          tone: 'pending'
        };
      }
      if (reason === 'Restarting') {
        return { text: 'Restarting the kernel…', tone: 'pending' };
      }
      if (reason === 'ContainerCreating' || !reason) {
        return { text: 'Starting the kernel in its pod…', tone: 'pending' };
      }
      return {
        text: `Starting: ${reason}${message ? `: ${message}` : ''}`,
        tone: 'pending'
      };
    case 'Running':
      return {
        text: status.node
          ? `Running on node ${status.node} (pod ${status.pod ?? '?'})`
          : 'Running',
        tone: 'success'
      };
    case 'Failed': {
      // A start that timed out while unschedulable: the scheduler's words, short enough for
      // a notification (JupyterLab cuts them at 140 characters).
      const scheduler = /\d+\/\d+ nodes are available:[^;)]*/.exec(message);
      if (reason === 'StartTimeout' && scheduler) {
        const summary = schedulerSummary(scheduler[0]);
        return {
          text: `Gave up waiting for ${missingResource(summary) ?? 'a node'}: ${summary}`,
          tone: 'error'
        };
      }
      return {
        text: `Failed: ${[reason, message].filter(Boolean).join(': ') || 'the kernel did not start'}`,
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
export function kernelTitle(status: IKernelStatus): string {
  const name = status.profile || status.kernel_name || status.kernel_id;
  const where = status.notebook ? ` for ${baseName(status.notebook)}` : '';
  return `Kernel “${name}”${where}`;
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

/**
 * Polls the kernel statuses while a Kubernetes kernel is expected to start, or while one
 * it saw starting has not ended, and tells the view. The first poll comes `grace` ms after
 * `expect()`: kernels up by then (a CPU kernel starts in about half a second) never show
 * a line, so fast starts make no noise.
 */
export class KernelStartupWatcher {
  constructor(options: KernelStartupWatcher.IOptions) {
    this._fetch = options.fetch;
    this._view = options.view;
    this._interval = options.interval ?? 1000;
    this._linger = options.linger ?? 5000;
    this._grace = options.grace ?? 1000;
    this._now = options.now ?? (() => Date.now());
    this._sleep =
      options.sleep ??
      (ms => new Promise<void>(resolve => setTimeout(resolve, ms)));
  }

  /** The kernels shown as starting now (for tests). */
  get showing(): string[] {
    return [...this._shown.keys()];
  }

  /** Whether a poll loop runs. */
  get polling(): boolean {
    return this._loop !== null;
  }

  /**
   * A Kubernetes kernel starts (or restarts) somewhere in this page: poll until it is up,
   * at least `linger` ms from now.
   */
  expect(): Promise<void> {
    this._until = Math.max(this._until, this._now() + this._linger);
    if (!this._loop) {
      this._loop = this._run().finally(() => {
        this._loop = null;
      });
    }
    return this._loop;
  }

  /** Stop polling and drop every line. */
  dispose(): void {
    this._disposed = true;
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
      const title = kernelTitle(status);
      const text = describeKernelStatus(status);
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

  private async _run(): Promise<void> {
    let failures = 0;
    if (this._shown.size === 0 && this._grace > 0) {
      // A quick start needs no line: look only once it has had time to be up.
      await this._sleep(this._grace);
    }
    while (!this._disposed) {
      try {
        this.update(await this._fetch());
        failures = 0;
      } catch {
        // The server is briefly away (a restart): keep the lines, try again less often.
        failures++;
      }
      if (
        this._disposed ||
        (this._shown.size === 0 && this._now() >= this._until) ||
        failures >= 5
      ) {
        return;
      }
      await this._sleep(this._interval * Math.min(2 ** failures, 8));
    }
  }

  private _fetch: () => Promise<IKernelStatus[]>;
  private _view: IKernelStartupView;
  private _interval: number;
  private _linger: number;
  private _grace: number;
  private _now: () => number;
  private _sleep: (ms: number) => Promise<void>;
  private _until = 0;
  private _loop: Promise<void> | null = null;
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
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
  }
}
