import { Widget } from '@lumino/widgets';

import {
  IParameterRow,
  IRowError,
  isRowChanged,
  resetRow,
  rowsFromSpecs
} from '../models/form';
import {
  IParameterSpec,
  PARAMETER_KINDS,
  ParameterKind
} from '../models/parameters';
import { IProfile } from '../tokens';
import { el } from '../dom';

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
}

/**
 * The body of the "Run on Kubernetes" dialog: notebook, profile picker (with each
 * profile's GPUs), parameters typed from the notebook's parameters cell, environment and
 * image. Every input has a label; errors are announced (`role="alert"`).
 */
export class SubmitForm extends Widget {
  constructor(options: SubmitForm.IOptions) {
    super();
    this.addClass('jp-k8s-SubmitForm');
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
        this._profileError =
          error instanceof Error ? error.message : String(error);
        this._renderProfiles();
      }
    );
  }

  /** The state, with the inputs' current values. */
  getValue(): ISubmitFormState {
    return this._state;
  }

  private _render(): void {
    const s = this._state;
    const root = this.node;
    root.replaceChildren();

    if (s.error) {
      const alert = el('div', 'jp-k8s-SubmitForm-error');
      alert.setAttribute('role', 'alert');
      alert.textContent = s.error;
      root.appendChild(alert);
    }

    // Notebook
    const nbId = uid('notebook');
    root.appendChild(label('Notebook', nbId));
    const nb = document.createElement('input');
    nb.id = nbId;
    nb.className = 'jp-mod-styled jp-k8s-SubmitForm-input';
    nb.value = s.notebook;
    nb.readOnly = !s.notebookEditable;
    nb.placeholder = 'path/to/notebook.ipynb';
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
      root.appendChild(label('Profile', profileId));
      this._profileSelect = document.createElement('select');
      this._profileSelect.id = profileId;
      this._profileSelect.className = 'jp-mod-styled jp-k8s-SubmitForm-input';
      this._profileSelect.setAttribute('data-field', 'profile');
      this._profileSelect.addEventListener('change', () => {
        s.profile = this._profileSelect!.value;
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
      this._renderProfiles();
    }

    // Parameters
    const fieldset = document.createElement('fieldset');
    fieldset.className = 'jp-k8s-SubmitForm-parameters';
    const legend = document.createElement('legend');
    legend.textContent = 'Parameters';
    fieldset.appendChild(legend);
    this._paramsNode = el('div', 'jp-k8s-SubmitForm-paramRows');
    fieldset.appendChild(this._paramsNode);
    const add = document.createElement('button');
    add.type = 'button';
    add.className = 'jp-mod-styled jp-mod-reject jp-k8s-SubmitForm-add';
    add.textContent = 'Add parameter';
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

    if (s.mode === 'submit') {
      // Environment
      const envId = uid('env');
      root.appendChild(label('Environment variables', envId));
      const env = document.createElement('textarea');
      env.id = envId;
      env.className =
        'jp-mod-styled jp-k8s-SubmitForm-input jp-k8s-SubmitForm-env';
      env.rows = 2;
      env.placeholder = 'NAME=value, one per line';
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
      root.appendChild(label('Image (optional)', imageId));
      this._imageInput = document.createElement('input');
      this._imageInput.id = imageId;
      this._imageInput.className = 'jp-mod-styled jp-k8s-SubmitForm-input';
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
        "Leave empty for the profile's image; the server may allow only some images."
      );
      imageHint.id = uid('image-hint');
      this._imageInput.setAttribute('aria-describedby', imageHint.id);
      root.appendChild(imageHint);
    } else {
      root.appendChild(
        el(
          'div',
          'jp-k8s-SubmitForm-hint',
          'The new run keeps the job’s profile, image, environment and timeout.'
        )
      );
    }

    // Point at the field a server error names.
    if (s.errorField) {
      const top = s.errorField.split('.')[0];
      const target = root.querySelector<HTMLElement>(`[data-field="${top}"]`);
      target?.classList.add('jp-mod-invalid');
      target?.setAttribute('aria-invalid', 'true');
    }
  }

  private _renderProfiles(): void {
    const select = this._profileSelect;
    if (!select) {
      return;
    }
    select.replaceChildren();
    if (this._profileList === null && this._profileError === null) {
      select.appendChild(option('', 'Loading profiles…'));
      select.disabled = true;
      return;
    }
    select.disabled = false;
    if (this._profileError !== null || !this._profileList?.length) {
      select.appendChild(option('', 'Server default'));
    }
    for (const p of this._profileList ?? []) {
      select.appendChild(option(p.name, profileLabel(p)));
    }
    select.value = this._state.profile;
    if (select.value !== this._state.profile) {
      this._state.profile = select.value;
    }
    this._renderProfileInfo();
  }

  private _renderProfileInfo(): void {
    if (!this._profileInfo) {
      return;
    }
    if (this._profileError !== null) {
      this._profileInfo.textContent = `Profiles could not be loaded: ${this._profileError}`;
      return;
    }
    const p = this._profileList?.find(x => x.name === this._state.profile);
    if (!p) {
      this._profileInfo.textContent = '';
      return;
    }
    this._profileInfo.textContent = [p.description, profileResources(p)]
      .filter(Boolean)
      .join(' — ');
    if (this._imageInput) {
      this._imageInput.placeholder = p.image ? `default: ${p.image}` : '';
    }
  }

  private _renderRows(): void {
    const s = this._state;
    const node = this._paramsNode;
    node.replaceChildren();
    if (s.rows.length === 0) {
      const text =
        s.hasParametersCell === false
          ? 'This notebook has no cell tagged “parameters”: parameters you add are set in a cell at its top.'
          : s.hasParametersCell === null
            ? 'Parameters of this notebook are not known: add the ones to set.'
            : 'The parameters cell assigns no simple values.';
      node.appendChild(el('div', 'jp-k8s-SubmitForm-hint', text));
      return;
    }
    const header = el('div', 'jp-k8s-SubmitForm-paramRow jp-mod-header');
    header.setAttribute('aria-hidden', 'true');
    for (const h of ['Name', 'Type', 'Value', '']) {
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
        'Only values you change are sent; the others keep the notebook’s values.'
      )
    );
  }

  private _renderRow(row: IParameterRow, index: number): HTMLElement {
    const s = this._state;
    const line = el('div', 'jp-k8s-SubmitForm-paramRow');
    line.dataset.name = row.name;
    const errors = s.rowErrors.filter(e => e.index === index);
    const valueId = uid(`param-${index}`);

    // Name
    let nameLabel: string;
    if (row.added) {
      const name = document.createElement('input');
      name.className = 'jp-mod-styled jp-k8s-SubmitForm-paramName';
      name.value = row.name;
      name.placeholder = 'name';
      name.spellcheck = false;
      name.setAttribute('aria-label', `Name of added parameter ${index + 1}`);
      name.addEventListener('input', () => {
        row.name = name.value.trim();
      });
      if (errors.some(e => e.field === 'name')) {
        name.classList.add('jp-mod-invalid');
        name.setAttribute('aria-invalid', 'true');
      }
      line.appendChild(name);
      nameLabel = `added parameter ${index + 1}`;
    } else {
      const name = document.createElement('label');
      name.className = 'jp-k8s-SubmitForm-paramLabel';
      name.htmlFor = valueId;
      name.textContent = row.name;
      name.title = row.comment ? `${row.name}: ${row.comment}` : row.name;
      line.appendChild(name);
      nameLabel = row.name;
    }

    // Kind
    const kind = document.createElement('select');
    kind.className = 'jp-mod-styled jp-k8s-SubmitForm-paramKind';
    kind.setAttribute('aria-label', `Type of ${nameLabel}`);
    for (const k of PARAMETER_KINDS) {
      kind.appendChild(option(k.kind, k.label));
    }
    kind.value = row.kind;
    kind.addEventListener('change', () => {
      row.kind = kind.value as ParameterKind;
      if (row.kind === 'boolean' && !/^(true|false)$/i.test(row.text)) {
        row.text = 'True';
      }
      this._renderRows();
      this._paramsNode
        .querySelector<HTMLElement>(`#${CSS.escape(valueId)}`)
        ?.focus();
    });
    line.appendChild(kind);

    // Value
    let value: HTMLInputElement | HTMLSelectElement;
    if (row.kind === 'boolean') {
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
        value.title = `The notebook computes ${row.name} = ${row.initial.text}; type a value to send it as a ${row.kind}.`;
      }
    }
    value.id = valueId;
    value.className = 'jp-mod-styled jp-k8s-SubmitForm-paramValue';
    if (row.added) {
      value.setAttribute('aria-label', `Value of ${nameLabel}`);
    }
    const update = () => {
      if (row.kind !== 'null') {
        row.text = value.value;
      }
      line.classList.toggle('jp-mod-changed', isRowChanged(row) && !row.added);
      reset.hidden = row.added || !isRowChanged(row);
    };
    value.addEventListener('input', update);
    value.addEventListener('change', update);
    if (errors.some(e => e.field === 'value')) {
      value.classList.add('jp-mod-invalid');
      value.setAttribute('aria-invalid', 'true');
    }
    line.appendChild(value);

    // Reset (a changed notebook value) or remove (an added one)
    const reset = document.createElement('button');
    reset.type = 'button';
    reset.className = 'jp-k8s-SubmitForm-rowButton';
    if (row.added) {
      reset.textContent = '✕';
      reset.title = 'Remove this parameter';
      reset.setAttribute('aria-label', `Remove ${nameLabel}`);
      reset.addEventListener('click', () => {
        s.rows.splice(index, 1);
        s.rowErrors = [];
        this._renderRows();
      });
    } else {
      reset.textContent = '↺';
      reset.title = 'Back to the notebook’s value';
      reset.setAttribute(
        'aria-label',
        `Reset ${nameLabel} to the notebook’s value`
      );
      reset.addEventListener('click', () => {
        resetRow(row);
        this._renderRows();
      });
    }
    line.appendChild(reset);
    update();
    reset.hidden = !row.added && !isRowChanged(row);

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

  private _state: ISubmitFormState;
  private _profileList: IProfile[] | null = null;
  private _profileError: string | null = null;
  private _profileSelect: HTMLSelectElement | null = null;
  private _profileInfo: HTMLElement | null = null;
  private _imageInput: HTMLInputElement | null = null;
  private _paramsNode!: HTMLElement;
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
  }
}

