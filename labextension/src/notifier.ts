/**
 * Notifications when a job submitted from this browser session ends: success, failure
 * (with the reason) or cancellation, with an "Open output" action. The jobs followed are
 * kept in sessionStorage by the model, so a reload does not lose them; each is told once.
 */

import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { JobsModel } from './jobsModel';
import { IJobsDiff } from './models/jobs';
import {
  baseName,
  formatDuration,
  isSettled,
  isUnfinished
} from './models/status';
import { IJobInfo } from './tokens';

/** How long to wait for the executed notebook after a job ends before notifying anyway. */
const OUTPUT_GRACE_MS = 30_000;

/** Notification text is cut to this many characters (JupyterLab's toasts are small). */
const MAX_MESSAGE = 140;

export class JobNotifier {
  constructor(options: JobNotifier.IOptions) {
    this._model = options.model;
    this._options = options;
    this._model.changed.connect(this._onChanged, this);
  }

  dispose(): void {
    this._model.changed.disconnect(this._onChanged, this);
    for (const timer of this._timers.values()) {
      window.clearTimeout(timer);
    }
    this._timers.clear();
  }

  private _onChanged(model: JobsModel, diff: IJobsDiff): void {
    for (const job of diff.settled) {
      this._maybeNotify(job);
    }
    // Jobs that ended while this page was closed come back already settled.
    for (const job of diff.added) {
      if (isSettled(job)) {
        this._maybeNotify(job);
      }
    }
    // Finished, but the executed notebook is still being collected: give it some time.
    for (const job of diff.finished) {
      if (
        !isSettled(job) &&
        model.isWatched(job.id) &&
        !this._timers.has(job.id)
      ) {
        this._timers.set(
          job.id,
          window.setTimeout(() => {
            this._timers.delete(job.id);
            const now = model.store.get(job.id);
            if (now) {
              this._maybeNotify(now, true);
            }
          }, OUTPUT_GRACE_MS)
        );
      }
    }
    for (const id of diff.removed) {
      model.unwatch(id);
    }
  }

  private _maybeNotify(job: IJobInfo, force = false): void {
    if (!this._model.isWatched(job.id) || isUnfinished(job)) {
      return;
    }
    if (!force && !isSettled(job)) {
      return;
    }
    this._model.unwatch(job.id);
    const timer = this._timers.get(job.id);
    if (timer !== undefined) {
      window.clearTimeout(timer);
      this._timers.delete(job.id);
    }
    if (!this._options.enabled()) {
      return;
    }
    this.notify(job);
  }

  /** Show the notification of an ended job. */
  notify(job: IJobInfo): void {
    const trans = this._options.trans;
    const name = baseName(job.notebook);
    const actions: Notification.IAction[] = [];
    // A sweep has a notebook per parameter set: "Details" shows them all.
    if (!job.sweep && job.output_state === 'ready' && job.output_path) {
      actions.push({
        label: trans.__('Open output'),
        caption: trans.__('Open %1', job.output_path),
        displayType: 'accent',
        callback: () => this._options.openOutput(job)
      });
    }
    actions.push({
      label: trans.__('Details'),
      caption: trans.__('Show job %1', job.id),
      callback: () => this._options.openJob(job.id)
    });
    const took = formatDuration(job.duration_seconds, trans);
    switch (job.phase) {
      case 'Succeeded':
        Notification.success(
          clip(
            took
              ? trans.__('%1 succeeded on Kubernetes in %2', name, took)
              : trans.__('%1 succeeded on Kubernetes', name)
          ),
          { autoClose: 10_000, actions }
        );
        break;
      case 'Failed':
        Notification.error(
          clip(
            trans.__(
              '%1 failed: %2',
              name,
              [job.reason, job.message].filter(Boolean).join(': ') ||
                trans.__('no reason given')
            )
          ),
          { autoClose: false, actions }
        );
        break;
      default:
        Notification.info(clip(trans.__('%1 was cancelled', name)), {
          autoClose: 8_000,
          actions
        });
    }
  }

  private _model: JobsModel;
  private _options: JobNotifier.IOptions;
  private _timers = new Map<string, number>();
}

export namespace JobNotifier {
  export interface IOptions {
    model: JobsModel;
    /** Whether notifications are on (the setting). */
    enabled: () => boolean;
    openOutput: (job: IJobInfo) => void;
    openJob: (id: string) => void;
    /** The texts' translation bundle. */
    trans: TranslationBundle;
  }
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE
    ? `${text.slice(0, MAX_MESSAGE - 1)}…`
    : text;
}
