/**
 * The "when" of a schedule, as the submit dialog and the edit dialog ask for it: a cron
 * expression (with its meaning in words as it is typed, and examples to click) and a time
 * zone (the browser's by default). And the submit dialog's "Run on a schedule" box, which
 * holds them and is off while a parameter is swept (a sweep cannot be scheduled). Plain
 * DOM; the values live in the caller's state.
 */

import { button, el, label } from '../dom';
import { Trans } from '../i18n';
import { cronExamples, describeCron } from '../models/schedule';

/** The values the fields edit. */
export interface IScheduleWhen {
  cron: string;
  timeZone: string;
}

/** Cron and time-zone inputs, with the hint and examples. */
export class CronFields {
  constructor(options: CronFields.IOptions) {
    const trans = options.trans;
    const value = options.value;
    const prefix = options.idPrefix;
    this._trans = trans;
    this._value = value;
    this.node = el('div', 'jp-k8s-CronFields');

    const cronId = `${prefix}-cron`;
    this.node.appendChild(
      label('jp-k8s-CronFields-label', trans.__('Cron'), cronId)
    );
    this.cronInput = el('input', 'jp-mod-styled jp-k8s-CronFields-cron');
    this.cronInput.id = cronId;
    this.cronInput.spellcheck = false;
    this.cronInput.placeholder = '0 6 * * *';
    this.cronInput.value = value.cron;
    this.cronInput.setAttribute('data-field', 'cron');
    this.cronInput.addEventListener('input', () => {
      value.cron = this.cronInput.value.trim();
      this._describe();
    });
    this.node.appendChild(this.cronInput);

    // What the cron means, said as it is typed; then the fields' order and examples.
    this._words = el('div', 'jp-k8s-CronFields-words');
    this._words.id = `${cronId}-words`;
    this._words.setAttribute('aria-live', 'polite');
    const hint = el(
      'div',
      'jp-k8s-SubmitForm-hint jp-k8s-CronFields-hint',
      trans.__(
        'minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly. Examples:'
      )
    );
    hint.id = `${cronId}-hint`;
    for (const [cron, words] of cronExamples(trans)) {
      const example = button('jp-k8s-CronFields-example', cron);
      example.title = words;
      example.setAttribute('aria-label', trans.__('Use %1: %2', cron, words));
      example.addEventListener('click', () => {
        this.cronInput.value = cron;
        value.cron = cron;
        this._describe();
        this.cronInput.focus();
      });
      hint.append(' ', example);
    }
    this.cronInput.setAttribute(
      'aria-describedby',
      `${this._words.id} ${hint.id}`
    );
    this.node.append(this._words, hint);

    const zoneId = `${prefix}-tz`;
    this.node.appendChild(
      label('jp-k8s-CronFields-label', trans.__('Time zone'), zoneId)
    );
    this.zoneInput = el('input', 'jp-mod-styled jp-k8s-CronFields-zone');
    this.zoneInput.id = zoneId;
    this.zoneInput.spellcheck = false;
    this.zoneInput.placeholder = trans.__('UTC');
    this.zoneInput.value = value.timeZone;
    this.zoneInput.setAttribute('data-field', 'time_zone');
    this.zoneInput.title = trans.__(
      'An IANA time zone such as Europe/Paris; empty: UTC'
    );
    const zones = timeZones();
    if (zones.length) {
      const list = el('datalist', '');
      list.id = `${zoneId}-list`;
      for (const zone of zones) {
        const o = document.createElement('option');
        o.value = zone;
        list.appendChild(o);
      }
      this.zoneInput.setAttribute('list', list.id);
      this.node.appendChild(list);
    }
    this.zoneInput.addEventListener('input', () => {
      value.timeZone = this.zoneInput.value.trim();
      this._describe();
    });
    this.node.appendChild(this.zoneInput);
    this._describe();
  }

  /** The fields and their hints. */
  readonly node: HTMLDivElement;
  readonly cronInput: HTMLInputElement;
  readonly zoneInput: HTMLInputElement;

  /** Mark the input a server error names (`cron`, `time_zone`). */
  markInvalid(field: string | null | undefined): void {
    for (const input of [this.cronInput, this.zoneInput]) {
      const bad = !!field && input.getAttribute('data-field') === field;
      input.classList.toggle('jp-mod-invalid', bad);
      if (bad) {
        input.setAttribute('aria-invalid', 'true');
      } else {
        input.removeAttribute('aria-invalid');
      }
    }
  }

