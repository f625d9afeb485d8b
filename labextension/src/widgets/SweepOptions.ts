/**
 * The sweep part of the submit dialog, shown once a parameter row is swept: how the lists
 * combine (grid or zip), how many runs go at once, and how many runs the sweep makes
 * (`6 runs: 2 × 3`), counted again as the values are typed. Plain DOM; its values live in
 * the form's state.
 */

import { el, label, option } from '../dom';
import { Trans } from '../i18n';
import { sweptLengths } from '../models/form';
import {
  defaultParallelism,
  DEFAULT_MAX_PARALLELISM,
  describeRuns
} from '../models/sweep';
import { IProfile, SweepMode } from '../tokens';
import type { ISubmitFormState } from './SubmitForm';

export class SweepOptions {
  constructor(options: SweepOptions.IOptions) {
    const trans = options.trans;
    const s = options.state;
    const prefix = options.idPrefix;
    this._trans = trans;
    this._state = s;

    this.node = el('fieldset', 'jp-k8s-SubmitForm-sweep');
    this.node.setAttribute('data-field', 'sweep');
    this.node.appendChild(el('legend', '', trans.__('Sweep')));
    // First, and said as it changes: a screen reader hears the count while values are typed.
    this._runs = el('div', 'jp-k8s-SubmitForm-runs');
    this._runs.setAttribute('aria-live', 'polite');
    this.node.appendChild(this._runs);

    const modeId = `${prefix}-mode`;
    this.node.appendChild(
      label('jp-k8s-SubmitForm-sweepLabel', trans.__('Combine'), modeId)
    );
    this._mode = el('select', 'jp-mod-styled');
    this._mode.id = modeId;
    this._mode.setAttribute('data-field', 'sweep.mode');
    this._mode.append(
      option('grid', trans.__('Grid: every combination')),
      option(
        'zip',
        trans.__('Zip: the first values together, then the second…')
      )
    );
    this._mode.value = s.sweepMode ?? 'grid';
    this._mode.addEventListener('change', () => {
      s.sweepMode = this._mode.value as SweepMode;
      this.update();
    });
    this.node.appendChild(this._mode);

    const parId = `${prefix}-parallelism`;
    this.node.appendChild(
      label('jp-k8s-SubmitForm-sweepLabel', trans.__('Runs at once'), parId)
    );
    this._parallelism = el('input', 'jp-mod-styled');
    this._parallelism.id = parId;
    this._parallelism.type = 'number';
    this._parallelism.min = '1';
    this._parallelism.step = '1';
    this._parallelism.setAttribute('data-field', 'parallelism');
    this._parallelism.addEventListener('input', () => {
      s.parallelismText = this._parallelism.value;
    });
    this._parallelismHint = el('span', 'jp-k8s-SubmitForm-hint');
    this._parallelismHint.id = `${parId}-hint`;
    this._parallelism.setAttribute(
      'aria-describedby',
      this._parallelismHint.id
    );
    // The number and its limit on one line.
    const parallelismLine = el('div', 'jp-k8s-SubmitForm-sweepLine');
    parallelismLine.append(this._parallelism, this._parallelismHint);
    this.node.appendChild(parallelismLine);
    if (s.parallelismError) {
      this._parallelism.classList.add('jp-mod-invalid');
      this._parallelism.setAttribute('aria-invalid', 'true');
      const error = el(
        'div',
        'jp-k8s-SubmitForm-fieldError',
        s.parallelismError
      );
      error.setAttribute('role', 'alert');
      this.node.appendChild(error);
    }

    this.update();
  }

  /** The fieldset (hidden while no row is swept). */
  readonly node: HTMLFieldSetElement;

  /** The profile whose `max_parallelism` bounds the runs at once (undefined: not known). */
  setProfile(profile: IProfile | undefined): void {
    this._profile = profile;
    this._state.maxParallelism = profile?.max_parallelism;
    this.update();
  }

  /** The rows changed (a row swept or not, values typed): show or hide, count again. */
  update(): void {
    const trans = this._trans;
    const s = this._state;
    this.node.hidden = !s.rows.some(r => r.sweep);
    const lengths = sweptLengths(s.rows);
    const mode = s.sweepMode ?? 'grid';
    let count: number | null = null;
    if (lengths.length === 0) {
      this._runs.textContent = trans.__(
        'Give a swept parameter two or more values.'
      );
      this._runs.classList.remove('jp-mod-problem');
    } else {
      const runs = describeRuns(mode, lengths, trans);
      count = runs.count;
      this._runs.textContent = runs.text;
      this._runs.classList.toggle('jp-mod-problem', runs.problem);
    }
    const limit = this._profile?.max_parallelism ?? DEFAULT_MAX_PARALLELISM;
    this._parallelism.max = String(limit);
    const proposed = String(defaultParallelism(limit, count));
    this._parallelism.placeholder = proposed;
    if (!s.parallelismText) {
      this._parallelism.value = proposed;
    } else if (this._parallelism.value !== s.parallelismText) {
      this._parallelism.value = s.parallelismText;
    }
    this._parallelismHint.textContent = this._profile
      ? trans.__(
          'At most %1 at once with profile %2.',
          limit,
          this._profile.display_name || this._profile.name
        )
      : trans.__('At most %1 at once.', limit);
  }

  private _trans: Trans;
  private _state: ISubmitFormState;
  private _profile: IProfile | undefined;
  private _mode: HTMLSelectElement;
  private _parallelism: HTMLInputElement;
  private _parallelismHint: HTMLSpanElement;
  private _runs!: HTMLDivElement;
}

export namespace SweepOptions {
  export interface IOptions {
    state: ISubmitFormState;
    trans: Trans;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
  }
}
