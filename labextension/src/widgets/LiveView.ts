import {
  IOutputAreaModel,
  OutputAreaModel,
  SimplifiedOutputArea
} from '@jupyterlab/outputarea';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { getLiveNotebook } from '../api';
import { button, el } from '../dom';
import { isNotFound, messageOf } from '../errors';
import { TRANSLATION_DOMAIN } from '../i18n';
import { JobsModel } from '../jobsModel';
import {
  ILiveCellView,
  isLive,
  liveStatus,
  mergeLive,
  readLive
} from '../models/live';
import { baseName, isUnfinished } from '../models/status';
import { IJobInfo, ILiveHeader, ILiveNotebook } from '../tokens';

/** How often a visible live view asks again while the job runs (ms). */
const INTERVAL = 1000;

/** One drawn cell: its node and what to dispose when it is drawn again. */
interface IDrawnCell {
  view: ILiveCellView;
  node: HTMLElement;
  widgets: { dispose(): void }[];
  /** Its outputs, attached once the cell's node is in the page. */
  outputs?: { area: Widget; host: HTMLElement };
}

/**
 * A running job's notebook, read-only, in the main area: its cells as the pod runs them
 * (`GET /jupyter-k8s/jobs/{id}/live`), code as code, markdown and outputs rendered through
 * JupyterLab's rendermime registry as untrusted (everything comes from the pod: no scripts,
 * sanitized HTML), the running cell highlighted and kept in view.
 *
 * A lumino `Poll` asks again every second while the view is visible and the job runs
 * (standing by in a hidden tab; the ETag makes an unchanged answer a 304), and once more
 * when it ended. Only cells whose content changed are drawn again (models/live.ts).
 */
