import { Dialog, showDialog } from '@jupyterlab/apputils';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { refreshIcon, Toolbar, ToolbarButton } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { IDoctorReport, renderDoctorReport } from '../doctor';
import { el } from '../dom';
import { messageOf } from '../errors';
import { TRANSLATION_DOMAIN } from '../i18n';
import { requestAPI } from '../request';
import { IClusterInfo } from '../tokens';

/** How often the card asks the server while it is visible (ms). */
const DEFAULT_INTERVAL = 10_000;

/**
 * A card that shows the cluster the Jupyter server talks to: reachable or not, context,
 * namespace, API server version, identity and GPUs (allocatable / in use, by resource name).
 *
 * It polls only while it is visible: a lumino `Poll` that stops when the card is hidden
 * and stands by while the browser tab is hidden (the card is only for display); it asks
 * at once when the card or the tab shows again.
 */
export class ClusterCard extends Widget {
  constructor(options: ClusterCard.IOptions = {}) {
    super();
    this.id = 'jupyter-k8s-cluster-card';
    this.addClass('jp-k8s-ClusterCard');
    const trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._trans = trans;
    this.title.label = trans.__('Cluster');
    this.title.caption = trans.__(
      'The Kubernetes cluster this server talks to'
    );
    this._fetch = options.fetch ?? (() => requestAPI<IClusterInfo>('cluster'));
    this._doctor =
      options.doctor ?? (() => requestAPI<IDoctorReport>('doctor'));
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: {
        interval: options.interval ?? DEFAULT_INTERVAL,
        backoff: false
      },
      linger: 0,
      name: 'jupyter-k8s:cluster',
      standby: 'when-hidden'
    });

    this.toolbar = new Toolbar();
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: trans.__('Refresh cluster information'),
        onClick: () => {
          void this.refresh();
        }
      })
    );

    this._body = el('div', 'jp-k8s-ClusterCard-body');
    this.node.appendChild(this._body);
    this._renderLoading();
    this._onVisibility = () => {
      if (document.visibilityState !== 'hidden' && this.isVisible) {
        void this._poll.refresh();
      }
    };
  }

  /** The toolbar shown in the card's section header. */
  readonly toolbar: Toolbar;

  /** The last answer, or null before the first one. */
  get info(): IClusterInfo | null {
    return this._info;
  }

  /**
   * Ask the server again and render the answer. Concurrent calls share one request; it
   * never rejects (an error is shown in the card).
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
        this._error = messageOf(reason);
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
    const trans = this._trans;
    const body = new Widget();
    body.addClass('jp-k8s-DoctorDialog');
    body.node.appendChild(
      el(
        'div',
        'jp-k8s-ClusterCard-status',
        trans.__('Running the checks… (a probe pod takes a few seconds)')
      )
    );
    this._doctor()
      .then(report => {
        body.node.replaceChildren(renderDoctorReport(report, trans));
      })
      .catch((reason: unknown) => {
        body.node.replaceChildren(
          el(
            'div',
            'jp-k8s-ClusterCard-error',
            trans.__('The checks did not run: %1', messageOf(reason))
          )
        );
      });
    await showDialog({
      title: trans.__('Kubernetes checks (jupyter k8s doctor)'),
      body,
      buttons: [Dialog.okButton({ label: trans.__('Close') })]
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    document.removeEventListener('visibilitychange', this._onVisibility);
    super.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    document.addEventListener('visibilitychange', this._onVisibility);
    this._startPolling();
  }

  protected onBeforeDetach(msg: Message): void {
    document.removeEventListener('visibilitychange', this._onVisibility);
    void this._poll.stop();
    super.onBeforeDetach(msg);
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._startPolling();
  }

  protected onBeforeHide(msg: Message): void {
    void this._poll.stop();
    super.onBeforeHide(msg);
  }

  /** Visible: ask at once, then every interval (the `Poll`'s refresh restarts it). */
  private _startPolling(): void {
    if (this.isVisible) {
      void this._poll.refresh();
    }
  }

  private _renderLoading(): void {
    this._body.replaceChildren(
      el(
        'div',
        'jp-k8s-ClusterCard-status',
        this._trans.__('Asking the server…')
      )
    );
  }

  private _render(): void {
    const trans = this._trans;
    const children: HTMLElement[] = [];
    const info = this._info;

    if (this._error !== null) {
      // The Jupyter server itself did not answer (or answered an error).
      children.push(statusLine('error', trans.__('Jupyter server error')));
      children.push(el('div', 'jp-k8s-ClusterCard-error', this._error));
      children.push(this._doctorLink());
    } else if (info) {
      children.push(
        info.reachable
          ? statusLine('ok', trans.__('Connected'))
          : statusLine('error', trans.__('Unreachable'))
      );
      if (info.error) {
        children.push(el('div', 'jp-k8s-ClusterCard-error', info.error));
      } else if (info.stale) {
        // Reachable again (or never lost), but the job and kernel caches are catching up.
        children.push(
          el(
            'div',
            'jp-k8s-ClusterCard-error',
            trans.__('Statuses may be out of date: %1', info.stale)
          )
        );
      }
      if (info.error || !info.reachable) {
        children.push(this._doctorLink());
      }
    }

    if (info) {
      const rows: [string, string | null][] = [
        [trans.__('Context'), info.context],
        [trans.__('Namespace'), info.namespace],
        [trans.__('Server'), info.server],
        [trans.__('Version'), info.version],
        [trans.__('Identity'), info.identity]
      ];
      const dl = el('dl', 'jp-k8s-ClusterCard-fields');
      for (const [label, value] of rows) {
        dl.appendChild(el('dt', '', label));
        const dd = el('dd', '', value ?? '—');
        dd.title = value ?? '';
        dl.appendChild(dd);
      }
      children.push(dl);
      children.push(renderGPUs(info, trans));
    }
    this._body.replaceChildren(...children);
  }

  /** "Run checks (doctor)": shown under an error, opens the checklist. */
  private _doctorLink(): HTMLElement {
    const trans = this._trans;
    const link = el(
      'a',
      'jp-k8s-ClusterCard-doctor',
      trans.__('Run checks (doctor)')
    );
    link.href = '#';
    link.setAttribute('role', 'button');
    link.title = trans.__(
      'Check the kubeconfig, permissions, namespace, image and pod network, with the fix for each problem (jupyter k8s doctor)'
    );
    link.style.display = 'inline-block';
    link.style.margin = '4px 0';
    link.style.color = 'var(--jp-content-link-color)';
    link.addEventListener('click', (event: MouseEvent) => {
      event.preventDefault();
      void this.openDoctor();
    });
    return link;
  }

  private _trans: TranslationBundle;
  private _body: HTMLDivElement;
  private _info: IClusterInfo | null = null;
  private _error: string | null = null;
  private _pending: Promise<void> | null = null;
  private _poll: Poll;
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
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}

