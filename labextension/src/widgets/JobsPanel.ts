import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import {
  addIcon,
  refreshIcon,
  Toolbar,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { el, option } from '../dom';
import { TRANSLATION_DOMAIN } from '../i18n';
import { JobsModel } from '../jobsModel';
import { IJobFilter } from '../models/jobs';
import { phaseLabel } from '../models/status';
import { ALL_PHASES, IJobInfo, JobPhase } from '../tokens';
import { createRow, renderRow } from './jobRow';
import { VirtualList } from './VirtualList';

/** Height of one job row in px (fixed: windowed rendering, and no jumps). */
export const ROW_HEIGHT = 46;

/**
 * The live job list of the side panel: filters (status, notebook), a count, and a windowed
 * list of rows (status chip with the reason, notebook, profile, age or duration, cell x/y).
 * Its visibility sets the polling cadence of the shared `JobsModel`.
 */
export class JobsPanel extends Widget {
  constructor(options: JobsPanel.IOptions) {
    super();
    this.id = 'jupyter-k8s-jobs';
    this.addClass('jp-k8s-JobsPanel');
    const trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._trans = trans;
    this.title.label = trans.__('Jobs');
    this.title.caption = trans.__('Notebook jobs on Kubernetes');
    this._model = options.model;
    this._onOpen = options.onOpen;

    this.toolbar = new Toolbar();
    this.toolbar.addItem(
      'submit',
      new ToolbarButton({
        icon: addIcon,
        tooltip: trans.__('Run a notebook on Kubernetes…'),
        onClick: () => options.onSubmit()
      })
    );
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh the job list'),
        onClick: () => {
          void this._model.refresh(true);
        }
      })
    );

    // Filters
    const filters = el('div', 'jp-k8s-JobsPanel-filters');
    this._status = el('select', 'jp-mod-styled jp-k8s-JobsPanel-status');
    this._status.setAttribute('aria-label', trans.__('Show jobs with status'));
    this._status.title = trans.__('Show jobs with status');
    this._status.append(
      option('', trans.__('All')),
      option('unfinished', trans.__('Unfinished')),
      ...ALL_PHASES.map(p => option(p, phaseLabel(p, trans)))
    );
    this._status.addEventListener('change', () => this._applyFilter());
    this._notebook = el('input', 'jp-mod-styled jp-k8s-JobsPanel-search');
    this._notebook.type = 'search';
    this._notebook.placeholder = trans.__('Notebook…');
    this._notebook.setAttribute(
      'aria-label',
      trans.__('Filter jobs by notebook')
    );
    this._notebook.addEventListener('input', () => this._applyFilter());
    filters.append(this._status, this._notebook);
    this.node.appendChild(filters);

    this._summary = el('div', 'jp-k8s-JobsPanel-summary');
    this._summary.setAttribute('aria-live', 'polite');
    this.node.appendChild(this._summary);

    this._errorNode = el('div', 'jp-k8s-JobsPanel-error');
    this._errorNode.setAttribute('role', 'alert');
    this.node.appendChild(this._errorNode);

    this.list = new VirtualList<IJobInfo>({
      label: trans.__('Notebook jobs'),
      rowHeight: ROW_HEIGHT,
      idPrefix: 'jp-k8s-job',
      keyOf: job => job.id,
      createRow,
      renderRow: (job, row) => renderRow(job, row, Date.now(), trans),
      onActivate: job => this._onOpen(job.id)
    });
    this.list.setEmptyText(trans.__('Loading jobs…'));
    this.node.appendChild(this.list.node);

    this._model.changed.connect(this._render, this);
    this._model.stateChanged.connect(this._render, this);
    this._render();
  }

  /** The section header's toolbar. */
  readonly toolbar: Toolbar;

  /** The windowed list (exposed for tests and measurements). */
  readonly list: VirtualList<IJobInfo>;

  /** The current filter. */
  get filter(): IJobFilter {
    const status = this._status.value as JobPhase | 'unfinished' | '';
    return {
      status: status ? [status] : [],
      notebook: this._notebook.value
    };
  }

  /** Mark a job as the active row (e.g. when its detail opens). */
  select(id: string): void {
    this.list.setActive(id);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._model.setViewVisible(this.id, false);
    this._model.changed.disconnect(this._render, this);
    this._model.stateChanged.disconnect(this._render, this);
    this.list.dispose();
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._model.setViewVisible(this.id, true);
    this.list.update();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._model.setViewVisible(this.id, this.isVisible);
  }

  protected onBeforeHide(msg: Message): void {
    this._model.setViewVisible(this.id, false);
    super.onBeforeHide(msg);
  }

  protected onBeforeDetach(msg: Message): void {
    this._model.setViewVisible(this.id, false);
    super.onBeforeDetach(msg);
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.list.update();
  }

  private _applyFilter(): void {
    this._render();
  }

  private _render(): void {
    const trans = this._trans;
    const store = this._model.store;
    const shown = store.filter(this.filter);
    this.list.setItems(shown);
    const total = store.size;
    const filtered = shown.length !== total;
    if (!this._model.loaded && total === 0) {
      this._summary.textContent = '';
      this.list.setEmptyText(
        this._model.error ? '' : trans.__('Loading jobs…')
      );
    } else {
      const running = store.all().filter(j => j.phase === 'Running').length;
      const pending = store.all().filter(j => j.phase === 'Pending').length;
      const parts = [
        filtered
          ? trans.__('%1 of %2 jobs', shown.length, total)
          : trans._n('%1 job', '%1 jobs', total)
      ];
      if (running) {
        parts.push(trans.__('%1 running', running));
      }
      if (pending) {
        parts.push(trans.__('%1 pending', pending));
      }
      this._summary.textContent = parts.join(' · ');
      this.list.setEmptyText(
        total === 0
          ? trans.__(
              'No jobs yet. Run a notebook with “Run on Kubernetes” in its toolbar.'
            )
          : trans.__('No job matches the filter.')
      );
    }
    const error = this._model.error;
    this._errorNode.textContent = error
      ? trans.__('Could not list jobs: %1', error)
      : '';
    this._errorNode.style.display = error ? '' : 'none';
  }

  private _trans: TranslationBundle;
  private _model: JobsModel;
  private _onOpen: (id: string) => void;
  private _status: HTMLSelectElement;
  private _notebook: HTMLInputElement;
  private _summary: HTMLDivElement;
  private _errorNode: HTMLDivElement;
}

export namespace JobsPanel {
  export interface IOptions {
    model: JobsModel;
    /** Open a job's detail. */
    onOpen: (id: string) => void;
    /** Open the submit dialog. */
    onSubmit: () => void;
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}
