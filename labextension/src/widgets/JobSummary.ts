/**
 * The top of a job's view: status chip and notebook, the action buttons, the reason and
 * message in Kubernetes' words, the fields (id, profile, image, times, progress, output),
 * a queued job's Kueue queue (JobQueue.ts), the parameters the job got and its provenance (what ran where, as the executed
 * notebook's metadata records it).
 */

import { button, el } from '../dom';
import { formatJSON } from '../models/parameters';
import {
  baseName,
  cellProgress,
  formatDuration,
  formatTime,
  isUnfinished,
  statusChip
} from '../models/status';
import { sweepProgress } from '../models/sweep';
import { Trans } from '../i18n';
import { IJobInfo, IProvenance } from '../tokens';
import { JobQueue } from './JobQueue';
import type { ISweepActions } from './SweepResults';

/** What the view's buttons and links do (the plugin implements them). */
export interface IJobActions extends ISweepActions {
  openOutput(job: IJobInfo): void;
  /** Show the notebook as it executes (the live view). */
  openLive(job: IJobInfo): void;
  rerun(job: IJobInfo, edit: boolean): void;
  cancel(job: IJobInfo): void;
  remove(job: IJobInfo): void;
}

/**
 * The summary of one job. Plain DOM: its `nodes` go straight into the job view's column
 * (the view's stylesheet lays them out as siblings).
 */
export class JobSummary {
  constructor(options: JobSummary.IOptions) {
    const trans = options.trans;
    this._trans = trans;
    this._jobId = options.jobId;
    this._actions = options.actions;
    this._fetchProvenance = options.fetchProvenance;
    this._header = el('div', 'jp-k8s-JobDetail-header');
    this._buttons = el('div', 'jp-k8s-JobDetail-actions');
    this._buttons.setAttribute('role', 'toolbar');
    this._buttons.setAttribute('aria-label', trans.__('Job actions'));
    this._reason = el('div', 'jp-k8s-JobDetail-reason');
    this._fields = el('dl', 'jp-k8s-JobDetail-fields');
    this._params = el('div', 'jp-k8s-JobDetail-params');
    this._provenance = el('div', 'jp-k8s-JobDetail-provenance');
    this._queue = new JobQueue(trans);
    this.nodes = [
      this._header,
      this._buttons,
      this._reason,
      this._fields,
      ...this._queue.nodes,
      ...(options.afterFields ?? []),
      el('h3', '', trans.__('Parameters')),
      this._params,
      el('h3', '', trans.__('Provenance')),
      this._provenance
    ];
  }

  /** The elements, in order. */
  readonly nodes: readonly HTMLElement[];

  /** Show the job (null: loading, or `gone`: it no longer exists). */
  render(job: IJobInfo | null, gone: boolean): void {
    const trans = this._trans;
    this._header.replaceChildren();
    if (!job) {
      this._header.appendChild(
        el(
          'h2',
          '',
          gone
            ? trans.__('Job %1 no longer exists', this._jobId)
            : trans.__('Loading…')
        )
      );
      this._buttons.replaceChildren();
      this._queue.render(null);
      return;
    }
    const chip = statusChip(job, trans);
    const chipNode = el('span', `jp-k8s-Chip jp-mod-${chip.tone}`, chip.text);
    chipNode.title = chip.title;
    const h2 = el('h2', '', baseName(job.notebook));
    h2.title = job.notebook;
    this._header.append(chipNode, h2);
    if (gone) {
      this._header.appendChild(el('span', '', trans.__('(deleted)')));
    }

    this._renderButtons(job, gone);

    // Reason and message, in Kubernetes' words
    this._reason.replaceChildren();
    if (job.reason || job.message) {
      this._reason.className = `jp-k8s-JobDetail-reason jp-mod-${chip.tone}`;
      if (job.reason) {
        this._reason.appendChild(el('strong', '', job.reason));
      }
      if (job.message) {
        this._reason.appendChild(el('span', '', job.message));
      }
      this._reason.style.display = '';
    } else {
      this._reason.style.display = 'none';
    }

    // Fields
    const rows: [string, string][] = [
      [trans.__('Job'), job.id],
      [trans.__('Notebook'), job.notebook],
      [trans.__('Profile'), job.profile ?? '—'],
      [trans.__('Image'), job.image ?? '—'],
      [trans.__('Created'), formatTime(job.created)],
      [trans.__('Started'), formatTime(job.started)],
      [trans.__('Finished'), formatTime(job.finished)],
      [
        trans.__('Duration'),
        formatDuration(job.duration_seconds, trans) || '—'
      ],
      [
        trans.__('Progress'),
        (job.sweep
          ? sweepProgress(job.sweep, trans)
          : cellProgress(job, trans)) || '—'
      ],
      [trans.__('Output'), outputText(job, trans)]
    ];
    this._fields.replaceChildren();
    for (const [label, value] of rows) {
      this._fields.appendChild(el('dt', '', label));
      const dd = el('dd', '', value);
      dd.title = value;
      this._fields.appendChild(dd);
    }

    this._queue.render(job);

    // Parameters
    this._params.replaceChildren();
    const names = Object.keys(job.parameters ?? {});
    if (names.length === 0) {
      this._params.appendChild(
        el(
          'div',
          'jp-k8s-muted',
          job.sweep
            ? trans.__('Each parameter set’s values are in the sweep results.')
            : trans.__('None: the notebook’s own values.')
        )
      );
    } else {
      const table = el('table', 'jp-k8s-JobDetail-paramTable');
      const head = el('tr', '');
      head.append(
        el('th', '', trans.__('Name')),
        el('th', '', trans.__('Value'))
      );
      table.appendChild(head);
      for (const name of names) {
        const tr = el('tr', '');
        tr.append(
          el('td', '', name),
          el('td', '', formatJSON(job.parameters[name]))
        );
        table.appendChild(tr);
      }
      this._params.appendChild(table);
    }

    this._renderProvenance(job);
  }

