import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { el } from '../dom';
import { messageOf } from '../errors';
import { TRANSLATION_DOMAIN } from '../i18n';
import { JobsModel } from '../jobsModel';
import { IJobsDiff } from '../models/jobs';
import { IScheduleInfo } from '../tokens';
import {
  createScheduleRow,
  IScheduleRowActions,
  renderScheduleRow
} from './scheduleRow';

/** Seconds between asks while the section shows (each costs the server a CronJob list). */
const INTERVAL = 10_000;

/**
 * The schedules of the side panel: each with its notebook, cron and time zone (in words
 * where easy), next run, last run and outcome, paused or not, and its actions.
 *
 * The server reads CronJobs from the cluster on each `GET /schedules` (they are few and not
 * watched), so this polls only while the section is visible, every 10 s (lumino `Poll`,
 * standing by in a hidden tab; the ETag makes an unchanged answer a 304), and at once when
 * a run of a schedule appears in or leaves the job list, or after an action.
 */
export class SchedulesPanel extends Widget {
  constructor(options: SchedulesPanel.IOptions) {
    super();
    this.id = 'jupyter-k8s-schedules';
    this.addClass('jp-k8s-SchedulesPanel');
    const trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._trans = trans;
    this._fetch = options.fetch;
    this._jobs = options.jobs;
    this._actions = options.actions;
    this.title.label = trans.__('Schedules');
    this.title.caption = trans.__('Notebooks run on a cron schedule');

    this.toolbar = new Toolbar();
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh the schedules'),
        onClick: () => {
          void this.refresh();
        }
      })
    );

    this._errorNode = el('div', 'jp-k8s-JobsPanel-error');
    this._errorNode.setAttribute('role', 'alert');
    this._errorNode.style.display = 'none';
    this._empty = el(
      'div',
      'jp-k8s-SchedulesPanel-empty',
      trans.__('Loading…')
    );
    this._list = el('ul', 'jp-k8s-SchedulesPanel-list');
    this._list.setAttribute('aria-label', trans.__('Schedules'));
    this.node.append(this._errorNode, this._empty, this._list);

    this._poll = new Poll({
      auto: false,
      factory: () => this._load(),
      frequency: { interval: INTERVAL, backoff: true, max: 60_000 },
      name: 'jupyter-k8s:schedules',
      standby: 'when-hidden'
    });
    this._jobs.changed.connect(this._onJobs, this);
  }

  /** The section header's toolbar. */
  readonly toolbar: Toolbar;

  /** The schedules as last answered (newest first). */
  get schedules(): readonly IScheduleInfo[] {
    return this._schedules;
  }

  /**
   * Ask the server now (after an action, or ↻). A hidden section asks once, without
   * starting its poll.
   */
  async refresh(): Promise<void> {
    if (!this.isVisible) {
      await this._load().catch(() => undefined);
      return;
    }
    await this._poll.refresh();
    await this._poll.tick;
  }

  /** Show one schedule the UI got by other means (just created, or changed) at once. */
  upsert(schedule: IScheduleInfo): void {
    const i = this._schedules.findIndex(s => s.id === schedule.id);
    this._schedules =
      i < 0
        ? [schedule, ...this._schedules]
        : this._schedules.map(s => (s.id === schedule.id ? schedule : s));
    this._render();
  }

  /** Forget a deleted schedule. */
  removeSchedule(id: string): void {
    this._schedules = this._schedules.filter(s => s.id !== id);
    this._render();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    this._jobs.changed.disconnect(this._onJobs, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this._poll.start();
    void this._poll.refresh();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      void this._poll.start();
      void this._poll.refresh();
    }
  }

  protected onBeforeHide(msg: Message): void {
    void this._poll.stop();
    super.onBeforeHide(msg);
  }

  protected onBeforeDetach(msg: Message): void {
    void this._poll.stop();
    super.onBeforeDetach(msg);
  }

  private async _load(): Promise<void> {
    try {
      this._schedules = await this._fetch();
      this._error = null;
      this._loaded = true;
    } catch (error) {
      this._error = messageOf(error);
      this._render();
      throw error; // the Poll backs off
    }
    this._render();
  }

  /**
   * A run of a schedule appeared, changed phase or went: its row's last run changes, and
   * the CronJob's times too, so ask again (while shown); otherwise just redraw the times.
   */
  private _onJobs(sender: JobsModel, diff: IJobsDiff): void {
    const runs = [...diff.added, ...diff.finished].some(j => !!j.schedule);
    if (runs && this.isVisible) {
      void this._poll.refresh();
    } else if (this._schedules.length) {
      this._render();
    }
  }

  private _render(): void {
    const trans = this._trans;
    this._errorNode.textContent = this._error
      ? trans.__('Could not list schedules: %1', this._error)
      : '';
    this._errorNode.style.display = this._error ? '' : 'none';
    this._empty.textContent = !this._loaded
      ? this._error
        ? ''
        : trans.__('Loading…')
      : trans.__(
          'No schedules. Tick “Run on a schedule” in the Run on Kubernetes dialog to make one.'
        );
    this._empty.hidden = this._schedules.length > 0;
    const now = Date.now();
    const jobOf = (id: string) => this._jobs.get(id);
    const keep = new Set(this._schedules.map(s => s.id));
    for (const [id, row] of this._rows) {
      if (!keep.has(id)) {
        row.remove();
        this._rows.delete(id);
      }
    }
    // In the server's order (newest first); existing rows are moved, not made again.
    let previous: HTMLElement | null = null;
    for (const schedule of this._schedules) {
      let row = this._rows.get(schedule.id);
      if (!row) {
        row = createScheduleRow(this._actions, trans);
        this._rows.set(schedule.id, row);
      }
      renderScheduleRow(schedule, row, jobOf, now, trans);
      const expected: Element | null = previous
        ? previous.nextElementSibling
        : this._list.firstElementChild;
      if (expected !== row) {
        this._list.insertBefore(row, expected);
      }
      previous = row;
    }
  }

  private _trans: TranslationBundle;
  private _fetch: () => Promise<IScheduleInfo[]>;
  private _jobs: JobsModel;
  private _actions: IScheduleRowActions;
  private _poll: Poll;
  private _schedules: IScheduleInfo[] = [];
  private _rows = new Map<string, HTMLElement>();
  private _loaded = false;
  private _error: string | null = null;
  private _errorNode: HTMLDivElement;
  private _empty: HTMLDivElement;
  private _list: HTMLUListElement;
}

export namespace SchedulesPanel {
  export interface IOptions {
    /** Where the schedules come from (the REST API). */
    fetch: () => Promise<IScheduleInfo[]>;
    /** The jobs (a schedule's runs, for their outcome). */
    jobs: JobsModel;
    actions: IScheduleRowActions;
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}