/** `gpu — 2 × nvidia.com/gpu, 4 CPU, 16Gi` */
export function profileLabel(p: IProfile): string {
  const gpus = p.gpus ? ` — ${p.gpus} GPU${p.gpus > 1 ? 's' : ''}` : '';
  const name = p.display_name || p.name;
  return `${name}${gpus}${p.default ? ' (default)' : ''}`;
}

/** `2 × nvidia.com/gpu · CPU 4 · memory 16Gi · image python:3.11` */
export function profileResources(p: IProfile): string {
  const parts: string[] = [];
  if (p.gpus) {
    parts.push(`${p.gpus} × ${p.gpu_resource || 'GPU'}`);
  }
  if (p.cpu) {
    parts.push(`CPU ${p.cpu}`);
  }
  if (p.memory) {
    parts.push(`memory ${p.memory}`);
  }
  if (p.image) {
    parts.push(`image ${p.image}`);
  }
  return parts.join(' · ');
}

let counter = 0;
function uid(name: string): string {
  return `jp-k8s-submit-${name}-${++counter}`;
}

function label(text: string, forId: string): HTMLLabelElement {
  const node = document.createElement('label');
  node.className = 'jp-k8s-SubmitForm-label';
  node.htmlFor = forId;
  node.textContent = text;
  return node;
}

function option(value: string, text: string): HTMLOptionElement {
  const node = document.createElement('option');
  node.value = value;
  node.textContent = text;
  return node;
}
