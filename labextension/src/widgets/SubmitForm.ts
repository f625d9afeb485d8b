import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Styling } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { button, el, label, option } from '../dom';
import { messageOf } from '../errors';
import { english, Trans, TRANSLATION_DOMAIN } from '../i18n';
import {
  IParameterRow,
  IRowError,
  isRowChanged,
  resetRow,
  rowsFromSpecs
} from '../models/form';
import {
  IParameterSpec,
  kindLabel,
  PARAMETER_KINDS,
  ParameterKind
} from '../models/parameters';
import { IChoice, priorityChoices, queueChoices } from '../models/queue';
import { browserTimeZone } from '../models/schedule';
import { IProfile, SweepMode } from '../tokens';
import { IScheduleWhen, ScheduleOptions } from './ScheduleFields';
import { SweepOptions } from './SweepOptions';

/** Everything the submit form holds; it survives the dialog being shown again. */
export interface ISubmitFormState {
  /** `submit` a notebook, or `rerun` a job (profile, image and env are the job's). */
  mode: 'submit' | 'rerun';
  /** The notebook's path relative to the server root. */
  notebook: string;
  /** Whether the user may type the path (opened from the side panel, no notebook). */
  notebookEditable: boolean;
  /** The profile's name; '' for the server's default. */
  profile: string;
  /** An image instead of the profile's; '' for none. */
  image: string;
  /** `NAME=value` lines. */
  envText: string;
  /** The parameter rows. */
  rows: IParameterRow[];
  /** Whether the notebook has a cell tagged `parameters` (null: not known yet). */
  hasParametersCell: boolean | null;
  /** A message for the whole form (a server error, say). */
  error: string | null;
  /** The field the error is about, when the server says (`image`, `parameters.n`, ...). */
  errorField?: string | null;
  /** Problems with single parameter rows. */
  rowErrors: IRowError[];
  /** Problems with the env lines. */
  envErrors: string[];
  /** How swept rows combine (submit only; default grid). */
  sweepMode?: SweepMode;
  /** A sweep's runs at once as typed; '' or absent: the proposed default. */
  parallelismText?: string;
  /** What is wrong with the parallelism, if anything. */
  parallelismError?: string | null;
  /** The chosen profile's `max_parallelism` (set by the form; undefined: not known). */
  maxParallelism?: number;
  /** Run on a schedule (a CronJob) instead of once now (submit only). */
  schedule?: boolean;
  /** The schedule's cron and time zone. */
  when?: IScheduleWhen;
  /** The Kueue LocalQueue picked (submit only); undefined: the profile's. */
  queue?: string;
  /** The WorkloadPriorityClass picked (submit only); undefined: the profile's. */
  priorityClass?: string;
}

/**
 * The body of the "Run on Kubernetes" dialog: notebook, profile picker (with each
 * profile's GPUs; its Kueue queue and priority class where it offers a choice), parameters typed from the notebook's parameters cell (each of which may
 * be swept over several values: SweepOptions.ts), environment and image. Every input has a
 * label; errors are announced (`role="alert"`).
 */
export class SubmitForm extends Widget {
  constructor(options: SubmitForm.IOptions) {
    super();
    this.addClass('jp-k8s-SubmitForm');
    this._trans = (options.translator ?? nullTranslator).load(
      TRANSLATION_DOMAIN
    );
    this._state = options.state;
    this._loadParameters = options.loadParameters;
    this._render();
    void options.profiles.then(
      profiles => {
        this._profileList = profiles;
        if (!this._state.profile) {
          const preferred = profiles.find(
            p => p.name === options.defaultProfile
          );
          const fallback = profiles.find(p => p.default);
          this._state.profile = (preferred ?? fallback)?.name ?? '';
        }
        this._renderProfiles();
      },
      (error: unknown) => {
        this._profileError = messageOf(error);
        this._renderProfiles();
      }
    );
  }

  /** The state, with the inputs' current values. */
  getValue(): ISubmitFormState {
    return this._state;
  }