  private _describe(): void {
    const trans = this._trans;
    const { cron, timeZone } = this._value;
    const words = cron ? describeCron(cron, trans) : '';
    this._words.textContent = words
      ? trans.__('Runs %1 (%2).', words, timeZone || 'UTC')
      : cron
        ? trans.__('The server checks this expression when you submit.')
        : '';
  }

  private _trans: Trans;
  private _value: IScheduleWhen;
  private _words: HTMLDivElement;
}

export namespace CronFields {
  export interface IOptions {
    value: IScheduleWhen;
    trans: Trans;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
  }
}

/** The time zones this browser knows, for the input's suggestions ([] if it does not say). */
function timeZones(): string[] {
  const intl = Intl as unknown as {
    supportedValuesOf?: (key: string) => string[];
  };
  try {
    return intl.supportedValuesOf ? intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}

/** The schedule part of the submit form's state. */
export interface IScheduleFormState {
  /** Whether the notebook runs on a schedule rather than once now. */
  schedule?: boolean;
  /** The schedule's cron and time zone (`schedule` on). */
  when?: IScheduleWhen;
  /** Whether some parameter row is swept (then no schedule). */
  rows: readonly { sweep?: boolean }[];
}

/**
 * The submit dialog's "Run on a schedule" box: a checkbox, and under it the cron fields.
 * Disabled, with a tooltip saying why, while a parameter is swept.
 */
export class ScheduleOptions {
  constructor(options: ScheduleOptions.IOptions) {
    const trans = options.trans;
    const s = options.state;
    this._trans = trans;
    this._state = s;
    s.when = s.when ?? { cron: '', timeZone: options.defaultTimeZone };

    this.node = el('fieldset', 'jp-k8s-SubmitForm-schedule');
    this.node.setAttribute('data-field', 'schedule');
    const toggleId = `${options.idPrefix}-toggle`;
    this._toggle = el('input', 'jp-k8s-SubmitForm-scheduleToggle');
    this._toggle.type = 'checkbox';
    this._toggle.id = toggleId;
    this._toggle.checked = !!s.schedule;
    this._toggle.addEventListener('change', () => {
      s.schedule = this._toggle.checked;
      this.update();
      if (s.schedule) {
        this.fields.cronInput.focus();
      }
    });
    this._toggleLabel = label(
      'jp-k8s-SubmitForm-scheduleLabel',
      trans.__('Run on a schedule'),
      toggleId
    );
    const legend = el('legend', '');
    legend.append(this._toggle, this._toggleLabel);
    this.node.appendChild(legend);
    this.fields = new CronFields({
      value: s.when,
      trans,
      idPrefix: options.idPrefix
    });
    this.node.appendChild(this.fields.node);
    this.update();
  }

  /** The fieldset. */
  readonly node: HTMLFieldSetElement;
  /** The cron and time-zone inputs. */
  readonly fields: CronFields;

  /** The rows changed (a row swept or not): enable or disable, show or hide the fields. */
  update(): void {
    const trans = this._trans;
    const s = this._state;
    const swept = s.rows.some(r => r.sweep);
    if (swept && s.schedule) {
      s.schedule = false;
    }
    this._toggle.checked = !!s.schedule;
    this._toggle.disabled = swept;
    const why = swept
      ? trans.__(
          'A sweep cannot be scheduled: untick Sweep on every parameter to run on a schedule.'
        )
      : trans.__(
          'Run the notebook on a cron schedule, as a Kubernetes CronJob: it runs even when this server is not.'
        );
    this._toggle.title = why;
    this._toggleLabel.title = why;
    this.node.classList.toggle('jp-mod-disabled', swept);
    this.fields.node.hidden = !s.schedule;
  }

  private _trans: Trans;
  private _state: IScheduleFormState;
  private _toggle: HTMLInputElement;
  private _toggleLabel: HTMLLabelElement;
}

export namespace ScheduleOptions {
  export interface IOptions {
    state: IScheduleFormState;
    trans: Trans;
    /** The time zone proposed (the browser's). */
    defaultTimeZone: string;
    /** Prefix of the element ids (unique in the page). */
    idPrefix: string;
  }
}
