/**
 * The jobs the UI knows, kept in step with the server by diffing each answer against what
 * was there: widgets re-render only rows that changed, and the notifier learns which jobs
 * just finished. Pure (no JupyterLab imports): unit-tested with jest.
 */

import { IJobInfo, JobPhase } from '../tokens';
import { isSettled, isUnfinished } from './status';

/** What changed between two states of the store. */
export interface IJobsDiff {
  /** Jobs new to the store. */
  added: IJobInfo[];
  /** Jobs whose fields changed (their new state). */
  changed: IJobInfo[];
  /** Ids of jobs gone from the store. */
  removed: string[];
  /** Jobs that went from unfinished to finished in this update (new state). */
  finished: IJobInfo[];
  /** Jobs that became settled: finished, output collected or failed (new state). */
  settled: IJobInfo[];
}

/** Which jobs a list shows. */
export interface IJobFilter {
  /** Phases to show; empty or absent, all. `unfinished` stands for Pending and Running. */
  status?: readonly (JobPhase | 'unfinished')[];
  /** Case-insensitive text the notebook path must contain. */
  notebook?: string;
}

/** An empty diff. */
export function emptyDiff(): IJobsDiff {
  return { added: [], changed: [], removed: [], finished: [], settled: [] };
}

/** Whether a diff changes nothing. */
export function isEmptyDiff(diff: IJobsDiff): boolean {
  return (
    diff.added.length === 0 &&
    diff.changed.length === 0 &&
    diff.removed.length === 0
  );
}

/** Whether two states of one job differ in anything the UI shows. */
export function jobChanged(a: IJobInfo, b: IJobInfo): boolean {
  // The server's JSON has a stable key order, so comparing the serialisation is exact and
  // cheaper than a deep walk for 1,000 jobs.
  return JSON.stringify(a) !== JSON.stringify(b);
}