function statusLine(kind: 'ok' | 'error', text: string): HTMLElement {
  const line = el('div', `jp-k8s-ClusterCard-status jp-mod-${kind}`);
  line.appendChild(el('span', 'jp-k8s-ClusterCard-dot'));
  line.appendChild(el('span', '', text));
  return line;
}

function renderGPUs(info: IClusterInfo, trans: TranslationBundle): HTMLElement {
  const section = el('div', 'jp-k8s-ClusterCard-gpus');
  section.appendChild(
    el('div', 'jp-k8s-ClusterCard-heading', trans.__('GPUs'))
  );
  if (info.gpus === null || info.gpus === undefined) {
    const text =
      info.gpus_error ?? (info.reachable ? trans.__('Unknown') : '—');
    section.appendChild(el('div', 'jp-k8s-ClusterCard-muted', text));
    return section;
  }
  const names = Object.keys(info.gpus).sort();
  if (names.length === 0) {
    section.appendChild(
      el('div', 'jp-k8s-ClusterCard-muted', trans.__('No GPUs in this cluster'))
    );
    return section;
  }
  const table = el('table', 'jp-k8s-ClusterCard-table');
  const head = el('tr', '');
  head.appendChild(el('th', '', trans.__('Resource')));
  head.appendChild(el('th', 'jp-k8s-num', trans.__('In use')));
  head.appendChild(el('th', 'jp-k8s-num', trans.__('Allocatable')));
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
