/**
 * A newcomer's first run (run.sh's first phase): JupyterLab started by `scripts/lab` with no
 * configuration at all (no profiles, no image; the local cluster advertises its default
 * image). Open a notebook with a parameters cell, "Run on Kubernetes" from its toolbar, keep
 * every default, Submit: the job reaches Succeeded in the Kubernetes panel and its executed
 * notebook opens with the outputs in it.
 */
import { expect, test } from '@playwright/test';

import {
  clickSubmit,
  codeCell,
  followPhases,
  notebookJSON,
  openJobView,
  openLab,
  openOutput,
  openSubmitDialog,
  paramValue,
  putNotebook,
  row,
  runButton,
  saveTiming
} from './helpers';

const NOTEBOOK = 'first-run.ipynb';

test.beforeAll(async ({ request }) => {
  await putNotebook(
    request,
    NOTEBOOK,
    notebookJSON([
      codeCell('params', 'name = "newcomer"\n', ['parameters']),
      codeCell('hello', 'print(f"hello {name}", 6 * 7)\n')
    ])
  );
});

test('first run: scripts/lab, toolbar submit with every default, Succeeded, open the output', async ({
  page
}) => {
  // Set by run.sh: from starting scripts/lab to JupyterLab answering.
  const labReady = Number(process.env.K8S_UI_LAB_READY_MS);
  if (labReady > 0) {
    saveTiming('first_run_scripts_lab_to_ready_ms', labReady);
  }

  await openLab(page, `/lab/tree/${NOTEBOOK}`);
  const button = runButton(page);
  await expect(button).toBeVisible({ timeout: 60_000 });
  await expect(button).toContainText('Run on Kubernetes');
  const form = await openSubmitDialog(page);

  // Every default as it comes: the built-in default profile, no image, the notebook's values.
  const profile = form.locator('select[data-field="profile"]');
  await expect(profile).toBeEnabled();
  await expect(profile).toHaveValue('cpu');
  await expect(paramValue(form, 'name')).toHaveValue('newcomer');

  const { body, clicked } = await clickSubmit(page);
  const id = body.job.id as string;
  console.log(
    `submitted ${id}: profile ${body.job.profile}, image ${body.job.image}`
  );
  expect(body.job.profile).toBe('cpu');
  expect(body.job.image).toBeTruthy();
  expect(body.job.parameters).toEqual({});
  await expect(row(page, id)).toBeVisible();

  const seen = await followPhases(page, id);
  const toSucceeded = Date.now() - clicked;
  expect(seen[seen.length - 1]).toBe('Succeeded');
  saveTiming('first_run_submit_click_to_succeeded_ms', toSucceeded);
  saveTiming('first_run_phases_seen', seen);

  // The job's view; its "Open output" opens the executed notebook, outputs included.
  const detail = await openJobView(page, id);
  await expect(
    detail.locator('.jp-k8s-JobDetail-header .jp-k8s-Chip')
  ).toHaveText('Succeeded');
  const notebook = await openOutput(
    page,
    detail,
    body.job.output_path as string
  );
  await expect(
    notebook.locator('.jp-OutputArea-output', { hasText: 'hello newcomer 42' })
  ).toBeVisible();
});
