/**
 * Asking the server again while a part of a job's view can be seen and its data can still
 * change: the refresh logic of the events timeline (JobTimeline.ts) and the sweep results
 * (SweepResults.ts).
 *
 * `refresh()` loads now. A call while a load is on its way loads once more after it (that
 * answer may predate the change that prompted the call). After each load a lumino `Poll`
 * schedules the next one, `intervalMs` later, while the host view is visible and `live()`
 * says the data can still change; otherwise it stops, and the view's next `refresh()` (when
 * it is shown again, or its job changed) starts it again. The `Poll` stands by while the
 * browser tab is hidden: what it loads is only for display.
 */

import { Poll } from '@lumino/polling';

export class VisibleRefresh {
  constructor(options: VisibleRefresh.IOptions) {
    this._options = options;
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: options.intervalMs, backoff: false },
      name: options.name,
      standby: 'when-hidden'
    });
  }

  /** Load now (see the module comment); resolves when the load (or the one on its way) ends. */
  refresh(): Promise<void> {
    if (this._inflight) {
      this._again = true;
      return this._inflight;
    }
    const { host, ready, load, live, intervalMs } = this._options;
    if (host.isDisposed || !host.isAttached || !(ready?.() ?? true)) {
      return Promise.resolve();
    }
    this._inflight = load().finally(() => {
      this._inflight = null;
      if (this._again) {
        this._again = false;
        void this.refresh();
        return;
      }
      // Only while someone can see it: a hidden view loads again when it is shown.
      if (!host.isDisposed && host.isVisible && live()) {
        void this._poll.schedule({ interval: intervalMs, phase: 'resolved' });
      } else {
        void this._poll.stop();
      }
    });
    return this._inflight;
  }

  /** Load no more until the next `refresh()` (the view is detached or hidden). */
  stop(): void {
    void this._poll.stop();
  }

  dispose(): void {
    this._poll.dispose();
  }

  private _options: VisibleRefresh.IOptions;
  private _poll: Poll;
  private _inflight: Promise<void> | null = null;
  private _again = false;
}

export namespace VisibleRefresh {
  /** What the refresh needs to know of the view it is in (a lumino `Widget`). */
  export interface IHost {
    readonly isAttached: boolean;
    readonly isVisible: boolean;
    readonly isDisposed: boolean;
  }

  export interface IOptions {
    host: IHost;
    /** The `Poll`'s name (for debugging). */
    name: string;
    intervalMs: number;
    /** Ask the server and render; reports its errors itself (never rejects). */
    load: () => Promise<void>;
    /** Whether the data can still change (keep polling). */
    live: () => boolean;
    /** Whether there is anything to load yet (default: yes). */
    ready?: () => boolean;
  }
}