  private _render(): void {
    const trans = this._trans;
    const s = this._state;
    const root = this.node;
    root.replaceChildren();
    this._sweep =
      s.mode === 'submit'
        ? new SweepOptions({ state: s, trans, idPrefix: uid('sweep') })
        : null;
    this._schedule =
      s.mode === 'submit'
        ? new ScheduleOptions({
            state: s,
            trans,
            defaultTimeZone: browserTimeZone(),
            idPrefix: uid('schedule')
          })
        : null;

    if (s.error) {
      const alert = el('div', 'jp-k8s-SubmitForm-error');
      alert.setAttribute('role', 'alert');
      alert.textContent = s.error;
      root.appendChild(alert);
    }

    // Notebook
    const nbId = uid('notebook');
    root.appendChild(fieldLabel(trans.__('Notebook'), nbId));
    const nb = el('input', 'jp-mod-styled jp-k8s-SubmitForm-input');
    nb.id = nbId;
    nb.value = s.notebook;
    nb.readOnly = !s.notebookEditable;
    nb.placeholder = trans.__('path/to/notebook.ipynb');
    nb.setAttribute('data-field', 'notebook');
    nb.addEventListener('input', () => {
      s.notebook = nb.value.trim();
    });
    nb.addEventListener('change', () => {
      void this._reloadParameters();
    });
    root.appendChild(nb);

    if (s.mode === 'submit') {
      // Profile
      const profileId = uid('profile');
      root.appendChild(fieldLabel(trans.__('Profile'), profileId));
      this._profileSelect = el(
        'select',
        'jp-mod-styled jp-k8s-SubmitForm-input'
      );
      this._profileSelect.id = profileId;
      this._profileSelect.setAttribute('data-field', 'profile');
      this._profileSelect.addEventListener('change', () => {
        s.profile = this._profileSelect!.value;
        // Another profile, other queues: start from its defaults.
        s.queue = undefined;
        s.priorityClass = undefined;
        this._renderProfileInfo();
      });
      root.appendChild(this._profileSelect);
      this._profileInfo = el('div', 'jp-k8s-SubmitForm-hint');
      this._profileInfo.id = uid('profile-info');
      this._profileSelect.setAttribute(
        'aria-describedby',
        this._profileInfo.id
      );
      root.appendChild(this._profileInfo);
      // The profile's Kueue queues and priority classes, where it offers a choice.
      this._queueNode = el('div', 'jp-k8s-SubmitForm-queue');
      root.appendChild(this._queueNode);
      this._renderProfiles();
    }

    // Parameters
    const fieldset = el('fieldset', 'jp-k8s-SubmitForm-parameters');
    fieldset.appendChild(el('legend', '', trans.__('Parameters')));
    this._paramsNode = el('div', 'jp-k8s-SubmitForm-paramRows');
    fieldset.appendChild(this._paramsNode);
    const add = button(
      'jp-mod-styled jp-mod-reject jp-k8s-SubmitForm-add',
      trans.__('Add parameter')
    );
    add.addEventListener('click', () => {
      s.rows.push({ name: '', kind: 'string', text: '', added: true });
      this._renderRows();
      const inputs = this._paramsNode.querySelectorAll<HTMLInputElement>(
        '.jp-k8s-SubmitForm-paramName'
      );
      inputs[inputs.length - 1]?.focus();
    });
    fieldset.appendChild(add);
    root.appendChild(fieldset);
    this._renderRows();
    if (this._sweep) {
      root.appendChild(this._sweep.node);
    }
    if (this._schedule) {
      root.appendChild(this._schedule.node);
    }

    if (s.mode === 'submit') {
      // Environment
      const envId = uid('env');
      root.appendChild(fieldLabel(trans.__('Environment variables'), envId));
      const env = el(
        'textarea',
        'jp-mod-styled jp-k8s-SubmitForm-input jp-k8s-SubmitForm-env'
      );
      env.id = envId;
      env.rows = 2;
      env.placeholder = trans.__('NAME=value, one per line');
      env.value = s.envText;
      env.spellcheck = false;
      env.setAttribute('data-field', 'env');
      env.addEventListener('input', () => {
        s.envText = env.value;
      });
      root.appendChild(env);
      for (const message of s.envErrors) {
        const e = el('div', 'jp-k8s-SubmitForm-fieldError', message);
        e.setAttribute('role', 'alert');
        root.appendChild(e);
      }

      // Image
      const imageId = uid('image');
      root.appendChild(fieldLabel(trans.__('Image (optional)'), imageId));
      this._imageInput = el('input', 'jp-mod-styled jp-k8s-SubmitForm-input');
      this._imageInput.id = imageId;
      this._imageInput.value = s.image;
      this._imageInput.spellcheck = false;
      this._imageInput.setAttribute('data-field', 'image');
      this._imageInput.addEventListener('input', () => {
        s.image = this._imageInput!.value.trim();
      });
      root.appendChild(this._imageInput);
      const imageHint = el(
        'div',
        'jp-k8s-SubmitForm-hint',
        trans.__(
          "Leave empty for the profile's image; the server may allow only some images."
        )
      );
      imageHint.id = uid('image-hint');
      this._imageInput.setAttribute('aria-describedby', imageHint.id);
      root.appendChild(imageHint);
    } else {
      root.appendChild(
        el(
          'div',
          'jp-k8s-SubmitForm-hint',
          trans.__(
            'The new run keeps the job’s profile, image, environment and timeout.'
          )
        )
      );
    }

    // Point at the field a server error names.
    this._schedule?.fields.markInvalid(s.errorField);
    if (s.errorField) {
      const top = s.errorField.split('.')[0];
      const target = root.querySelector<HTMLElement>(`[data-field="${top}"]`);
      target?.classList.add('jp-mod-invalid');
      target?.setAttribute('aria-invalid', 'true');
    }
  }

