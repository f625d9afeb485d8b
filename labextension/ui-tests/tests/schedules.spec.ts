/**
 * Schedules in a real JupyterLab on the local cluster (see run.sh): from the dialog of a
 * notebook, a bad cron first (the server's 400 in the dialog, the input kept), then a
 * schedule every minute; the Schedules section shows it with its next run; run now makes a
 * run that the job list shows (with its schedule) until it succeeds; pause, edit the cron,
 * delete (the confirmation says past outputs stay). Screenshot docs/images/schedules.png.
 */
import * as path from 'path';

import { expect, Locator, Page, test } from '@playwright/test';

import {
  AUTH,
  codeCell,
  followPhases,
  IMAGES,
  notebookJSON,
  openLab,
  openSubmitDialog,
  paramValue,
  putNotebook,
  row,
  submitSchedule
} from './helpers';

const NOTEBOOK = 'schedule-ui.ipynb';

const CELLS = [
  codeCell('params', 'greeting = "hello"\n', ['parameters']),
  codeCell('work', 'print(greeting, "from a schedule")\n')
];

test.beforeAll(async ({ request }) => {
  await putNotebook(request, NOTEBOOK, notebookJSON(CELLS));
});

function scheduleRow(page: Page, id: string): Locator {
  return page.locator(`.jp-k8s-ScheduleRow[data-id="${id}"]`);
}

