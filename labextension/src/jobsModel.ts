/**
 * The one poller of the job list, shared by the side panel, the job details, the notifier
 * and other extensions (`IJupyterK8s.jobs`): it keeps a `JobStore` in step with the server
 * and says what changed.
 *
 * Polling, not a push channel: the server answers `GET /jupyter-k8s/jobs` from its
 * watch-fed cache (no Kubernetes API call per request), so a poll is cheap. See `pollDelay`
 * for the cadence: 2 s while someone looks at jobs that still change, 15 s otherwise.
 * Fast polls ask only for the Pending and Running jobs (`?status=pending,running`), so a
 * user with 1,000 finished jobs does not download them every 2 s; the full list comes
 * every idle interval, and a job that leaves the unfinished list is asked for by id.
 *
 * A lumino `Poll` keeps the time: after each poll (timed or asked for) the next tick is
 * scheduled `nextDelay()` after it. It never stands by: the jobs feed the notifications
 * of a hidden tab too, and `pollDelay` already slows a hidden tab down.
 */

import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { isNotFound, messageOf } from './errors';
import {
  IJobFilter,
  IJobsDiff,
  isEmptyDiff,
  JobStore,
  pollDelay
} from './models/jobs';
import { isSettled, isUnfinished } from './models/status';
import { IJobInfo, IJobsModel } from './tokens';

/** Where jobs come from (the REST API; tests pass their own). */
export interface IJobsBackend {
  listAll(): Promise<IJobInfo[]>;
  listUnfinished(): Promise<IJobInfo[]>;
  get(id: string): Promise<IJobInfo>;
}

const WATCHED_KEY = 'jupyter-k8s:watched-jobs';

/** Ask for one job at a time when fewer than this many left the unfinished list. */
const MAX_SINGLE_FETCHES = 5;