  private _renderProfiles(): void {
    const trans = this._trans;
    const select = this._profileSelect;
    if (!select) {
      return;
    }
    select.replaceChildren();
    if (this._profileList === null && this._profileError === null) {
      select.appendChild(option('', trans.__('Loading profiles…')));
      select.disabled = true;
      return;
    }
    select.disabled = false;
    if (this._profileError !== null || !this._profileList?.length) {
      select.appendChild(option('', trans.__('Server default')));
    }
    for (const p of this._profileList ?? []) {
      select.appendChild(option(p.name, profileLabel(p, trans)));
    }
    select.value = this._state.profile;
    if (select.value !== this._state.profile) {
      this._state.profile = select.value;
    }
    this._renderProfileInfo();
  }

  private _renderProfileInfo(): void {
    const trans = this._trans;
    if (!this._profileInfo) {
      return;
    }
    if (this._profileError !== null) {
      this._profileInfo.textContent = trans.__(
        'Profiles could not be loaded: %1',
        this._profileError
      );
      return;
    }
    const p = this._profileList?.find(x => x.name === this._state.profile);
    this._sweep?.setProfile(p);
    this._renderQueue(p);
    if (!p) {
      this._profileInfo.textContent = '';
      return;
    }
    this._profileInfo.textContent = [p.description, profileResources(p, trans)]
      .filter(Boolean)
      .join(' — ');
    if (this._imageInput) {
      this._imageInput.placeholder = p.image
        ? trans.__('default: %1', p.image)
        : '';
    }
  }

  /**
   * The Queue and Priority selects of a profile that offers a choice of Kueue LocalQueues
   * (`queue` + `queues`) or WorkloadPriorityClasses (`priority_class` +
   * `priority_classes`); nothing otherwise. The picks live in the state (`queue`,
   * `priorityClass`); submit.ts sends those that differ from the profile's defaults.
   */
  private _renderQueue(p: IProfile | undefined): void {
    const trans = this._trans;
    const s = this._state;
    const node = this._queueNode;
    if (!node) {
      return;
    }
    node.replaceChildren();
    const queues = queueChoices(p, trans);
    const priorities = priorityChoices(p, trans);
    if (!p || (!queues && !priorities)) {
      return;
    }
    let prioritySelect: HTMLSelectElement | null = null;
    // A priority class needs a queue to be used in.
    const updatePriority = () => {
      if (prioritySelect) {
        prioritySelect.disabled = !(s.queue ?? p.queue);
      }
    };
    if (queues) {
      const select = this._choiceSelect(
        'queue',
        trans.__('Queue'),
        queues,
        s.queue ?? p.queue ?? ''
      );
      s.queue = select.value;
      select.addEventListener('change', () => {
        s.queue = select.value;
        updatePriority();
      });
    }
    if (priorities) {
      prioritySelect = this._choiceSelect(
        'priority_class',
        trans.__('Priority'),
        priorities,
        s.priorityClass ?? p.priority_class ?? ''
      );
      const select = prioritySelect;
      s.priorityClass = select.value;
      select.addEventListener('change', () => {
        s.priorityClass = select.value;
      });
      updatePriority();
    }
    const hint = el(
      'div',
      'jp-k8s-SubmitForm-hint',
      trans.__(
        'Queued jobs wait in a Kueue queue until the cluster has quota for them; the job’s status shows its place.'
      )
    );
    hint.id = uid('queue-hint');
    for (const select of node.querySelectorAll('select')) {
      select.setAttribute('aria-describedby', hint.id);
    }
    node.appendChild(hint);
    if (this.isAttached) {
      // Drawn after the dialog opened (profiles came later, or another was picked): style
      // the selects as the dialog styled the others.
      Styling.styleNode(node);
    }
  }

