import {
  addIcon,
  refreshIcon,
  Toolbar,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { JobsModel } from '../jobsModel';
import { IJobFilter } from '../models/jobs';
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
    this.title.label = 'Jobs';
    this.title.caption = 'Notebook jobs on Kubernetes';
    this._model = options.model;
    this._onOpen = options.onOpen;

    this.toolbar = new Toolbar();
    this.toolbar.addItem(
      'submit',
      new ToolbarButton({
        icon: addIcon,
        tooltip: 'Run a notebook on Kubernetes…',
        onClick: () => options.onSubmit()
      })
    );
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh the job list',
        onClick: () => {
          void this._model.refresh(true);
        }
      })
    );

    // Filters
    const filters = document.createElement('div');
    filters.className = 'jp-k8s-JobsPanel-filters';
    this._status = document.createElement('select');
    this._status.className = 'jp-mod-styled jp-k8s-JobsPanel-status';
    this._status.setAttribute('aria-label', 'Show jobs with status');
    this._status.title = 'Show jobs with status';
    const choices: [string, string][] = [
      ['', 'All'],
      ['unfinished', 'Unfinished'],
      ...ALL_PHASES.map(p => [p, p] as [string, string])
    ];
    for (const [value, text] of choices) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = text;
      this._status.appendChild(option);
    }
    this._status.addEventListener('change', () => this._applyFilter());
    this._notebook = document.createElement('input');
    this._notebook.type = 'search';
    this._notebook.className = 'jp-mod-styled jp-k8s-JobsPanel-search';
    this._notebook.placeholder = 'Notebook…';
    this._notebook.setAttribute('aria-label', 'Filter jobs by notebook');
    this._notebook.addEventListener('input', () => this._applyFilter());
    filters.append(this._status, this._notebook);
    this.node.appendChild(filters);

    this._summary = document.createElement('div');
    this._summary.className = 'jp-k8s-JobsPanel-summary';
    this._summary.setAttribute('aria-live', 'polite');
    this.node.appendChild(this._summary);

    this._errorNode = document.createElement('div');
    this._errorNode.className = 'jp-k8s-JobsPanel-error';
    this._errorNode.setAttribute('role', 'alert');
    this.node.appendChild(this._errorNode);

    this.list = new VirtualList<IJobInfo>({
      label: 'Notebook jobs',
      rowHeight: ROW_HEIGHT,
      idPrefix: 'jp-k8s-job',
      keyOf: job => job.id,
      createRow,
      renderRow: (job, row) => renderRow(job, row, Date.now()),
      onActivate: job => this._onOpen(job.id)
    });
    this.list.setEmptyText('Loading jobs…');
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
    const store = this._model.store;
    const shown = store.filter(this.filter);
    this.list.setItems(shown);
    const total = store.size;
    const filtered = shown.length !== total;
    if (!this._model.loaded && total === 0) {
      this._summary.textContent = '';
      this.list.setEmptyText(this._model.error ? '' : 'Loading jobs…');
    } else {
      const running = store.all().filter(j => j.phase === 'Running').length;
      const pending = store.all().filter(j => j.phase === 'Pending').length;
      const parts = [
        filtered
          ? `${shown.length} of ${total} jobs`
          : `${total} job${total === 1 ? '' : 's'}`
      ];
      if (running) {
        parts.push(`${running} running`);
      }
      if (pending) {
        parts.push(`${pending} pending`);
      }
      this._summary.textContent = parts.join(' · ');
      this.list.setEmptyText(
        total === 0
          ? 'No jobs yet. Run a notebook with “Run on Kubernetes” in its toolbar.'
          : 'No job matches the filter.'
      );
    }
    const error = this._model.error;
    this._errorNode.textContent = error ? `Could not list jobs: ${error}` : '';
    this._errorNode.style.display = error ? '' : 'none';
  }

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
  }
}
