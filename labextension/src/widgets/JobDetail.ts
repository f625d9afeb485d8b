import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  getJob,
  getJobEvents,
  getSweepResults,
  getSweepResultsCSV
} from '../api';
import { el } from '../dom';
import { TRANSLATION_DOMAIN } from '../i18n';
import { JobsModel } from '../jobsModel';
import { IJobsDiff } from '../models/jobs';
import { LogTail } from '../models/logs';
import { baseName, phaseLabel } from '../models/status';
import { ITimelineEntry } from '../models/timeline';
import { IJobEvent, IJobInfo, ISweepResults } from '../tokens';
import { JobLog } from './JobLog';
import { IJobActions, JobSummary } from './JobSummary';
import { JobTimeline } from './JobTimeline';
import { SweepResults } from './SweepResults';

/**
 * One job in the main area, in parts, each in its own module: the summary (status with the
 * reason, actions, fields, parameters; JobSummary.ts), for a sweep its results table
 * (SweepResults.ts), the events timeline (its milestones and the Kubernetes events of the
 * Job and its pods; JobTimeline.ts) and its log following live (the last `tailLines` lines
 * kept; JobLog.ts). This widget gives them the job from the shared `JobsModel` and tells
 * the model when it is visible.
 */
export class JobDetail extends Widget {
  constructor(options: JobDetail.IOptions) {
    super();
    this.addClass('jp-k8s-JobDetail');
    const trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._trans = trans;
    this.jobId = options.id;
    this.id = `jupyter-k8s-job-detail-${options.id}`;
    this.title.label = options.id;
    this.title.caption = trans.__('Kubernetes job %1', options.id);
    this.title.closable = true;
    this._model = options.model;
    this._sweep = new SweepResults({
      jobId: options.id,
      idPrefix: this.id,
      host: this,
      fetch: options.fetchResults ?? getSweepResults,
      fetchCSV: getSweepResultsCSV,
      actions: options.actions,
      trans
    });
    this._summary = new JobSummary({
      jobId: options.id,
      actions: options.actions,
      trans,
      fetchProvenance: id => getJob(id).then(job => job.provenance ?? null),
      afterFields: this._sweep.nodes
    });
    this._timeline = new JobTimeline({
      jobId: options.id,
      idPrefix: this.id,
      host: this,
      fetch: options.fetchEvents ?? getJobEvents,
      trans
    });
    this._log = new JobLog({
      jobId: options.id,
      idPrefix: this.id,
      host: this,
      tailLines: options.tailLines,
      trans
    });

    this.node.tabIndex = -1;
    // One column of siblings: the stylesheet hides all but the header while empty.
    const main = el('div', 'jp-k8s-JobDetail-main');
    main.append(
      ...this._summary.nodes,
      ...this._timeline.nodes,
      ...this._log.nodes
    );
    this.node.appendChild(main);

    this._model.changed.connect(this._onChanged, this);
    const known = this._model.store.get(this.jobId);
    this._setJob(known ?? null, false);
    if (!known) {
      void this._model.refresh(true).then(() => {
        const job = this._model.store.get(this.jobId) ?? null;
        this._setJob(job, job === null);
        this._log.update();
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
    return this._timeline.entries;
  }

  /** The log lines kept (for tests). */
  get logTail(): LogTail {
    return this._log.tail;
  }

  /** Ask the server for the job's events now (see JobTimeline.refresh). */
  refreshEvents(): Promise<void> {
    return this._timeline.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._log.dispose();
    this._timeline.dispose();
    this._sweep.dispose();
    this._model.setViewVisible(this.id, false);
    this._model.changed.disconnect(this._onChanged, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.setViewVisible(this.id, true);
    void this.refreshEvents();
    void this._sweep.refresh();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._model.setViewVisible(this.id, this.isVisible);
    this._log.update();
    void this.refreshEvents();
    void this._sweep.refresh();
  }

  protected onBeforeDetach(msg: Message): void {
    this._timeline.stop();
    this._sweep.stop();
    super.onBeforeDetach(msg);
  }

  protected onBeforeHide(msg: Message): void {
    this._model.setViewVisible(this.id, false);
    this._sweep.stop();
    super.onBeforeHide(msg);
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.node.focus();
  }

  private _onChanged(sender: JobsModel, diff: IJobsDiff): void {
    if (diff.removed.includes(this.jobId)) {
      this._setJob(this._job, true);
      return;
    }
    const job = [...diff.added, ...diff.changed].find(j => j.id === this.jobId);
    if (job) {
      this._setJob(job, false);
      this._log.update(true);
      void this.refreshEvents();
    }
  }

  /** Show the job (null: loading, or gone) in every part, and in the tab's title. */
  private _setJob(job: IJobInfo | null, gone: boolean): void {
    this._job = job;
    this._timeline.setJob(job, gone);
    this._sweep.setJob(job, gone);
    this._log.setJob(job, gone);
    // Without a job (loading, or deleted) only the heading shows.
    this.toggleClass('jp-mod-empty', !job);
    if (job) {
      this.title.label = `${baseName(job.notebook)} · ${phaseLabel(job.phase, this._trans)}`;
    }
    this._summary.render(job, gone);
  }

  private _trans: TranslationBundle;
  private _model: JobsModel;
  private _summary: JobSummary;
  private _timeline: JobTimeline;
  private _sweep: SweepResults;
  private _log: JobLog;
  private _job: IJobInfo | null = null;
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
    /** Where a sweep's results come from (default: the REST API). */
    fetchResults?: (id: string) => Promise<ISweepResults>;
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}
