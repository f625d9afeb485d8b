/**
 * Parameter sweeps in a real JupyterLab on the local cluster (see run.sh): a 2×2 grid
 * sweep submitted from the dialog of a notebook that records `score = a * b` and fails for
 * one parameter set; the server's 400 for a zip of unequal lists in the same dialog; the
 * row's progress; the results table (4 rows, recorded values, sorted as numbers); one
 * index's executed notebook; the CSV; and "Rerun failed", whose new sweep runs only the
 * failed set. Screenshots go to docs/images/.
 */
import * as fs from 'fs';
import * as path from 'path';

import { expect, Locator, test } from '@playwright/test';

import {
  AUTH,
  codeCell,
  IMAGES,
  ISubmitAnswer,
  notebookJSON,
  openJobView,
  openLab,
  openSubmitDialog,
  paramSweep,
  paramValue,
  putNotebook,
  row,
  saveTiming,
  submitAnswer
} from './helpers';

const NOTEBOOK = 'sweep-ui.ipynb';

// Scores 3, 5 and 10 sort differently as text ("10" < "3"): the table must sort numbers.
const CELLS = [
  codeCell('params', 'a = 1\nb = 3\n', ['parameters']),
  codeCell(
    'work',
    'if (a, b) == (2, 3):\n' +
      '    raise ValueError("no score for a=2, b=3")\n' +
      'jupyter_k8s_record("score", a * b)\n' +
      'print("score", a * b)\n'
  )
];

test.beforeAll(async ({ request }) => {
  await putNotebook(request, NOTEBOOK, notebookJSON(CELLS));
});

/** The texts of one column of a results table, top to bottom. */
function column(detail: Locator, key: string): Locator {
  return detail.locator(`.jp-k8s-SweepTable tbody td[data-key="${key}"]`);
}

