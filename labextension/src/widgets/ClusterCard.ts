import { Dialog, showDialog } from '@jupyterlab/apputils';
import { refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { IDoctorReport, renderDoctorReport } from '../doctor';
import { requestAPI } from '../request';
import { IClusterInfo } from '../tokens';
import { el } from '../dom';

/** How often the card asks the server while it is visible (ms). */
const DEFAULT_INTERVAL = 10_000;

/**
 * A card that shows the cluster the Jupyter server talks to: reachable or not, context,
 * namespace, API server version, identity and GPUs (allocatable / in use, by resource name).
 *
 * It polls only while it is visible (and the browser tab too); hiding it stops the timer.
 */
export class ClusterCard extends Widget {
  constructor(options: ClusterCard.IOptions = {}) {
    super();
    this.id = 'jupyter-k8s-cluster-card';
    this.addClass('jp-k8s-ClusterCard');
    this.title.label = 'Cluster';
    this.title.caption = 'The Kubernetes cluster this server talks to';
    this._interval = options.interval ?? DEFAULT_INTERVAL;
    this._fetch = options.fetch ?? (() => requestAPI<IClusterInfo>('cluster'));
    this._doctor =
      options.doctor ?? (() => requestAPI<IDoctorReport>('doctor'));

    this.toolbar = new Toolbar();
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Refresh cluster information',
        onClick: () => {
          void this.refresh();
        }
      })
    );

    this._body = document.createElement('div');
    this._body.className = 'jp-k8s-ClusterCard-body';
    this.node.appendChild(this._body);
    this._renderLoading();
    this._onVisibility = () => this._syncTimer();
  }

  /** The toolbar shown in the card's section header. */
  readonly toolbar: Toolbar;

  /** The last answer, or null before the first one. */
  get info(): IClusterInfo | null {
    return this._info;
  }

  /**
   * Ask the server again and render the answer. Concurrent calls share one request.
   */
  refresh(): Promise<void> {
    if (this._pending) {
      return this._pending;
    }
    this.node.classList.add('jp-mod-loading');
    this._pending = this._fetch()
      .then(info => {
        this._info = info;
        this._error = null;
      })
      .catch((reason: unknown) => {
        this._error = reason instanceof Error ? reason.message : String(reason);
      })
      .then(() => {
        this._pending = null;
        this.node.classList.remove('jp-mod-loading');
        if (!this.isDisposed) {
          this._render();
        }
      });
    return this._pending;
  }

  /**
   * Run the checks of `jupyter k8s doctor` on the server (a probe pod included, so it takes
   * seconds) and show the checklist in a dialog.
   */
  async openDoctor(): Promise<void> {
    const body = new Widget();
    body.addClass('jp-k8s-DoctorDialog');
    body.node.appendChild(
      el(
        'div',
        'jp-k8s-ClusterCard-status',
        'Running the checks… (a probe pod takes a few seconds)'
      )
    );
    this._doctor()
      .then(report => {
        body.node.replaceChildren(renderDoctorReport(report));
      })
      .catch((reason: unknown) => {
        const message =
          reason instanceof Error ? reason.message : String(reason);
        body.node.replaceChildren(
          el(
            'div',
            'jp-k8s-ClusterCard-error',
            `The checks did not run: ${message}`
          )
        );
      });
    await showDialog({
      title: 'Kubernetes checks (jupyter k8s doctor)',
      body,
      buttons: [Dialog.okButton({ label: 'Close' })]
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._stopTimer();
    document.removeEventListener('visibilitychange', this._onVisibility);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    document.addEventListener('visibilitychange', this._onVisibility);
    this._syncTimer(true);
  }

  protected onBeforeDetach(msg: Message): void {
    document.removeEventListener('visibilitychange', this._onVisibility);
    this._stopTimer();
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._syncTimer(true);
  }

  protected onBeforeHide(msg: Message): void {
    this._stopTimer();
    super.onBeforeHide(msg);
  }

  /** Start or stop the timer to match visibility; refresh at once when it starts. */
  private _syncTimer(refreshNow = false): void {
    const visible = this.isVisible && document.visibilityState !== 'hidden';
    if (!visible) {
      this._stopTimer();
      return;
    }
    if (this._timer === null) {
      this._timer = window.setInterval(() => {
        void this.refresh();
      }, this._interval);
      void this.refresh();
    } else if (refreshNow) {
      void this.refresh();
    }
  }

  private _stopTimer(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private _renderLoading(): void {
    this._body.replaceChildren(
      el('div', 'jp-k8s-ClusterCard-status', 'Asking the server…')
    );
  }

  private _render(): void {
    const children: HTMLElement[] = [];
    const info = this._info;

    if (this._error !== null) {
      // The Jupyter server itself did not answer (or answered an error).
      children.push(statusLine('error', 'Jupyter server error'));
      children.push(el('div', 'jp-k8s-ClusterCard-error', this._error));
      children.push(this._doctorLink());
    } else if (info) {
      children.push(
        info.reachable
          ? statusLine('ok', 'Connected')
          : statusLine('error', 'Unreachable')
      );
      if (info.error) {
        children.push(el('div', 'jp-k8s-ClusterCard-error', info.error));
      } else if (info.stale) {
        // Reachable again (or never lost), but the job and kernel caches are catching up.
        children.push(
          el(
            'div',
            'jp-k8s-ClusterCard-error',
            `Statuses may be out of date: ${info.stale}`
          )
        );
      }
      if (info.error || !info.reachable) {
        children.push(this._doctorLink());
      }
    }

    if (info) {
      const rows: [string, string | null][] = [
        ['Context', info.context],
        ['Namespace', info.namespace],
        ['Server', info.server],
        ['Version', info.version],
        ['Identity', info.identity]
      ];
      const dl = el('dl', 'jp-k8s-ClusterCard-fields');
      for (const [label, value] of rows) {
        dl.appendChild(el('dt', '', label));
        const dd = el('dd', '', value ?? '—');
        dd.title = value ?? '';
        dl.appendChild(dd);
      }
      children.push(dl);
      children.push(renderGPUs(info));
    }
    this._body.replaceChildren(...children);
  }

  /** "Run checks (doctor)": shown under an error, opens the checklist. */
  private _doctorLink(): HTMLElement {
    const link = el('a', 'jp-k8s-ClusterCard-doctor', 'Run checks (doctor)');
    link.href = '#';
    link.setAttribute('role', 'button');
    link.title =
      'Check the kubeconfig, permissions, namespace, image and pod network, with the fix ' +
      'for each problem (jupyter k8s doctor)';
    link.style.display = 'inline-block';
    link.style.margin = '4px 0';
    link.style.color = 'var(--jp-content-link-color)';
    link.addEventListener('click', (event: MouseEvent) => {
      event.preventDefault();
      void this.openDoctor();
    });
    return link;
  }

  private _body: HTMLDivElement;
  private _info: IClusterInfo | null = null;
  private _error: string | null = null;
  private _pending: Promise<void> | null = null;
  private _timer: number | null = null;
  private _interval: number;
  private _fetch: () => Promise<IClusterInfo>;
  private _doctor: () => Promise<IDoctorReport>;
  private _onVisibility: () => void;
}

export namespace ClusterCard {
  export interface IOptions {
    /** Polling interval while visible, in milliseconds (default 10 s). */
    interval?: number;
    /** Where the information comes from (tests may pass their own). */
    fetch?: () => Promise<IClusterInfo>;
    /** Where the doctor's checklist comes from (tests may pass their own). */
    doctor?: () => Promise<IDoctorReport>;
  }
}

function statusLine(kind: 'ok' | 'error', text: string): HTMLElement {
  const line = el('div', `jp-k8s-ClusterCard-status jp-mod-${kind}`);
  line.appendChild(el('span', 'jp-k8s-ClusterCard-dot'));
  line.appendChild(el('span', '', text));
  return line;
}

function renderGPUs(info: IClusterInfo): HTMLElement {
  const section = el('div', 'jp-k8s-ClusterCard-gpus');
  section.appendChild(el('div', 'jp-k8s-ClusterCard-heading', 'GPUs'));
  if (info.gpus === null || info.gpus === undefined) {
    const text = info.gpus_error ?? (info.reachable ? 'Unknown' : '—');
    section.appendChild(el('div', 'jp-k8s-ClusterCard-muted', text));
    return section;
  }
  const names = Object.keys(info.gpus).sort();
  if (names.length === 0) {
    section.appendChild(
      el('div', 'jp-k8s-ClusterCard-muted', 'No GPUs in this cluster')
    );
    return section;
  }
  const table = el('table', 'jp-k8s-ClusterCard-table');
  const head = el('tr', '');
  head.appendChild(el('th', '', 'Resource'));
  head.appendChild(el('th', 'jp-k8s-num', 'In use'));
  head.appendChild(el('th', 'jp-k8s-num', 'Allocatable'));
  table.appendChild(head);
  for (const name of names) {
    const count = info.gpus[name];
    const row = el('tr', '');
    row.appendChild(el('td', '', name));
    row.appendChild(el('td', 'jp-k8s-num', String(count.in_use)));
    row.appendChild(el('td', 'jp-k8s-num', String(count.allocatable)));
    table.appendChild(row);
  }
  section.appendChild(table);
  return section;
}
