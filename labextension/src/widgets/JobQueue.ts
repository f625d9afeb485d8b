/**
 * The Queue block of a job's view, for a job put in a Kueue queue: its state, LocalQueue and
 * ClusterQueue, its position while it waits, its priority class, the ClusterQueue's usage
 * ("nvidia.com/gpu 1 of 1", a line per resource) and Kueue's message. Rendered again at
 * every poll that changes the job. Plain DOM, text only (the values come from the cluster).
 */

import { el } from '../dom';
import { Trans } from '../i18n';
import { isQueueWaiting, queueRows } from '../models/queue';
import { IJobInfo } from '../tokens';

export class JobQueue {
  constructor(trans: Trans) {
    this._trans = trans;
    this._heading = el('h3', 'jp-k8s-JobQueue-heading', trans.__('Queue'));
    this._fields = el('dl', 'jp-k8s-JobQueue');
    this._fields.setAttribute('aria-label', trans.__('Kueue queue'));
    this.nodes = [this._heading, this._fields];
    this.render(null);
  }

  /** The elements, in order: heading and fields. */
  readonly nodes: readonly HTMLElement[];

  /** Show the job's queue; hidden for a job in no queue (or none). */
  render(job: IJobInfo | null): void {
    const queue = job?.queue ?? null;
    const shown = !!queue;
    this._heading.style.display = shown ? '' : 'none';
    this._fields.style.display = shown ? '' : 'none';
    this._fields.replaceChildren();
    if (!queue) {
      return;
    }
    this._fields.classList.toggle('jp-mod-waiting', isQueueWaiting(queue));
    for (const { key, label, value } of queueRows(queue, this._trans)) {
      const dt = el('dt', '', label);
      const dd = el('dd', '');
      dd.dataset.field = key;
      if (Array.isArray(value)) {
        for (const line of value) {
          dd.appendChild(el('div', 'jp-k8s-JobQueue-line', line));
        }
        dd.title = value.join('\n');
      } else {
        dd.textContent = value;
        dd.title = value;
      }
      this._fields.append(dt, dd);
    }
  }

  private _trans: Trans;
  private _heading: HTMLElement;
  private _fields: HTMLElement;
}
