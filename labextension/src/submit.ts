/**
 * Submitting a notebook and re-running a job: the save-first question, the submit dialog
 * (shown again with the error when the input or the server says no), the request.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { Contents } from '@jupyterlab/services';
import { NotebookPanel } from '@jupyterlab/notebook';
import { ITranslator, TranslationBundle } from '@jupyterlab/translation';

import {
  createSchedule,
  listProfiles,
  rerunFailedIndexes,
  rerunJob,
  submitJob
} from './api';
import { messageOf } from './errors';
import { TRANSLATION_DOMAIN } from './i18n';
import { JobsModel } from './jobsModel';
import {
  collectParameters,
  formatEnv,
  parseEnv,
  rowsFromSpecs,
  sweptLengths
} from './models/form';
import {
  findParametersSource,
  ICellLike,
  IParameterSpec,
  parseParametersCell
} from './models/parameters';
import { queueRequestFields } from './models/queue';
import { baseName } from './models/status';
import { countRuns, parseParallelism } from './models/sweep';
import { APIError } from './request';
import {
  IJobInfo,
  IK8sSettings,
  IProfile,
  IScheduleCreated,
  IScheduleInfo,
  ISubmitRequest,
  ISubmitted,
  SIDEBAR_ID
} from './tokens';
import { ISubmitFormState, SubmitForm } from './widgets/SubmitForm';

/** What submitting needs from the application. */
export interface ISubmitContext {
  app: JupyterFrontEnd;
  model: JobsModel;
  settings: () => IK8sSettings;
  openJob: (id: string) => void;
  translator: ITranslator;
  /** A schedule was created from the dialog (the panel shows it). */
  scheduleCreated?: (schedule: IScheduleInfo) => void;
}

function bundle(ctx: ISubmitContext): TranslationBundle {
  return ctx.translator.load(TRANSLATION_DOMAIN);
}

/** The parameters of a notebook's cell list: null when no cell is tagged `parameters`. */
export function specsOfCells(
  cells: readonly ICellLike[]
): IParameterSpec[] | null {
  const source = findParametersSource(cells);
  return source === null ? null : parseParametersCell(source);
}

/** Read a notebook file's parameters (null: no parameters cell; throws if unreadable). */
export async function loadParameters(
  app: JupyterFrontEnd,
  path: string
): Promise<IParameterSpec[] | null> {
  const model: Contents.IModel = await app.serviceManager.contents.get(path, {
    type: 'notebook',
    content: true
  });
  const cells = (model.content?.cells ?? []) as ICellLike[];
  return specsOfCells(cells);
}

/** The parameters of an open notebook, from its live model. */
function liveParameters(panel: NotebookPanel): IParameterSpec[] | null {
  const cells: ICellLike[] = [];
  const list = panel.content.model?.cells;
  if (!list) {
    return null;
  }
  for (let i = 0; i < list.length; i++) {
    const cell = list.get(i);
    cells.push({
      cell_type: cell.type,
      metadata: { tags: cell.getMetadata('tags') },
      source: cell.sharedModel.getSource()
    });
  }
  return specsOfCells(cells);
}

/**
 * Ask to save a notebook with unsaved changes. Resolves to false when the user cancels.
 * Returns 'saved' when it was saved, 'as-is' when the version on disk goes.
 */
async function saveFirst(
  panel: NotebookPanel,
  trans: TranslationBundle
): Promise<'clean' | 'saved' | 'as-is' | false> {
  if (!panel.context.model.dirty) {
    return 'clean';
  }
  const saveButton = Dialog.okButton({ label: trans.__('Save and continue') });
  const asIs = Dialog.warnButton({ label: trans.__('Use the saved version') });
  const result = await showDialog({
    title: trans.__('Save the notebook first?'),
    body: trans.__(
      '%1 has unsaved changes. The job runs the notebook as it is on disk.',
      baseName(panel.context.path)
    ),
    buttons: [Dialog.cancelButton(), asIs, saveButton],
    defaultButton: 2
  });
  if (!result.button.accept) {
    return false;
  }
  if (result.button.label === saveButton.label) {
    await panel.context.save();
    return 'saved';
  }
  return 'as-is';
}

/**
 * Open the submit dialog for a notebook panel, a notebook path, or nothing (the user types
 * a path), and submit. Resolves to the new job, or null when the user cancelled.
 */
