/**
 * The sweep part of a job's view: how far the sweep got, its results table
 * (`GET /jupyter-k8s/jobs/{id}/results`, sortable: SweepTable.ts), "Rerun failed" (a new
 * sweep of the parameter sets that did not succeed) and "Download CSV". Hidden for a plain
 * job.
 *
 * The table is asked for again when the sweep's indexes change (a phase, an output that
 * came back), and every `RESULTS_INTERVAL_MS` while the sweep runs and the view is visible
 * (VisibleRefresh.ts): a running index's records come from its pod's log before its phase
 * changes.
 */

import { button, downloadText, el } from '../dom';
import { isNotFound, messageOf } from '../errors';
import { Trans } from '../i18n';
import { isUnfinished } from '../models/status';
import { sweepProgress } from '../models/sweep';
import { IJobInfo, ISweepResults } from '../tokens';
import { SweepTable } from './SweepTable';
import { VisibleRefresh } from './VisibleRefresh';

/** How often a running sweep's table is asked for (ms). */
const RESULTS_INTERVAL_MS = 5000;

/** What the sweep's buttons and links do (the plugin implements them). */
export interface ISweepActions {
  /** Open a file of the workspace (an index's executed notebook). */
  openPath(path: string): void;
  /** Rerun the sweep's parameter sets that did not succeed. */
  rerunFailed(job: IJobInfo): void;
}

export class SweepResults {
  constructor(options: SweepResults.IOptions) {
    const trans = options.trans;
    this._trans = trans;
    this._jobId = options.jobId;
    this._fetch = options.fetch;
    this._fetchCSV = options.fetchCSV;
    this._actions = options.actions;

    this._section = el('section', 'jp-k8s-SweepResults');
    this._section.hidden = true;
    const title = el('h3', '', trans.__('Sweep results'));
    title.id = `${options.idPrefix}-sweep-title`;
    this._section.setAttribute('aria-labelledby', title.id);
    const bar = el('div', 'jp-k8s-SweepResults-bar');
    this._summary = el('span', 'jp-k8s-SweepResults-summary');
    this._rerun = button(
      'jp-mod-styled jp-mod-reject jp-k8s-JobDetail-button',
      trans.__('Rerun failed')
    );
    this._rerun.addEventListener('click', () => {
      if (this._job) {
        this._actions.rerunFailed(this._job);
      }
    });
    this._download = button(
      'jp-mod-styled jp-mod-reject jp-k8s-JobDetail-button',
      trans.__('Download CSV')
    );
    this._download.title = trans.__('The results table as a CSV file');
    this._download.addEventListener('click', () => {
      void this._downloadCSV();
    });
    bar.append(this._summary, this._rerun, this._download);
    this._status = el('div', 'jp-k8s-SweepResults-status jp-k8s-muted');
    this._status.setAttribute('role', 'status');
    this._table = new SweepTable({
      openPath: path => this._actions.openPath(path),
      label: trans.__('Results of sweep %1', options.jobId),
      trans
    });
    const scroll = el('div', 'jp-k8s-SweepResults-scroll');
    scroll.appendChild(this._table.node);
    this._section.append(title, bar, this._status, scroll);
    this.nodes = [this._section];

    this._refresh = new VisibleRefresh({
      host: options.host,
      name: 'jupyter-k8s:sweep-results',
      intervalMs: RESULTS_INTERVAL_MS,
      load: () => this._load(),
      ready: () => !!this._job?.sweep,
      // Something can still change: an index runs, or an output is on its way.
      live: () =>
        !!this._job &&
        !this._gone &&
        (isUnfinished(this._job) || this._job.output_state === 'pending')
    });
  }

  /** The elements, in order. */
  readonly nodes: readonly HTMLElement[];

  /** The table (for tests). */
  get table(): SweepTable {
    return this._table;
  }