test('a schedule from the dialog: listed, run now, paused, edited, deleted', async ({
  page,
  request
}) => {
  test.setTimeout(300_000);
  await page.setViewportSize({ width: 1280, height: 1000 });
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  const section = page.locator('#jupyter-k8s-schedules');
  await expect(section).toBeVisible();

  let form = await openSubmitDialog(page);
  const toggle = form.locator('.jp-k8s-SubmitForm-scheduleToggle');
  const cron = form.locator('input[data-field="cron"]');
  const zone = form.locator('input[data-field="time_zone"]');
  await expect(cron).toBeHidden();

  // A swept parameter turns the schedule off, and says why.
  await form
    .locator(
      '.jp-k8s-SubmitForm-paramRow[data-name="greeting"] .jp-k8s-SubmitForm-sweepToggle'
    )
    .check();
  await expect(toggle).toBeDisabled();
  expect(await toggle.getAttribute('title')).toMatch(
    /sweep cannot be scheduled/i
  );
  await form
    .locator(
      '.jp-k8s-SubmitForm-paramRow[data-name="greeting"] .jp-k8s-SubmitForm-sweepToggle'
    )
    .uncheck();
  await expect(toggle).toBeEnabled();

  await toggle.check();
  await expect(cron).toBeVisible();
  // The time zone is the browser's.
  const browserZone = await page.evaluate(
    () => Intl.DateTimeFormat().resolvedOptions().timeZone
  );
  await expect(zone).toHaveValue(browserZone);
  await paramValue(form, 'greeting').fill('bonjour');

  // A cron Kubernetes would refuse: the server's 400, in the dialog, the input kept.
  await cron.fill('0 6 * * * *');
  let answer = await submitSchedule(page);
  expect(answer.status).toBe(400);
  expect(answer.body.field).toBe('cron');
  expect(answer.sent.cron).toBe('0 6 * * * *');
  expect(answer.sent.time_zone).toBe(browserZone);
  form = page.locator('.jp-k8s-SubmitForm');
  await expect(form.locator('.jp-k8s-SubmitForm-error')).toHaveText(
    answer.body.message!
  );
  await expect(form.locator('input[data-field="cron"]')).toHaveValue(
    '0 6 * * * *'
  );
  await expect(form.locator('input[data-field="cron"]')).toHaveClass(
    /jp-mod-invalid/
  );
  await expect(paramValue(form, 'greeting')).toHaveValue('bonjour');
  console.log(`bad cron: ${answer.body.message}`);

  // Every minute: said in words as typed.
  await form.locator('input[data-field="cron"]').fill('* * * * *');
  await expect(form.locator('.jp-k8s-CronFields-words')).toContainText(
    'every minute'
  );
  // The form scrolls in the dialog: show the parameters and the schedule.
  await form
    .locator('.jp-k8s-SubmitForm-schedule')
    .evaluate(node => node.scrollIntoView({ block: 'end' }));
  await page.locator('.jp-Dialog-content').screenshot({
    path: path.join(IMAGES, 'schedules-dialog.png')
  });
  answer = await submitSchedule(page);
  expect(answer.status).toBe(201);
  expect(answer.sent.parameters).toEqual({ greeting: 'bonjour' });
  expect(answer.sent.sweep).toBeUndefined();
  const id = answer.body.schedule!.id;
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);

  // Listed with its cron in words and a next run.
  const srow = scheduleRow(page, id);
  await expect(srow).toBeVisible();
  await expect(srow.locator('.jp-k8s-ScheduleRow-notebook')).toHaveText(
    NOTEBOOK
  );
  await expect(srow.locator('.jp-k8s-ScheduleRow-when')).toHaveText(
    `* * * * * (${browserZone || 'UTC'}): every minute`
  );
  await expect(srow.locator('.jp-k8s-ScheduleRow-next')).toHaveText(
    /^next (in \d+ s|due now)$/
  );

  // Run now: a run in the job list, with its schedule, until it succeeds.
  const ran = page.waitForResponse(
    r =>
      new URL(r.url()).pathname.endsWith(`/schedules/${id}/run`) &&
      r.request().method() === 'POST'
  );
  await srow.locator('button', { hasText: 'Run now' }).click();
  const runAnswer = await ran;
  expect(runAnswer.status()).toBe(201);
  const run = (await runAnswer.json()).job as { id: string; schedule: string };
  expect(run.schedule).toBe(id);
  await expect(row(page, run.id)).toBeVisible();
  await expect(row(page, run.id).locator('.jp-k8s-JobRow-schedule')).toHaveText(
    id
  );
  const phases = await followPhases(page, run.id, { timeout: 180_000 });
  expect(phases[phases.length - 1]).toBe('Succeeded');
  // The schedule's last run is that one (or a newer one the controller started).
  await expect(srow.locator('.jp-k8s-ScheduleRow-last')).toHaveText(
    /last run .*: Succeeded|run going on/
  );
  await page.locator('#jupyter-k8s-sidebar').screenshot({
    path: path.join(IMAGES, 'schedules.png')
  });

  // Pause: said in the row, and the CronJob is suspended.
  await srow.locator('button', { hasText: 'Pause' }).click();
  await expect(srow.locator('.jp-k8s-ScheduleRow-paused')).toBeVisible();
  await expect(srow.locator('.jp-k8s-ScheduleRow-next')).toHaveText('paused');
  await expect(srow.locator('button', { hasText: 'Resume' })).toBeVisible();
  let got = await request.get(`/jupyter-k8s/schedules/${id}`, {
    headers: AUTH
  });
  expect((await got.json()).suspended).toBe(true);

  // Edit the cron: a bad one first (the server's message in the dialog), then daily.
  await srow.locator('button', { hasText: 'Edit…' }).click();
  const edit = page.locator('.jp-k8s-ScheduleEdit');
  await expect(edit.locator('input[data-field="cron"]')).toHaveValue(
    '* * * * *'
  );
  await edit.locator('input[data-field="cron"]').fill('@every 5m');
  await page.locator('.jp-Dialog button', { hasText: 'Save' }).click();
  await expect(
    page.locator('.jp-k8s-ScheduleEdit .jp-k8s-SubmitForm-error')
  ).toBeVisible();
  await expect(
    page.locator('.jp-k8s-ScheduleEdit input[data-field="cron"]')
  ).toHaveValue('@every 5m');
  await page
    .locator('.jp-k8s-ScheduleEdit input[data-field="cron"]')
    .fill('0 6 * * *');
  await page.locator('.jp-Dialog button', { hasText: 'Save' }).click();
  await expect(page.locator('.jp-Dialog')).toHaveCount(0);
  await expect(srow.locator('.jp-k8s-ScheduleRow-when')).toContainText(
    '0 6 * * *'
  );
  await expect(srow.locator('.jp-k8s-ScheduleRow-when')).toContainText(
    'every day at 06:00'
  );
  got = await request.get(`/jupyter-k8s/schedules/${id}`, { headers: AUTH });
  expect((await got.json()).cron).toBe('0 6 * * *');

  // Delete, after a confirmation that says the outputs stay.
  await srow.locator('button', { hasText: 'Delete' }).click();
  const confirm = page.locator('.jp-Dialog');
  await expect(confirm).toContainText('Executed notebooks of past runs stay');
  await confirm.locator('button', { hasText: 'Delete' }).click();
  await expect(srow).toHaveCount(0);
  got = await request.get(`/jupyter-k8s/schedules/${id}`, { headers: AUTH });
  expect(got.status()).toBe(404);
});