export async function submitNotebook(
  ctx: ISubmitContext,
  target: { panel?: NotebookPanel | null; path?: string | null }
): Promise<IJobInfo | null> {
  const { app } = ctx;
  let path = target.panel?.context.path ?? target.path ?? '';
  let specs: IParameterSpec[] | null = null;
  let known = false;
  if (target.panel) {
    const saved = await saveFirst(target.panel, bundle(ctx));
    if (saved === false) {
      return null;
    }
    path = target.panel.context.path;
    if (saved !== 'as-is') {
      specs = liveParameters(target.panel);
      known = true;
    }
  }
  if (!known && path) {
    try {
      specs = await loadParameters(app, path);
      known = true;
    } catch {
      known = false;
    }
  }
  const state: ISubmitFormState = {
    mode: 'submit',
    notebook: path,
    notebookEditable: !target.panel,
    profile: '',
    image: '',
    envText: '',
    rows: rowsFromSpecs(specs ?? []),
    hasParametersCell: known ? specs !== null : null,
    error: null,
    rowErrors: [],
    envErrors: []
  };
  const profiles = listProfiles();
  return runDialog(ctx, state, profiles, async () => {
    const { parameters, swept } = collectParameters(state.rows);
    const { env } = parseEnv(state.envText);
    const request: ISubmitRequest = { notebook: state.notebook, parameters };
    if (swept) {
      // Only with several values: a plain submit's request is as it always was.
      request.sweep = { mode: state.sweepMode ?? 'grid', parameters: swept };
      const parsed = parseParallelism(
        state.parallelismText ?? '',
        state.maxParallelism,
        sweepRuns(state)
      );
      if (parsed.ok) {
        request.parallelism = parsed.value;
      }
    }
    if (state.profile) {
      request.profile = state.profile;
    }
    if (state.image) {
      request.image = state.image;
    }
    if (Object.keys(env).length) {
      request.env = env;
    }
    // The Kueue queue and priority class picked, where they differ from the profile's; a
    // sweep and a schedule carry them too (they are this same request).
    const chosen = (await profiles.catch(() => [])).find(
      p => p.name === state.profile
    );
    Object.assign(
      request,
      queueRequestFields(chosen, state.queue, state.priorityClass)
    );
    if (state.schedule && state.when && !swept) {
      // The same request, run by a CronJob: the server answers the schedule, not a job.
      return createSchedule({
        ...request,
        cron: state.when.cron,
        time_zone: state.when.timeZone || null
      });
    }
    return submitJob(request);
  });
}

/**
 * Run a job's notebook again: with its parameters at once, or (`edit`) after a dialog
 * pre-filled with them over the notebook's parameters cell.
 */
export async function rerun(
  ctx: ISubmitContext,
  job: IJobInfo,
  edit: boolean
): Promise<IJobInfo | null> {
  if (!edit) {
    try {
      const submitted = await rerunJob(job.id);
      return afterSubmit(ctx, submitted);
    } catch (error) {
      Notification.error(bundle(ctx).__('Rerun failed: %1', messageOf(error)), {
        autoClose: false
      });
      return null;
    }
  }
  let specs: IParameterSpec[] | null = null;
  let known = true;
  try {
    specs = await loadParameters(ctx.app, job.notebook);
  } catch {
    known = false;
  }
  const state: ISubmitFormState = {
    mode: 'rerun',
    notebook: job.notebook,
    notebookEditable: false,
    profile: job.profile ?? '',
    image: job.image ?? '',
    envText: formatEnv({}),
    rows: rowsFromSpecs(specs ?? [], job.parameters),
    hasParametersCell: known ? specs !== null : null,
    error: null,
    rowErrors: [],
    envErrors: []
  };
  return runDialog(ctx, state, Promise.resolve([]), async () => {
    const { parameters } = collectParameters(state.rows);
    return rerunJob(job.id, parameters);
  });
}

/**
 * Run again the parameter sets of a sweep that did not succeed, as a new sweep of just
 * those (`POST .../rerun` with `failed_only`). Resolves to the new sweep, or null (the
 * error is notified).
 */
export async function rerunFailed(
  ctx: ISubmitContext,
  job: IJobInfo
): Promise<IJobInfo | null> {
  try {
    return afterSubmit(ctx, await rerunFailedIndexes(job.id));
  } catch (error) {
    Notification.error(
      bundle(ctx).__(
        'Rerun of the failed parameter sets failed: %1',
        messageOf(error)
      ),
      { autoClose: false }
    );
    return null;
  }
}