test('a 2×2 grid sweep from the dialog: progress, results, output, CSV, rerun failed', async ({
  page,
  request
}) => {
  test.setTimeout(360_000);
  // Tall enough for the whole dialog in its screenshot.
  await page.setViewportSize({ width: 1280, height: 1000 });
  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  let form = await openSubmitDialog(page);
  await expect(form.locator('select[data-field="profile"]')).toHaveValue(
    'small'
  );

  // Sweep a and b over two values each: a grid of 4 runs, the count said as typed.
  const sweepOptions = form.locator('.jp-k8s-SubmitForm-sweep');
  await expect(sweepOptions).toBeHidden();
  await paramSweep(form, 'a').check();
  await expect(sweepOptions).toBeVisible();
  await expect(paramValue(form, 'a')).toHaveValue('1'); // starts from the value shown
  await paramValue(form, 'a').fill('1, 2');
  await paramSweep(form, 'b').check();
  await paramValue(form, 'b').fill('3, 5');
  const runs = form.locator('.jp-k8s-SubmitForm-runs');
  await expect(runs).toHaveText('4 runs: 2 × 2');
  // Runs at once: the profile's limit (4, the default) proposed and the field's max.
  const parallelism = form.locator('input[data-field="parallelism"]');
  await expect(parallelism).toHaveValue('4');
  await expect(parallelism).toHaveAttribute('max', '4');
  await parallelism.fill('2');
  // The form scrolls in the dialog: show the parameters and the sweep in the screenshot.
  await sweepOptions.evaluate(node => node.scrollIntoView({ block: 'end' }));
  await page.locator('.jp-Dialog-content').screenshot({
    path: path.join(IMAGES, 'sweep-dialog.png')
  });

  // b over three values, zipped: the dialog says it does not add up, and the server's 400
  // comes back in the dialog with the input kept.
  await paramValue(form, 'b').fill('3, 5, 7');
  await expect(runs).toHaveText('6 runs: 2 × 3');
  await form.locator('select[data-field="sweep.mode"]').selectOption('zip');
  await expect(runs).toHaveText('Zip needs lists of one length (a: 2, b: 3).');
  const refused = await submitAnswer(page);
  expect(refused.status).toBe(400);
  expect(refused.sent.sweep).toEqual({
    mode: 'zip',
    parameters: { a: [1, 2], b: [3, 5, 7] }
  });
  form = page.locator('.jp-k8s-SubmitForm');
  const error = form.locator('.jp-k8s-SubmitForm-error');
  await expect(error).toHaveText(refused.body.message!);
  await expect(error).toContainText('same length');
  await expect(paramValue(form, 'b')).toHaveValue('3, 5, 7');
  await expect(form.locator('input[data-field="parallelism"]')).toHaveValue(
    '2'
  );

  // Fixed: back to two values of b, as a grid.
  await paramValue(form, 'b').fill('3, 5');
  const mode = form.locator('select[data-field="sweep.mode"]');
  await expect(mode).toHaveValue('zip');
  await expect(form.locator('.jp-k8s-SubmitForm-runs')).toHaveText(
    '2 runs: a, b zipped'
  );
  await mode.selectOption('grid');
  await expect(form.locator('.jp-k8s-SubmitForm-runs')).toHaveText(
    '4 runs: 2 × 2'
  );
  const submitted = await submitAnswer(page);
  expect(submitted.status).toBe(201);
  expect(submitted.sent).toEqual({
    notebook: NOTEBOOK,
    parameters: {},
    profile: 'small',
    sweep: { mode: 'grid', parameters: { a: [1, 2], b: [3, 5] } },
    parallelism: 2
  });
  const id = submitted.body.job!.id;
  expect(submitted.body.job!.sweep!.total).toBe(4);
  expect(submitted.body.job!.sweep!.parallelism).toBe(2);

  // The row says it is a sweep, and how far it got, until every set has ended.
  const progress = row(page, id).locator('.jp-k8s-JobRow-sweep');
  await expect(progress).toHaveText(/^sweep \d\/4 done/);
  const seen: string[] = [];
  const start = Date.now();
  while (Date.now() - start < 240_000) {
    const text = (await progress.textContent()) ?? '';
    if (seen[seen.length - 1] !== text) {
      seen.push(text);
    }
    if (text.startsWith('sweep 4/4 done')) {
      break;
    }
    await page.waitForTimeout(200);
  }
  saveTiming('sweep_progress_seen', seen);
  expect(seen[seen.length - 1]).toBe('sweep 4/4 done, 1 failed');
  expect(seen.length).toBeGreaterThan(1);
  const done = seen.map(t => Number(/(\d)\/4/.exec(t)![1]));
  expect([...done].sort()).toEqual(done); // never backwards
  await expect(row(page, id).locator('.jp-k8s-Chip')).toHaveText(
    'Failed · FailedIndexes'
  );

  // The job's view: 4 rows, the recorded scores, the failed set's reason.
  const detail = await openJobView(page, id);
  const results = detail.locator('.jp-k8s-SweepResults');
  await expect(results).toBeVisible();
  await expect(detail.locator('.jp-k8s-SweepTable tbody tr')).toHaveCount(4);
  await expect(column(detail, 'param:a')).toHaveText(['1', '1', '2', '2']);
  await expect(column(detail, 'param:b')).toHaveText(['3', '5', '3', '5']);
  await expect(column(detail, 'record:score')).toHaveText(
    ['3', '5', '', '10'],
    { timeout: 60_000 }
  );
  await expect(column(detail, 'status')).toHaveText([
    'Succeeded',
    'Succeeded',
    'Failed · NotebookFailed',
    'Succeeded'
  ]);
  await expect(results.locator('.jp-k8s-SweepResults-summary')).toHaveText(
    'sweep 4/4 done, 1 failed · 2 at once'
  );
  // The sweep's "Open output" points at the table; every index's notebook is back.
  await expect(
    detail.locator('.jp-k8s-JobDetail-actions button', {
      hasText: 'Open output'
    })
  ).toBeDisabled();
  await expect(detail.locator('.jp-k8s-SweepTable-open')).toHaveCount(4, {
    timeout: 60_000
  });

  // Sort by the score: as numbers (3, 5, 10), then the other way; no score stays last.
  const scoreHeader = detail.locator('.jp-k8s-SweepTable-sort', {
    hasText: 'score'
  });
  await scoreHeader.click();
  await expect(column(detail, 'record:score')).toHaveText(['3', '5', '10', '']);
  await expect(scoreHeader.locator('xpath=..')).toHaveAttribute(
    'aria-sort',
    'ascending'
  );
  await scoreHeader.click();
  await expect(column(detail, 'record:score')).toHaveText(['10', '5', '3', '']);
  await expect(scoreHeader.locator('xpath=..')).toHaveAttribute(
    'aria-sort',
    'descending'
  );
  const hide = await page.addStyleTag({
    content: '.Toastify { display: none !important; }'
  });
  await detail.screenshot({ path: path.join(IMAGES, 'sweep-results.png') });
  await hide.evaluate(node => (node as Element).remove());

  // The CSV: the same table, one line per index.
  const downloading = page.waitForEvent('download');
  await results.locator('button', { hasText: 'Download CSV' }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe(`${id}.csv`);
  const csv = fs.readFileSync((await download.path())!, 'utf-8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toBe('index,phase,reason,a,b,score');
  expect(lines).toHaveLength(5);
  expect(lines[4]).toBe('3,Succeeded,,2,5,10');

  // One index's executed notebook: its own parameters and output.
  const link = detail
    .locator('.jp-k8s-SweepTable tbody tr[data-index="3"]')
    .locator('.jp-k8s-SweepTable-open');
  const outputName = (await link.textContent()) ?? '';
  expect(outputName).toMatch(/-3\.ipynb$/);
  await link.click();
  const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', {
    hasText: outputName
  });
  await expect(tab).toBeVisible();
  const notebook = page.locator(`#${await tab.getAttribute('data-id')}`);
  await expect(notebook).toContainText('b = 5');
  await expect(notebook).toContainText('score 10');

  // Rerun failed: a new sweep of just the failed set, shown in its own view.
  await page
    .locator(
      `.lm-DockPanel-tabBar .lm-TabBar-tab[data-id="jupyter-k8s-job-${id}"]`
    )
    .click();
  const rerunButton = results.locator('button', { hasText: 'Rerun failed' });
  await expect(rerunButton).toBeEnabled();
  const rerunPosted = page.waitForResponse(
    r =>
      new URL(r.url()).pathname.endsWith(`/jupyter-k8s/jobs/${id}/rerun`) &&
      r.request().method() === 'POST'
  );
  await rerunButton.click();
  const rerun = await rerunPosted;
  expect(rerun.status()).toBe(201);
  expect(rerun.request().postDataJSON()).toEqual({ failed_only: true });
  const again = ((await rerun.json()) as ISubmitAnswer).job!;
  expect(again.sweep!.total).toBe(1);
  expect(again.sweep!.indexes[0].parameters).toEqual({ a: 2, b: 3 });
  const second = page.locator(`#jupyter-k8s-job-${again.id}`);
  await expect(second).toBeVisible();
  await expect(second.locator('.jp-k8s-SweepTable tbody tr')).toHaveCount(1);
  await expect(column(second, 'param:a')).toHaveText(['2']);
  await expect(column(second, 'param:b')).toHaveText(['3']);
  // The set fails again (the notebook always refuses it), and only it ran.
  await expect(column(second, 'status')).toHaveText(
    ['Failed · NotebookFailed'],
    { timeout: 120_000 }
  );
  await expect(row(page, again.id).locator('.jp-k8s-JobRow-sweep')).toHaveText(
    'sweep 1/1 done, 1 failed'
  );

  for (const job of [id, again.id]) {
    await request.delete(`/jupyter-k8s/jobs/${job}`, { headers: AUTH });
  }
});