  /** A labelled select of the queue block, its value `value` (else the first choice). */
  private _choiceSelect(
    field: string,
    text: string,
    list: IChoice[],
    value: string
  ): HTMLSelectElement {
    const node = this._queueNode!;
    const id = uid(field);
    node.appendChild(fieldLabel(text, id));
    const select = el('select', 'jp-mod-styled jp-k8s-SubmitForm-input');
    select.id = id;
    select.setAttribute('data-field', field);
    for (const choice of list) {
      select.appendChild(option(choice.value, choice.label));
    }
    select.value = list.some(c => c.value === value) ? value : list[0].value;
    if (this._state.errorField?.split('.')[0] === field) {
      // The server's 400 named this field (no such LocalQueue, no Kueue here, ...).
      select.classList.add('jp-mod-invalid');
      select.setAttribute('aria-invalid', 'true');
    }
    node.appendChild(select);
    return select;
  }

  private _renderRows(): void {
    const trans = this._trans;
    const s = this._state;
    const node = this._paramsNode;
    node.replaceChildren();
    if (s.rows.length === 0) {
      const text =
        s.hasParametersCell === false
          ? trans.__(
              'This notebook has no cell tagged “parameters”: parameters you add are set in a cell at its top.'
            )
          : s.hasParametersCell === null
            ? trans.__(
                'Parameters of this notebook are not known: add the ones to set.'
              )
            : trans.__('The parameters cell assigns no simple values.');
      node.appendChild(el('div', 'jp-k8s-SubmitForm-hint', text));
      this._sweep?.update();
      this._schedule?.update();
      return;
    }
    const sweepable = this._sweep !== null;
    node.classList.toggle('jp-mod-sweepable', sweepable);
    const header = el('div', 'jp-k8s-SubmitForm-paramRow jp-mod-header');
    header.setAttribute('aria-hidden', 'true');
    for (const h of [
      trans.__('Name'),
      trans.__('Type'),
      trans.__('Value'),
      ...(sweepable ? [trans.__('Sweep')] : []),
      ''
    ]) {
      header.appendChild(el('span', '', h));
    }
    node.appendChild(header);
    s.rows.forEach((row, index) =>
      node.appendChild(this._renderRow(row, index))
    );
    node.appendChild(
      el(
        'div',
        'jp-k8s-SubmitForm-hint',
        sweepable
          ? trans.__(
              'Only values you change are sent; the others keep the notebook’s values. Tick Sweep to give a parameter several values (1, 2, 3 or a JSON list): one run per value, or per combination.'
            )
          : trans.__(
              'Only values you change are sent; the others keep the notebook’s values.'
            )
      )
    );
    if (this.isAttached) {
      // The dialog styles its body's inputs once, when it opens (selects get their arrow
      // from a wrapper): rows drawn again while it shows need the same.
      Styling.styleNode(node);
    }
    this._sweep?.update();
    this._schedule?.update();
  }