  /**
   * The job as the view knows it (null: not known yet) and whether it is gone. Asks for
   * the table again when the sweep's indexes changed.
   */
  setJob(job: IJobInfo | null, gone: boolean): void {
    this._job = job;
    this._gone = gone;
    const sweep = job?.sweep ?? null;
    this._section.hidden = !sweep;
    if (!job || !sweep) {
      return;
    }
    const trans = this._trans;
    this._summary.textContent = `${sweepProgress(sweep, trans)} · ${trans.__(
      '%1 at once',
      sweep.parallelism
    )}`;
    const failed = sweep.failed + sweep.cancelled;
    this._rerun.hidden = failed === 0 || gone;
    this._rerun.disabled = isUnfinished(job);
    this._rerun.title = isUnfinished(job)
      ? trans.__(
          'Once the sweep has ended: run again the parameter sets that did not succeed'
        )
      : trans._n(
          'Run the %1 parameter set that did not succeed again, as a new sweep',
          'Run the %1 parameter sets that did not succeed again, as a new sweep',
          failed
        );
    const key = JSON.stringify([
      job.phase,
      job.output_state,
      sweep.indexes.map(i => [i.phase, i.output_state])
    ]);
    if (key !== this._indexesKey) {
      this._indexesKey = key;
      if (this._results) {
        this._table.setData(this._results, sweep.indexes);
      }
      void this.refresh();
    }
  }

  /**
   * Ask the server for the results table and show it. Called when the view opens or is
   * shown again, when the sweep's indexes change, and by the `Poll` (see the class
   * comment).
   */
  refresh(): Promise<void> {
    return this._refresh.refresh();
  }

  /** Ask no more until the next `refresh()` (the view is detached or hidden). */
  stop(): void {
    this._refresh.stop();
  }

  dispose(): void {
    this._refresh.dispose();
  }

  private async _load(): Promise<void> {
    try {
      this._results = await this._fetch(this._jobId);
      this._error = null;
    } catch (error) {
      this._error = isNotFound(error)
        ? null
        : this._trans.__('The results could not be read: %1', messageOf(error));
    }
    this._render();
  }

  private _render(): void {
    const trans = this._trans;
    if (this._results) {
      this._table.setData(this._results, this._job?.sweep?.indexes ?? []);
    }
    const status =
      this._error ??
      (this._results === null
        ? trans.__('Loading…')
        : this._results.records.length === 0
          ? trans.__(
              'Nothing recorded yet: a notebook records a value with jupyter_k8s_record("name", value).'
            )
          : '');
    this._status.textContent = status;
    this._status.hidden = !status;
    this._download.disabled = this._results === null;
  }

  private async _downloadCSV(): Promise<void> {
    try {
      const text = await this._fetchCSV(this._jobId);
      downloadText(`${this._jobId}.csv`, text, 'text/csv');
    } catch (error) {
      this._error = this._trans.__(
        'The CSV could not be downloaded: %1',
        messageOf(error)
      );
      this._render();
    }
  }

  private _trans: Trans;
  private _jobId: string;
  private _fetch: (id: string) => Promise<ISweepResults>;
  private _fetchCSV: (id: string) => Promise<string>;
  private _actions: ISweepActions;
  private _section: HTMLElement;
  private _summary: HTMLSpanElement;
  private _rerun: HTMLButtonElement;
  private _download: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _table: SweepTable;
  private _refresh: VisibleRefresh;
  private _job: IJobInfo | null = null;
  private _gone = false;
  private _results: ISweepResults | null = null;
  private _error: string | null = null;
  private _indexesKey = '';
}

export namespace SweepResults {
  /** What the section needs to know of the view it is in (a lumino `Widget`). */
  export type IHost = VisibleRefresh.IHost;

  export interface IOptions {
    jobId: string;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
    host: IHost;
    /** Where the table comes from (the REST API; tests pass their own). */
    fetch: (id: string) => Promise<ISweepResults>;
    /** Where the CSV comes from. */
    fetchCSV: (id: string) => Promise<string>;
    actions: ISweepActions;
    trans: Trans;
  }
}