/** The runs the form's sweep makes (null: none, or a zip that does not add up). */
function sweepRuns(state: ISubmitFormState): number | null {
  const lengths = sweptLengths(state.rows);
  return lengths.length
    ? countRuns(
        state.sweepMode ?? 'grid',
        lengths.map(([, n]) => n)
      )
    : null;
}

/** Show the form until it is cancelled or the server accepts it. */
async function runDialog(
  ctx: ISubmitContext,
  state: ISubmitFormState,
  profiles: Promise<IProfile[]>,
  send: () => Promise<ISubmitted | IScheduleCreated>
): Promise<IJobInfo | null> {
  const trans = bundle(ctx);
  const rerun = state.mode === 'rerun';
  for (;;) {
    const form = new SubmitForm({
      state,
      profiles,
      defaultProfile: ctx.settings().defaultProfile,
      loadParameters: p => loadParameters(ctx.app, p),
      translator: ctx.translator
    });
    const result = await showDialog({
      title: rerun
        ? trans.__('Rerun on Kubernetes')
        : trans.__('Run on Kubernetes'),
      body: form,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({
          label: rerun ? trans.__('Rerun') : trans.__('Submit'),
          ariaLabel: rerun
            ? trans.__('Rerun the job')
            : trans.__('Submit the job')
        })
      ],
      focusNodeSelector: state.notebookEditable
        ? 'input'
        : '.jp-k8s-SubmitForm-paramValue, select',
      hasClose: true
    });
    if (!result.button.accept) {
      return null;
    }
    // Check the input here first: the dialog comes back with the problems marked.
    state.error = null;
    state.errorField = null;
    const { errors } = collectParameters(state.rows, trans);
    state.rowErrors = errors;
    state.envErrors =
      state.mode === 'submit' ? parseEnv(state.envText, trans).errors : [];
    const sweeping = state.mode === 'submit' && sweptLengths(state.rows).length;
    const parallelism = sweeping
      ? parseParallelism(
          state.parallelismText ?? '',
          state.maxParallelism,
          sweepRuns(state),
          trans
        )
      : null;
    state.parallelismError =
      parallelism && !parallelism.ok ? parallelism.error : null;
    if (!state.notebook.endsWith('.ipynb')) {
      state.error = trans.__('Name a notebook (a path ending in .ipynb).');
      state.errorField = 'notebook';
      continue;
    }
    if (errors.length || state.envErrors.length || state.parallelismError) {
      state.error = trans.__('Some values need fixing.');
      continue;
    }
    if (state.schedule && !state.when?.cron) {
      state.error = trans.__(
        'Give the schedule a cron expression, e.g. 0 6 * * * (every day at 06:00).'
      );
      state.errorField = 'cron';
      continue;
    }
    try {
      const answer = await send();
      if ('schedule' in answer) {
        afterSchedule(ctx, answer);
        return null;
      }
      return afterSubmit(ctx, answer);
    } catch (error) {
      state.error = messageOf(error);
      state.errorField = error instanceof APIError ? error.field : null;
    }
  }
}

/** Show the new job, follow it, say what the server warned about. */
function afterSubmit(ctx: ISubmitContext, submitted: ISubmitted): IJobInfo {
  const job = follow(ctx.model, submitted);
  if (ctx.settings().showPanelOnSubmit) {
    ctx.app.shell.activateById(SIDEBAR_ID);
  }
  for (const warning of submitted.warnings) {
    Notification.warning(`${baseName(job.notebook)}: ${warning}`, {
      autoClose: 8000
    });
  }
  return job;
}

/** Show the new schedule in the panel, say what the server warned about. */
function afterSchedule(ctx: ISubmitContext, created: IScheduleCreated): void {
  ctx.scheduleCreated?.(created.schedule);
  if (ctx.settings().showPanelOnSubmit) {
    ctx.app.shell.activateById(SIDEBAR_ID);
  }
  const name = baseName(created.schedule.notebook);
  for (const warning of created.warnings) {
    Notification.warning(`${name}: ${warning}`, { autoClose: 8000 });
  }
}

/**
 * Put a just submitted job in the model and follow it (the notifier tells its end); the
 * dialogs and `IJupyterK8s.submit` do this alike.
 */
export function follow(model: JobsModel, submitted: ISubmitted): IJobInfo {
  model.upsert(submitted.job);
  model.watch(submitted.job.id);
  return submitted.job;
}