  private _renderRow(row: IParameterRow, index: number): HTMLElement {
    const trans = this._trans;
    const s = this._state;
    const line = el('div', 'jp-k8s-SubmitForm-paramRow');
    line.dataset.name = row.name;
    const errors = s.rowErrors.filter(e => e.index === index);
    const valueId = uid(`param-${index}`);

    // Name
    let nameLabel: string;
    if (row.added) {
      const name = el('input', 'jp-mod-styled jp-k8s-SubmitForm-paramName');
      name.value = row.name;
      name.placeholder = trans.__('name');
      name.spellcheck = false;
      name.setAttribute(
        'aria-label',
        trans.__('Name of added parameter %1', index + 1)
      );
      name.addEventListener('input', () => {
        row.name = name.value.trim();
      });
      if (errors.some(e => e.field === 'name')) {
        name.classList.add('jp-mod-invalid');
        name.setAttribute('aria-invalid', 'true');
      }
      line.appendChild(name);
      nameLabel = trans.__('added parameter %1', index + 1);
    } else {
      const name = label('jp-k8s-SubmitForm-paramLabel', row.name, valueId);
      name.title = row.comment ? `${row.name}: ${row.comment}` : row.name;
      line.appendChild(name);
      nameLabel = row.name;
    }

    // Kind
    const kind = el('select', 'jp-mod-styled jp-k8s-SubmitForm-paramKind');
    kind.setAttribute('aria-label', trans.__('Type of %1', nameLabel));
    for (const k of PARAMETER_KINDS) {
      kind.appendChild(option(k, kindLabel(k, trans)));
    }
    kind.value = row.kind;
    kind.addEventListener('change', () => {
      row.kind = kind.value as ParameterKind;
      if (
        row.kind === 'boolean' &&
        !row.sweep &&
        !/^(true|false)$/i.test(row.text)
      ) {
        row.text = 'True';
      }
      this._renderRows();
      this._focusValue(index);
    });
    line.appendChild(kind);

    // Value: one, or (a swept row) several
    let value: HTMLInputElement | HTMLSelectElement;
    if (row.sweep) {
      value = document.createElement('input');
      value.spellcheck = false;
      value.value = row.sweepText ?? '';
      value.placeholder = trans.__('1, 2, 3 or a JSON list');
      value.title = trans.__(
        'Several values of %1: comma-separated (each read as JSON, else as text) or a JSON list. One run per value.',
        nameLabel
      );
    } else if (row.kind === 'boolean') {
      value = document.createElement('select');
      value.appendChild(option('True', 'True'));
      value.appendChild(option('False', 'False'));
      value.value = /^true$/i.test(row.text.trim()) ? 'True' : 'False';
      row.text = value.value;
    } else {
      value = document.createElement('input');
      value.spellcheck = false;
      value.value = row.kind === 'null' ? 'None' : row.text;
      value.disabled = row.kind === 'null';
      if (row.kind === 'int' || row.kind === 'float') {
        value.inputMode = 'decimal';
      }
      if (row.expression && row.initial) {
        value.title = trans.__(
          'The notebook computes %1 = %2; type a value to send it as a %3.',
          row.name,
          row.initial.text,
          row.kind
        );
      }
    }
    value.id = valueId;
    value.className = 'jp-mod-styled jp-k8s-SubmitForm-paramValue';
    if (row.sweep) {
      value.classList.add('jp-mod-sweep');
      value.setAttribute('aria-label', trans.__('Values of %1', nameLabel));
    } else if (row.added) {
      value.setAttribute('aria-label', trans.__('Value of %1', nameLabel));
    }
    const update = () => {
      if (row.sweep) {
        row.sweepText = value.value;
        this._sweep?.update();
      } else if (row.kind !== 'null') {
        row.text = value.value;
      }
      const changed = row.sweep || isRowChanged(row);
      line.classList.toggle('jp-mod-changed', changed && !row.added);
      reset.hidden = row.added || !changed;
    };
    value.addEventListener('input', update);
    value.addEventListener('change', update);
    if (errors.some(e => e.field === 'value')) {
      value.classList.add('jp-mod-invalid');
      value.setAttribute('aria-invalid', 'true');
    }
    line.appendChild(value);

    // Sweep: several values instead of one (submit only)
    if (this._sweep) {
      const toggle = el('input', 'jp-k8s-SubmitForm-sweepToggle');
      toggle.type = 'checkbox';
      toggle.checked = !!row.sweep;
      toggle.title = trans.__('Several values: one run per value (a sweep)');
      toggle.setAttribute(
        'aria-label',
        trans.__('Sweep %1 over several values', nameLabel)
      );
      toggle.addEventListener('change', () => {
        row.sweep = toggle.checked;
        if (row.sweep && row.sweepText === undefined) {
          // Start from the value shown, so that adding ", 0.1" makes a sweep.
          row.sweepText = row.kind === 'null' ? 'None' : row.text;
        }
        this._renderRows();
        this._focusValue(index);
      });
      line.appendChild(toggle);
    }

    // Reset (a changed notebook value) or remove (an added one)
    const reset = button('jp-k8s-SubmitForm-rowButton', '');
    if (row.added) {
      reset.textContent = '✕';
      reset.title = trans.__('Remove this parameter');
      reset.setAttribute('aria-label', trans.__('Remove %1', nameLabel));
      reset.addEventListener('click', () => {
        s.rows.splice(index, 1);
        s.rowErrors = [];
        this._renderRows();
      });
    } else {
      reset.textContent = '↺';
      reset.title = trans.__('Back to the notebook’s value');
      reset.setAttribute(
        'aria-label',
        trans.__('Reset %1 to the notebook’s value', nameLabel)
      );
      reset.addEventListener('click', () => {
        resetRow(row);
        row.sweep = false;
        this._renderRows();
      });
    }
    line.appendChild(reset);
    update();

    const wrapper = el('div', 'jp-k8s-SubmitForm-paramWrap');
    wrapper.appendChild(line);
    for (const e of errors) {
      const msg = el('div', 'jp-k8s-SubmitForm-fieldError', e.message);
      msg.setAttribute('role', 'alert');
      wrapper.appendChild(msg);
    }
    if (row.comment) {
      wrapper.appendChild(el('div', 'jp-k8s-SubmitForm-comment', row.comment));
    }
    return wrapper;
  }