export class JobsModel implements IJobsModel {
  constructor(options: JobsModel.IOptions) {
    this._backend = options.backend;
    this._fast = options.fastInterval ?? 2000;
    this._idle = options.idleInterval ?? 15000;
    this._storage = options.storage ?? null;
    this._now = options.now ?? (() => Date.now());
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(false),
      frequency: {
        interval: this._idle,
        backoff: false,
        max: Poll.MAX_INTERVAL
      },
      name: 'jupyter-k8s:jobs',
      standby: 'never'
    });
    this._loadWatched();
    this._onVisibility = () => this._reschedule(true);
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', this._onVisibility);
    }
  }

  /** The jobs. */
  readonly store = new JobStore();

  /** What changed after each update that changed something. */
  get changed(): ISignal<this, IJobsDiff> {
    return this._changed;
  }

  /** Loading state or error changed. */
  get stateChanged(): ISignal<this, void> {
    return this._stateChanged;
  }

  /** All jobs known, newest first; only those that pass `filter` when one is given. */
  list(filter?: IJobFilter): IJobInfo[] {
    return filter ? this.store.filter(filter) : this.store.all();
  }

  /** One job, or undefined. */
  get(id: string): IJobInfo | undefined {
    return this.store.get(id);
  }

  /** Whether the first answer came. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** The last error (the server or the cluster), or null after a good answer. */
  get error(): string | null {
    return this._error;
  }

  /** Set the polling intervals (ms), e.g. from the settings. */
  setIntervals(fast: number, idle: number): void {
    this._fast = Math.max(500, fast);
    this._idle = Math.max(this._fast, idle);
    this._reschedule(false);
  }

  /** Start polling (the first poll at once). */
  start(): void {
    if (this._started) {
      return;
    }
    this._started = true;
    void this.refresh();
  }

  /**
   * Say whether a view of the jobs is visible (`key` names it: the panel, a detail, ...).
   * A view that becomes visible gets fresh data at once when the last poll is old.
   */
  setViewVisible(key: string, visible: boolean): void {
    const had = this._views.has(key);
    if (visible) {
      this._views.add(key);
    } else {
      this._views.delete(key);
    }
    if (had !== visible) {
      this._reschedule(visible);
    }
  }

  /** Follow a job submitted from this browser session (the notifier tells its end). */
  watch(id: string): void {
    this._watched.add(id);
    this._saveWatched();
    this._reschedule(false);
  }

  /** Stop following a job. */
  unwatch(id: string): void {
    if (this._watched.delete(id)) {
      this._saveWatched();
    }
  }

  /** Whether a job is followed. */
  isWatched(id: string): boolean {
    return this._watched.has(id);
  }

  /** Put a job the UI got by other means (just submitted, cancelled) in the store. */
  upsert(job: IJobInfo): void {
    this._emit(this.store.upsert(job));
    this._reschedule(false);
  }

  /** Forget a deleted job. */
  remove(id: string): void {
    this.unwatch(id);
    this._emit(this.store.remove(id));
  }

  /**
   * Poll now. `full` asks for the whole list; otherwise the cycle decides (see the class
   * comment). Concurrent calls share the poll in flight (a full one waits for it first).
   */
  async refresh(full = true): Promise<void> {
    if (this._inflight) {
      await this._inflight;
      if (!full) {
        return;
      }
    }
    this._inflight = this._fetch(full).finally(() => {
      this._inflight = null;
      this._lastPoll = this._now();
      this._schedule();
    });
    return this._inflight;
  }

  /** The delay the next poll waits for, in ms (for tests and the status line). */
  nextDelay(): number {
    return pollDelay(
      {
        viewVisible: this._views.size > 0,
        documentVisible:
          typeof document === 'undefined' ||
          document.visibilityState !== 'hidden',
        active:
          this.store.hasUnfinished || this.store.unsettledFinished().length > 0,
        watching: this._isWatchingActive()
      },
      this._fast,
      this._idle
    );
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._poll.dispose();
    if (typeof document !== 'undefined') {
      document.removeEventListener('visibilitychange', this._onVisibility);
    }
    Signal.clearData(this);
  }

  private async _fetch(full: boolean): Promise<void> {
    const now = this._now();
    const needFull =
      full ||
      !this._loaded ||
      now - this._lastFull >= this._idle ||
      (!this.store.hasUnfinished &&
        this.store.unsettledFinished().length === 0);
    try {
      if (needFull) {
        const jobs = await this._backend.listAll();
        this._lastFull = now;
        this._emit(this.store.applyAll(jobs));
      } else {
        const jobs = await this._backend.listUnfinished();
        const diff = this.store.applyUnfinished(jobs);
        this._emit(diff);
        const ask = [
          ...diff.vanished,
          ...this.store.unsettledFinished().map(job => job.id)
        ];
        if (ask.length > MAX_SINGLE_FETCHES) {
          this._lastFull = this._now();
          this._emit(this.store.applyAll(await this._backend.listAll()));
        } else {
          await Promise.all(ask.map(id => this._fetchOne(id)));
        }
      }
      this._setState(true, null);
    } catch (error) {
      this._setState(this._loaded, messageOf(error));
    }
  }

  private async _fetchOne(id: string): Promise<void> {
    try {
      this._emit(this.store.upsert(await this._backend.get(id)));
    } catch (error) {
      if (isNotFound(error)) {
        this.remove(id);
      } else {
        throw error;
      }
    }
  }

  private _emit(diff: IJobsDiff): void {
    if (!isEmptyDiff(diff) && !this._disposed) {
      this._changed.emit(diff);
    }
  }

  private _setState(loaded: boolean, error: string | null): void {
    if (loaded !== this._loaded || error !== this._error) {
      this._loaded = loaded;
      this._error = error;
      this._stateChanged.emit();
    }
  }

  private _isWatchingActive(): boolean {
    for (const id of this._watched) {
      const job = this.store.get(id);
      if (!job || isUnfinished(job) || !isSettled(job)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Schedule the next tick `nextDelay()` after the last poll. A tick that fires while a
   * poll is in flight joins it (`refresh(false)`), and each poll schedules the next one
   * when it ends, so a tick asked for from outside the `Poll` (start, ↻, a view shown) and
   * the `Poll`'s own never run twice.
   */
  private _schedule(): void {
    if (this._disposed || !this._started) {
      return;
    }
    const wait = Math.max(0, this._lastPoll + this.nextDelay() - this._now());
    void this._poll.schedule({ interval: wait, phase: 'refreshed' });
  }

  /** The cadence may have changed: schedule again (poll at once if overdue). */
  private _reschedule(pollIfStale: boolean): void {
    if (!this._started || this._inflight || this._disposed) {
      return;
    }
    if (pollIfStale && this._now() - this._lastPoll >= this._fast) {
      void this.refresh(false);
      return;
    }
    this._schedule();
  }

  private _loadWatched(): void {
    try {
      const raw = this._storage?.getItem(WATCHED_KEY);
      const ids = raw ? (JSON.parse(raw) as unknown) : [];
      if (Array.isArray(ids)) {
        for (const id of ids) {
          if (typeof id === 'string') {
            this._watched.add(id);
          }
        }
      }
    } catch {
      // unreadable storage: start with nothing watched
    }
  }

  private _saveWatched(): void {
    try {
      this._storage?.setItem(WATCHED_KEY, JSON.stringify([...this._watched]));
    } catch {
      // storage full or denied: watching still works for this page
    }
  }

  private _backend: IJobsBackend;
  private _fast: number;
  private _idle: number;
  private _storage: Pick<Storage, 'getItem' | 'setItem'> | null;
  private _now: () => number;
  private _views = new Set<string>();
  private _watched = new Set<string>();
  private _poll: Poll;
  private _inflight: Promise<void> | null = null;
  private _lastPoll = 0;
  private _lastFull = 0;
  private _loaded = false;
  private _error: string | null = null;
  private _started = false;
  private _disposed = false;
  private _onVisibility: () => void;
  private _changed = new Signal<this, IJobsDiff>(this);
  private _stateChanged = new Signal<this, void>(this);
}

export namespace JobsModel {
  export interface IOptions {
    backend: IJobsBackend;
    /** Poll interval while jobs change and a view is visible (ms, default 2,000). */
    fastInterval?: number;
    /** Poll interval otherwise (ms, default 15,000). */
    idleInterval?: number;
    /** Where followed job ids survive a reload (sessionStorage; none in tests). */
    storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
    /** The clock (tests). */
    now?: () => number;
  }
}