export class LiveView extends Widget {
  constructor(options: LiveView.IOptions) {
    super();
    this.addClass('jp-k8s-LiveView');
    const trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._trans = trans;
    this.jobId = options.id;
    this.id = `jupyter-k8s-live-${options.id}`;
    this._model = options.model;
    this._rendermime = options.rendermime;
    this._languages = options.languages ?? null;
    this._fetch = options.fetch ?? getLiveNotebook;
    this.title.label = trans.__('Live: %1', options.id);
    this.title.caption = trans.__('Live view of Kubernetes job %1', options.id);
    this.title.closable = true;

    const header = el('div', 'jp-k8s-LiveView-header');
    this._heading = el('h2', '', options.id);
    this._status = el('div', 'jp-k8s-LiveView-status');
    this._status.setAttribute('aria-live', 'polite');
    this._updated = el('div', 'jp-k8s-LiveView-updated');
    const follow = el('label', 'jp-k8s-LiveView-follow');
    this._follow = el('input', '');
    this._follow.type = 'checkbox';
    this._follow.checked = true;
    follow.append(this._follow, ' ', trans.__('Keep the running cell in view'));
    const details = button(
      'jp-mod-styled jp-mod-reject jp-k8s-LiveView-details',
      trans.__('Job details')
    );
    details.addEventListener('click', () => options.openJob(this.jobId));
    header.append(this._heading, this._status, this._updated, follow, details);
    this._error = el('div', 'jp-k8s-LiveView-error');
    this._error.setAttribute('role', 'alert');
    this._error.hidden = true;
    this._cellsNode = el('div', 'jp-k8s-LiveView-cells jp-Notebook');
    this._cellsNode.setAttribute('role', 'list');
    this._cellsNode.setAttribute('aria-label', trans.__('Cells'));
    this.node.append(header, this._error, this._cellsNode);
    this.node.tabIndex = -1;

    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: INTERVAL, backoff: true, max: 10_000 },
      name: `jupyter-k8s:live:${options.id}`,
      standby: 'when-hidden'
    });
    this._model.changed.connect(this._onJobs, this);
    this._setJob(this._model.get(this.jobId));
  }

  /** The job's id. */
  readonly jobId: string;

  /** The cells drawn (for tests). */
  get cells(): readonly ILiveCellView[] {
    return this._drawn.map(d => d.view);
  }

  /** Ask the server now and draw what changed. Rejects when it could not (the Poll backs off). */
  async refresh(): Promise<void> {
    let notebook: ILiveNotebook;
    try {
      notebook = await this._fetch(this.jobId);
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      // 404: no cell started yet (still pending), or gone.
      this._showError(
        isNotFound(error)
          ? messageOf(error)
          : this._trans.__('Could not load the live view: %1', messageOf(error))
      );
      if (isNotFound(error) && this._job && !isUnfinished(this._job)) {
        void this._poll.stop();
        return;
      }
      throw error;
    }
    if (this.isDisposed) {
      return;
    }
    this._showError(null);
    const live = readLive(notebook);
    this._language = notebookLanguage(notebook);
    this._draw(live.cells);
    this._header = live.header;
    this._renderHeader();
    if (!isLive(live.header)) {
      void this._poll.stop();
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    this._model.changed.disconnect(this._onJobs, this);
    for (const cell of this._drawn) {
      cell.widgets.forEach(w => w.dispose());
    }
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._startIfLive();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._startIfLive();
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

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    this.node.focus();
  }

  /** Poll while the run can still change; else ask once (what it ended with). */
  private _startIfLive(): void {
    if (!this._header || isLive(this._header)) {
      void this._poll.start();
      void this._poll.refresh();
    }
  }

  private _onJobs(): void {
    const job = this._model.get(this.jobId);
    if (job !== this._job) {
      this._setJob(job);
      // The job ended: one more ask gets the last cells (then the Poll stops).
      if (job && !isUnfinished(job) && this.isVisible) {
        void this._poll.refresh();
      }
    }
  }

  private _setJob(job: IJobInfo | undefined): void {
    this._job = job ?? null;
    if (job) {
      this._heading.textContent = baseName(job.notebook);
      this._heading.title = job.notebook;
      this.title.label = this._trans.__('Live: %1', baseName(job.notebook));
    }
    this._renderHeader();
  }

  private _renderHeader(): void {
    const header: ILiveHeader = this._header ?? {
      phase: this._job?.phase,
      cell: this._job?.current_cell,
      total: this._job?.total_cells,
      line: this._job?.current_cell_line
    };
    this._status.textContent = liveStatus(header, this._trans);
    this._status.className = `jp-k8s-LiveView-status jp-mod-${(header.phase ?? '').toLowerCase()}`;
    if (this._header) {
      this._updated.textContent = this._trans.__(
        'Updated %1',
        new Date().toLocaleTimeString()
      );
    }
  }

  private _showError(text: string | null): void {
    this._error.textContent = text ?? '';
    this._error.hidden = !text;
  }

  /** Draw the cells that changed; the running one highlighted and (when asked) in view. */
  private _draw(next: ILiveCellView[]): void {
    const merged = mergeLive(
      this._drawn.map(d => d.view),
      next
    );
    if (merged.restructured) {
      for (const cell of this._drawn) {
        cell.widgets.forEach(w => w.dispose());
      }
      this._cellsNode.replaceChildren();
      this._drawn = [];
    }
    for (const i of merged.changed) {
      const drawn = this._drawCell(merged.cells[i]);
      const old = this._drawn[i];
      if (old) {
        old.widgets.forEach(w => w.dispose());
        old.node.replaceWith(drawn.node);
      } else {
        this._cellsNode.appendChild(drawn.node);
      }
      if (drawn.outputs) {
        // Not a child widget of this one: attached by hand (renderers get their attach
        // messages), or just placed while this view is not in the page.
        if (drawn.node.isConnected) {
          Widget.attach(drawn.outputs.area, drawn.outputs.host);
        } else {
          drawn.outputs.host.appendChild(drawn.outputs.area.node);
        }
      }
      this._drawn[i] = drawn;
    }
    const running = this._drawn.find(d => d.view.state === 'running');
    if (
      running &&
      this._follow.checked &&
      running.view.key !== this._runningKey
    ) {
      running.node.scrollIntoView({ block: 'nearest' });
    }
    this._runningKey = running?.view.key ?? null;
  }

  private _drawCell(view: ILiveCellView): IDrawnCell {
    const trans = this._trans;
    const node = el(
      'div',
      `jp-k8s-LiveCell jp-mod-${view.type} jp-mod-${view.state}`
    );
    node.setAttribute('role', 'listitem');
    node.dataset.state = view.state;
    node.dataset.key = view.key;
    const widgets: { dispose(): void }[] = [];
    if (view.type === 'markdown') {
      const widget = this._render('text/markdown', view.source);
      if (widget) {
        widgets.push(widget);
        node.appendChild(widget.node);
      }
      return { view, node, widgets };
    }
    if (view.type === 'raw') {
      node.appendChild(el('pre', 'jp-k8s-LiveCell-source', view.source));
      return { view, node, widgets };
    }
    const input = el('div', 'jp-k8s-LiveCell-input');
    const prompt = el(
      'div',
      'jp-k8s-LiveCell-prompt jp-InputPrompt',
      view.state === 'running'
        ? '[*]:'
        : view.executionCount !== null
          ? `[${view.executionCount}]:`
          : '[ ]:'
    );
    prompt.title = stateLabel(view.state, trans);
    const source = el('pre', 'jp-k8s-LiveCell-source');
    this._highlight(view.source, source);
    input.append(prompt, source);
    node.appendChild(input);
    if (view.outputs.length) {
      const model = new OutputAreaModel({
        values: view.outputs as unknown as IOutputAreaModel.IOptions['values'],
        trusted: false
      });
      const area = new SimplifiedOutputArea({
        model,
        rendermime: this._rendermime
      });
      area.addClass('jp-k8s-LiveCell-outputs');
      widgets.push(area, model);
      return { view, node, widgets, outputs: { area, host: node } };
    }
    return { view, node, widgets };
  }

  /** Code as the notebook shows it: highlighted by JupyterLab's CodeMirror languages. */
  private _highlight(code: string, node: HTMLElement): void {
    const languages = this._languages;
    const language = languages?.findBest(this._language) ?? null;
    if (!languages || !language) {
      node.textContent = code;
      return;
    }
    languages.highlight(code, language, node).catch(() => {
      node.textContent = code;
    });
  }

  /** One untrusted mime bundle rendered (markdown cells). */
  private _render(mimeType: string, text: string): Widget | null {
    const renderer = this._rendermime.createRenderer(mimeType);
    const model = new MimeModel({ data: { [mimeType]: text }, trusted: false });
    void renderer.renderModel(model);
    return renderer;
  }

  private _trans: TranslationBundle;
  private _model: JobsModel;
  private _rendermime: IRenderMimeRegistry;
  private _languages: IEditorLanguageRegistry | null;
  private _language = 'python';
  private _fetch: (id: string) => Promise<ILiveNotebook>;
  private _poll: Poll;
  private _job: IJobInfo | null = null;
  private _header: ILiveHeader | null = null;
  private _drawn: IDrawnCell[] = [];
  private _runningKey: string | null = null;
  private _heading: HTMLHeadingElement;
  private _status: HTMLDivElement;
  private _updated: HTMLDivElement;
  private _follow: HTMLInputElement;
  private _error: HTMLDivElement;
  private _cellsNode: HTMLDivElement;
}

export namespace LiveView {
  export interface IOptions {
    id: string;
    model: JobsModel;
    rendermime: IRenderMimeRegistry;
    /** Highlights the code (none: plain text). */
    languages?: IEditorLanguageRegistry | null;
    /** Show the job's view. */
    openJob: (id: string) => void;
    /** Where the live notebook comes from (default: the REST API). */
    fetch?: (id: string) => Promise<ILiveNotebook>;
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}

/** The notebook's language (`language_info`, else the kernelspec's), default Python. */
function notebookLanguage(notebook: ILiveNotebook): string {
  const meta = notebook.metadata as {
    language_info?: { name?: unknown };
    kernelspec?: { language?: unknown };
  };
  const name = meta.language_info?.name ?? meta.kernelspec?.language;
  return typeof name === 'string' && name ? name : 'python';
}

/** A cell's state for a tooltip. */
function stateLabel(state: string, trans: TranslationBundle): string {
  switch (state) {
    case 'running':
      return trans.__('Running');
    case 'done':
      return trans.__('Done');
    case 'failed':
      return trans.__('Failed');
    default:
      return trans.__('Not run yet');
  }
}