/** Newest first (by creation time, then id), as the server sorts. */
export function compareJobs(a: IJobInfo, b: IJobInfo): number {
  const ca = a.created ?? '';
  const cb = b.created ?? '';
  if (ca !== cb) {
    return ca < cb ? 1 : -1;
  }
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Whether a job passes a filter. */
export function matchesFilter(job: IJobInfo, filter: IJobFilter): boolean {
  const status = filter.status ?? [];
  if (status.length > 0) {
    const ok = status.some(s =>
      s === 'unfinished' ? isUnfinished(job) : s === job.phase
    );
    if (!ok) {
      return false;
    }
  }
  const text = (filter.notebook ?? '').trim().toLowerCase();
  if (text && !job.notebook.toLowerCase().includes(text)) {
    return false;
  }
  return true;
}

/**
 * The jobs known to the UI, by id, in the server's order (newest first).
 *
 * Two kinds of update: `applyAll` with the full list (jobs missing from it were deleted),
 * and `applyUnfinished` with only the Pending and Running jobs (cheap to ask for every two
 * seconds): a job that was unfinished and is missing from that answer has finished or was
 * deleted, which only the full list or the job itself can tell, so it is returned in
 * `vanished` for the caller to ask about.
 */
export class JobStore {
  /** The number of jobs. */
  get size(): number {
    return this._jobs.size;
  }

  /** One job, or undefined. */
  get(id: string): IJobInfo | undefined {
    return this._jobs.get(id);
  }

  /** All jobs, newest first. */
  all(): IJobInfo[] {
    if (this._sorted === null) {
      this._sorted = [...this._jobs.values()].sort(compareJobs);
    }
    return this._sorted;
  }

  /** The jobs that pass a filter, newest first. */
  filter(filter: IJobFilter): IJobInfo[] {
    return this.all().filter(job => matchesFilter(job, filter));
  }

  /** Whether any job is Pending or Running. */
  get hasUnfinished(): boolean {
    for (const job of this._jobs.values()) {
      if (isUnfinished(job)) {
        return true;
      }
    }
    return false;
  }

  /** Finished jobs whose executed notebook is still being collected. */
  unsettledFinished(): IJobInfo[] {
    return [...this._jobs.values()].filter(
      job => !isUnfinished(job) && !isSettled(job)
    );
  }

  /** Replace everything with the server's full list. */
  applyAll(jobs: readonly IJobInfo[]): IJobsDiff {
    const diff = emptyDiff();
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.id);
      this._put(job, diff);
    }
    for (const id of [...this._jobs.keys()]) {
      if (!seen.has(id)) {
        this._jobs.delete(id);
        diff.removed.push(id);
      }
    }
    this._touch(diff);
    return diff;
  }

  /**
   * Update with the server's list of unfinished jobs. Jobs that were unfinished here and are
   * not in `jobs` are left as they were and listed in `vanished`.
   */
  applyUnfinished(
    jobs: readonly IJobInfo[]
  ): IJobsDiff & { vanished: string[] } {
    const diff = emptyDiff();
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.id);
      this._put(job, diff);
    }
    const vanished: string[] = [];
    for (const job of this._jobs.values()) {
      if (isUnfinished(job) && !seen.has(job.id)) {
        vanished.push(job.id);
      }
    }
    this._touch(diff);
    return { ...diff, vanished };
  }

  /** Add or update one job (e.g. just submitted, or fetched by id). */
  upsert(job: IJobInfo): IJobsDiff {
    const diff = emptyDiff();
    this._put(job, diff);
    this._touch(diff);
    return diff;
  }

  /** Forget one job (e.g. deleted). */
  remove(id: string): IJobsDiff {
    const diff = emptyDiff();
    if (this._jobs.delete(id)) {
      diff.removed.push(id);
    }
    this._touch(diff);
    return diff;
  }

  private _put(job: IJobInfo, diff: IJobsDiff): void {
    const old = this._jobs.get(job.id);
    if (old === undefined) {
      this._jobs.set(job.id, job);
      diff.added.push(job);
      return;
    }
    if (!jobChanged(old, job)) {
      return;
    }
    this._jobs.set(job.id, job);
    diff.changed.push(job);
    if (isUnfinished(old) && !isUnfinished(job)) {
      diff.finished.push(job);
    }
    if (!isSettled(old) && isSettled(job)) {
      diff.settled.push(job);
    }
  }

  private _touch(diff: IJobsDiff): void {
    if (diff.added.length || diff.removed.length || diff.changed.length) {
      this._sorted = null;
    }
  }

  private _jobs = new Map<string, IJobInfo>();
  private _sorted: IJobInfo[] | null = null;
}

/** The state the polling interval depends on. */
export interface IPollState {
  /** Whether a view of the jobs (side panel, a job's detail) is visible. */
  viewVisible: boolean;
  /** Whether the browser tab is visible. */
  documentVisible: boolean;
  /** Whether any job is unfinished, or finished with its output not collected yet. */
  active: boolean;
  /** Whether a job submitted from this browser session is unfinished (it will notify). */
  watching?: boolean;
}

/**
 * Milliseconds until the next poll.
 *
 * `GET /jupyter-k8s/jobs` is answered from the server's watch-fed cache, without a call to
 * the Kubernetes API, so polling costs the server little: every `fast` ms (2 s) while
 * someone looks at jobs that are still changing, so statuses and cell progress feel live;
 * and while a job this session submitted runs, so its notification comes on time;
 * every `idle` ms (15 s) otherwise, still enough to notice jobs started elsewhere (CLI,
 * magic) and to notify when this session's jobs end while the panel is closed. A hidden
 * browser tab waits four times longer. At idle that is one request per 15 s (60 s hidden),
 * well under the one per second the UI may cost the server.
 */
export function pollDelay(
  state: IPollState,
  fast: number,
  idle: number
): number {
  if (!state.documentVisible) {
    return Math.max(idle, fast) * 4;
  }
  if ((state.viewVisible && state.active) || state.watching) {
    return fast;
  }
  return Math.max(idle, fast);
}
