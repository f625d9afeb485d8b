/**
 * What the schedule list's buttons do: pause or resume, run now, edit the cron and time
 * zone (a small dialog, shown again with the server's error and the input kept), delete
 * (after a confirmation that says past outputs stay). Each tells the list what changed.
 */

import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { deleteSchedule, runScheduleNow, updateSchedule } from './api';
import { el } from './dom';
import { messageOf } from './errors';
import { JobsModel } from './jobsModel';
import { baseName } from './models/status';
import { APIError } from './request';
import { IScheduleInfo } from './tokens';
import { IScheduleRowActions } from './widgets/scheduleRow';
import { CronFields, IScheduleWhen } from './widgets/ScheduleFields';

/** What the actions need from the plugin. */
export interface IScheduleActionsContext {
  trans: TranslationBundle;
  jobs: JobsModel;
  /** The list shows this schedule as it is now. */
  changed(schedule: IScheduleInfo): void;
  /** The list forgets a deleted schedule. */
  removed(id: string): void;
  /** Open a job's view. */
  openJob(id: string): void;
}

let counter = 0;

/** The list's actions, on the REST API. Failures are notified with the server's message. */
export function scheduleActions(
  ctx: IScheduleActionsContext
): IScheduleRowActions {
  const { trans } = ctx;
  const failed = (what: string, error: unknown) =>
    Notification.error(trans.__('%1: %2', what, messageOf(error)), {
      autoClose: false
    });
  return {
    openJob: ctx.openJob,
    setPaused: async (schedule, paused) => {
      try {
        ctx.changed(await updateSchedule(schedule.id, { suspend: paused }));
      } catch (error) {
        failed(
          paused
            ? trans.__('Could not pause %1', schedule.id)
            : trans.__('Could not resume %1', schedule.id),
          error
        );
      }
    },
    runNow: async schedule => {
      try {
        const job = await runScheduleNow(schedule.id);
        // An ordinary job of the list at once, its end notified like a submit's.
        ctx.jobs.upsert(job);
        ctx.jobs.watch(job.id);
        ctx.changed({
          ...schedule,
          active: [job.id, ...schedule.active],
          runs: [job.id, ...schedule.runs]
        });
        Notification.info(
          trans.__('%1: run %2 started', baseName(schedule.notebook), job.id),
          {
            autoClose: 5000,
            actions: [
              {
                label: trans.__('Details'),
                callback: () => ctx.openJob(job.id)
              }
            ]
          }
        );
      } catch (error) {
        failed(trans.__('Could not run %1', schedule.id), error);
      }
    },
    edit: async schedule => {
      const updated = await editSchedule(schedule, trans);
      if (updated) {
        ctx.changed(updated);
      }
    },
    remove: async schedule => {
      const result = await showDialog({
        title: trans.__('Delete the schedule?'),
        body: trans.__(
          '%1 (%2) runs no more: its CronJob and the runs Kubernetes still keeps are deleted (a run going on stops). Executed notebooks of past runs stay in your files.',
          baseName(schedule.notebook),
          schedule.id
        ),
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: trans.__('Delete') })
        ]
      });
      if (!result.button.accept) {
        return;
      }
      try {
        await deleteSchedule(schedule.id);
        ctx.removed(schedule.id);
      } catch (error) {
        failed(trans.__('Could not delete %1', schedule.id), error);
      }
    }
  };
}

/**
 * The edit dialog: cron and time zone, until the server accepts them (PATCH) or the user
 * cancels. Resolves to the schedule as changed, or null.
 */
async function editSchedule(
  schedule: IScheduleInfo,
  trans: TranslationBundle
): Promise<IScheduleInfo | null> {
  const value: IScheduleWhen = {
    cron: schedule.cron,
    timeZone: schedule.time_zone ?? ''
  };
  let error: string | null = null;
  let field: string | null = null;
  for (;;) {
    const body = new Widget();
    body.addClass('jp-k8s-ScheduleEdit');
    if (error) {
      const alert = el('div', 'jp-k8s-SubmitForm-error', error);
      alert.setAttribute('role', 'alert');
      body.node.appendChild(alert);
    }
    body.node.appendChild(
      el(
        'div',
        'jp-k8s-SubmitForm-hint',
        `${schedule.notebook} (${schedule.id})`
      )
    );
    const fields = new CronFields({
      value,
      trans,
      idPrefix: `jp-k8s-schedule-edit-${++counter}`
    });
    fields.markInvalid(field);
    body.node.appendChild(fields.node);
    const result = await showDialog({
      title: trans.__('Edit the schedule'),
      body,
      buttons: [
        Dialog.cancelButton(),
        Dialog.okButton({ label: trans.__('Save') })
      ],
      focusNodeSelector: '.jp-k8s-CronFields-cron',
      hasClose: true
    });
    if (!result.button.accept) {
      return null;
    }
    if (!value.cron) {
      error = trans.__('Give a cron expression, e.g. 0 6 * * *.');
      field = 'cron';
      continue;
    }
    try {
      return await updateSchedule(schedule.id, {
        cron: value.cron,
        time_zone: value.timeZone || null
      });
    } catch (e) {
      error = messageOf(e);
      field = e instanceof APIError ? e.field : null;
    }
  }
}