  /** Focus the value input of row `index` (its ids are new after a re-render). */
  private _focusValue(index: number): void {
    this._paramsNode
      .querySelectorAll<HTMLElement>('.jp-k8s-SubmitForm-paramWrap')
      [index]?.querySelector<HTMLElement>('.jp-k8s-SubmitForm-paramValue')
      ?.focus();
  }

  private async _reloadParameters(): Promise<void> {
    const s = this._state;
    if (!this._loadParameters || !s.notebook.endsWith('.ipynb')) {
      return;
    }
    const path = s.notebook;
    let specs: IParameterSpec[] | null = null;
    let known = true;
    try {
      specs = await this._loadParameters(path);
    } catch {
      known = false;
    }
    if (path !== s.notebook || this.isDisposed) {
      return;
    }
    const kept = s.rows.filter(r => r.added);
    s.hasParametersCell = known ? specs !== null : null;
    s.rows = [...rowsFromSpecs(specs ?? []), ...kept];
    s.rowErrors = [];
    this._renderRows();
  }

  private _trans: TranslationBundle;
  private _state: ISubmitFormState;
  private _profileList: IProfile[] | null = null;
  private _profileError: string | null = null;
  private _profileSelect: HTMLSelectElement | null = null;
  private _profileInfo: HTMLElement | null = null;
  private _imageInput: HTMLInputElement | null = null;
  private _queueNode: HTMLElement | null = null;
  private _paramsNode!: HTMLElement;
  private _sweep: SweepOptions | null = null;
  private _schedule: ScheduleOptions | null = null;
  private _loadParameters?: (path: string) => Promise<IParameterSpec[] | null>;
}

export namespace SubmitForm {
  export interface IOptions {
    state: ISubmitFormState;
    profiles: Promise<IProfile[]>;
    /** The profile to preselect (from the settings); else the server's default. */
    defaultProfile?: string;
    /**
     * Read a notebook's parameters cell (when the path can be typed): null when it has
     * none; throws when the notebook cannot be read.
     */
    loadParameters?: (path: string) => Promise<IParameterSpec[] | null>;
    /** The application's translator (default: none, English). */
    translator?: ITranslator;
  }
}

/** `GPU — 2 GPUs (default)`: a profile in the picker. */
export function profileLabel(p: IProfile, trans: Trans = english): string {
  const gpus = p.gpus ? ` — ${trans._n('%1 GPU', '%1 GPUs', p.gpus)}` : '';
  const name = p.display_name || p.name;
  return `${name}${gpus}${p.default ? ` ${trans.__('(default)')}` : ''}`;
}

/** `2 × nvidia.com/gpu · CPU 4 · memory 16Gi · image python:3.11 · queue gpu` */
export function profileResources(p: IProfile, trans: Trans = english): string {
  const parts: string[] = [];
  if (p.gpus) {
    parts.push(`${p.gpus} × ${p.gpu_resource || 'GPU'}`);
  }
  if (p.cpu) {
    parts.push(trans.__('CPU %1', p.cpu));
  }
  if (p.memory) {
    parts.push(trans.__('memory %1', p.memory));
  }
  if (p.image) {
    parts.push(trans.__('image %1', p.image));
  }
  if (p.queue) {
    parts.push(trans.__('queue %1', p.queue));
  }
  return parts.join(' · ');
}

let counter = 0;
function uid(name: string): string {
  return `jp-k8s-submit-${name}-${++counter}`;
}

/** The label of one of the form's fields. */
function fieldLabel(text: string, forId: string): HTMLLabelElement {
  return label('jp-k8s-SubmitForm-label', text, forId);
}