  /**
   * The provenance section. The job list leaves `provenance` out, so for a job whose output
   * is collected it is asked for once (the job detail of the REST API), then shown.
   */
  private _renderProvenance(job: IJobInfo): void {
    const trans = this._trans;
    const known =
      job.provenance ??
      (this._fetched?.job_id === job.id ? this._fetched : null);
    if (
      !known &&
      this._fetchProvenance &&
      job.output_state === 'ready' &&
      !isUnfinished(job) &&
      this._asked !== job.id
    ) {
      this._asked = job.id;
      this._fetchProvenance(job.id)
        .then(provenance => {
          if (provenance) {
            this._fetched = provenance;
            this._renderProvenance(job);
          } else {
            this._asked = ''; // not stamped yet: asked again at the next change
          }
        })
        .catch(() => {
          this._asked = '';
        });
    }
    this._provenance.replaceChildren();
    if (!known) {
      this._provenance.appendChild(
        el(
          'div',
          'jp-k8s-muted',
          job.sweep
            ? trans.__(
                'Each parameter set’s executed notebook carries its own (open it from the sweep results).'
              )
            : trans.__('Recorded when the executed notebook is collected.')
        )
      );
      return;
    }
    const dl = el('dl', 'jp-k8s-JobDetail-provenanceFields');
    for (const [label, value] of provenanceRows(known, trans)) {
      dl.appendChild(el('dt', '', label));
      const dd = el('dd', '', value);
      dd.title = value;
      dl.appendChild(dd);
    }
    this._provenance.appendChild(dl);
  }

  private _renderButtons(job: IJobInfo, gone: boolean): void {
    const trans = this._trans;
    const unfinished = isUnfinished(job);
    const specs: [string, string, boolean, () => void][] = [
      [
        trans.__('Open output'),
        job.sweep
          ? trans.__(
              'Each parameter set has its own notebook: open it from the results table'
            )
          : job.output_state === 'ready'
            ? trans.__('Open %1', job.output_path)
            : job.output_state === 'pending'
              ? trans.__('The executed notebook is not there yet')
              : trans.__('No executed notebook'),
        !job.sweep && job.output_state === 'ready' && !!job.output_path,
        () => this._actions.openOutput(job)
      ],
      [
        trans.__('Open live view'),
        job.sweep
          ? trans.__(
              'Each parameter set runs a notebook of its own: see the results table'
            )
          : job.current_cell
            ? trans.__('The notebook as it executes, cell by cell (read-only)')
            : trans.__('No cell has started yet'),
        !job.sweep && !gone && !!job.current_cell,
        () => this._actions.openLive(job)
      ],
      [
        trans.__('Rerun'),
        trans.__('Run the notebook again with the same parameters'),
        !gone,
        () => this._actions.rerun(job, false)
      ],
      [
        trans.__('Rerun with changes…'),
        trans.__('Run the notebook again with other parameters'),
        !gone,
        () => this._actions.rerun(job, true)
      ],
      [
        trans.__('Cancel'),
        trans.__('Stop the job; the notebook is kept as far as it got'),
        unfinished && !gone,
        () => this._actions.cancel(job)
      ],
      [
        trans.__('Delete'),
        trans.__('Delete the job and its log (the executed notebook stays)'),
        !gone,
        () => this._actions.remove(job)
      ]
    ];
    // Update the buttons in place so focus stays where it is across polls.
    if (this._buttons.children.length !== specs.length) {
      this._buttons.replaceChildren(
        ...specs.map(([label], i) => {
          const b = button(
            'jp-mod-styled jp-k8s-JobDetail-button' +
              (i === 0
                ? ' jp-mod-accept'
                : i === specs.length - 1
                  ? ' jp-mod-warn'
                  : ' jp-mod-reject'),
            label
          );
          b.addEventListener('click', () => this._handlers[i]?.());
          return b;
        })
      );
    }
    this._handlers = specs.map(s => s[3]);
    specs.forEach(([, title, enabled], i) => {
      const b = this._buttons.children[i] as HTMLButtonElement;
      b.title = title;
      b.disabled = !enabled;
    });
  }

  private _trans: Trans;
  private _jobId: string;
  private _actions: IJobActions;
  private _header: HTMLDivElement;
  private _buttons: HTMLDivElement;
  private _handlers: (() => void)[] = [];
  private _reason: HTMLDivElement;
  private _fields: HTMLDListElement;
  private _params: HTMLDivElement;
  private _provenance: HTMLDivElement;
  private _queue: JobQueue;
  private _fetchProvenance?: (id: string) => Promise<IProvenance | null>;
  private _fetched: IProvenance | null = null;
  private _asked = '';
}

export namespace JobSummary {
  export interface IOptions {
    jobId: string;
    actions: IJobActions;
    /** The extension's bundle (any `Trans`: tests pass `english`). */
    trans: Trans;
    /** The job's provenance from the job detail (the list leaves it out); none: not shown
     * until the job itself carries it. */
    fetchProvenance?: (id: string) => Promise<IProvenance | null>;
    /** Elements shown right after the fields (a sweep's results). */
    afterFields?: readonly HTMLElement[];
  }
}

/** Where the executed notebook is, in words. */
function outputText(job: IJobInfo, trans: Trans): string {
  const path = job.output_path ?? '';
  if (job.sweep && path && job.output_state !== 'none') {
    // A sweep's index k writes <stem>-<k>.ipynb (the base path itself is never written).
    return trans.__(
      '%1, one per parameter set',
      path.replace(/\.ipynb$/, '-<k>.ipynb')
    );
  }
  switch (job.output_state) {
    case 'ready':
      return path;
    case 'pending':
      return path
        ? trans.__('%1 (not there yet)', path)
        : trans.__('not there yet');
    case 'error':
      return trans.__(
        'could not be collected: %1',
        job.output_error ?? trans.__('unknown error')
      );
    default:
      return trans.__('none (the notebook never started)');
  }
}

/**
 * The provenance stamp as (label, value) rows: how the job ended, the image the node ran
 * (its digest), where, on which GPUs and for how long, and what it cost where the profile
 * says. Values the server left out (no GPUs, no cost) have no row.
 */
export function provenanceRows(
  p: IProvenance,
  trans: Trans
): [string, string][] {
  const rows: [string, string][] = [
    [
      trans.__('Outcome'),
      p.reason && p.reason !== p.outcome
        ? trans.__('%1 (%2)', p.outcome, p.reason)
        : p.outcome
    ],
    [trans.__('Image digest'), p.image_digest ?? '—'],
    [trans.__('Node'), p.node ?? '—']
  ];
  if (p.gpu_count) {
    rows.push([
      trans.__('GPUs'),
      p.gpu_product
        ? trans.__('%1 × %2 (%3)', p.gpu_count, p.gpu_resource, p.gpu_product)
        : trans.__('%1 × %2', p.gpu_count, p.gpu_resource)
    ]);
    rows.push([trans.__('GPU-hours'), (p.gpu_hours ?? 0).toFixed(4)]);
  }
  rows.push([
    trans.__('Duration'),
    formatDuration(p.duration_seconds, trans) || '—'
  ]);
  if (p.cost !== undefined && p.cost !== null) {
    rows.push([
      trans.__('Cost'),
      trans.__('%1 (%2 per hour)', p.cost.toFixed(4), p.cost_per_hour ?? '?')
    ]);
  }
  return rows;
}
