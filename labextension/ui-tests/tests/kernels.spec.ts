/**
 * Remote kernels in a real JupyterLab on the local cluster (see run.sh): the Kubernetes
 * kernelspecs are in the launcher and the kernel picker; a kernel picked there starts in a
 * pod and runs a cell; a GPU kernel that cannot be scheduled shows the scheduler's reason
 * while it waits, then the start's failure, instead of a silent spinner.
 */
import * as path from 'path';

import { APIRequestContext, expect, Page, test } from '@playwright/test';

import {
  AUTH,
  codeCell,
  gotoLab,
  IMAGES,
  notebookJSON,
  putNotebook
} from './helpers';

const SMALL = 'Python 3 · Kubernetes · small';
const TWO_GPUS = 'Python 3 · Kubernetes · two-gpus';

const NOTEBOOK = notebookJSON(
  [codeCell('where', 'import os\nprint("pod:", os.environ["HOSTNAME"])\n')],
  'Python 3 (ipykernel)'
);

async function openNotebook(page: Page, name: string): Promise<void> {
  await gotoLab(page, `/lab/tree/${name}`);
  await expect(
    page.locator('.jp-NotebookPanel:not([aria-hidden="true"]) .jp-Cell')
  ).toHaveCount(1, { timeout: 60_000 });
}

/** Pick a kernel in the notebook's kernel picker (the kernel name in its toolbar). */
async function pickKernel(page: Page, displayName: string): Promise<void> {
  await page
    .locator(
      '.jp-NotebookPanel:not([aria-hidden="true"]) [data-jp-item-name="kernelName"]'
    )
    .click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toBeVisible();
  await dialog.locator('select').selectOption({ label: displayName });
  await dialog.locator('button', { hasText: 'Select' }).click();
}

/** The session of a notebook, as the server has it. */
async function sessionOf(
  request: APIRequestContext,
  name: string
): Promise<{
  kernel: { id: string; name: string; execution_state: string };
} | null> {
  const res = await request.get('/api/sessions', { headers: AUTH });
  const sessions = (await res.json()) as {
    path: string;
    kernel: { id: string; name: string; execution_state: string };
  }[];
  return sessions.find(s => s.path === name) ?? null;
}

test('the launcher lists the Kubernetes kernels', async ({ page }) => {
  await gotoLab(page, '/lab');
  const launcher = page.locator('.jp-Launcher');
  await expect(launcher).toBeVisible({ timeout: 60_000 });
  await expect(
    launcher.locator('.jp-LauncherCard', { hasText: SMALL }).first()
  ).toBeVisible();
  await expect(
    launcher.locator('.jp-LauncherCard', { hasText: TWO_GPUS }).first()
  ).toBeVisible();
});

test('start a remote kernel from the picker and run a cell on it', async ({
  page,
  request
}) => {
  const name = 'ui-kernel.ipynb';
  await putNotebook(request, name, NOTEBOOK);
  await openNotebook(page, name);
  await pickKernel(page, SMALL);

  // The kernel runs in a pod of the cluster: wait for it to be idle, as the server says.
  let kernelId = '';
  await expect
    .poll(
      async () => {
        const session = await sessionOf(request, name);
        kernelId = session?.kernel.id ?? '';
        return session
          ? `${session.kernel.name} ${session.kernel.execution_state}`
          : '';
      },
      { timeout: 90_000 }
    )
    .toBe('k8s-small idle');
  const res = await request.get(`/jupyter-k8s/kernels/${kernelId}`, {
    headers: AUTH
  });
  expect(res.status()).toBe(200);
  const status = await res.json();
  expect(status.phase).toBe('Running');
  expect(status.notebook).toBe(name);

  // Run the cell: it prints the pod's name, the one the server says the kernel is in.
  const cell = page
    .locator('.jp-NotebookPanel:not([aria-hidden="true"]) .jp-Cell')
    .first();
  await cell.locator('.jp-InputArea-editor').click();
  await page.keyboard.press('Shift+Enter');
  await expect(cell.locator('.jp-OutputArea-output')).toHaveText(
    `pod: ${status.pod}`,
    { timeout: 60_000 }
  );

  // Shutting the kernel down removes its pod.
  const del = await request.delete(`/api/kernels/${kernelId}`, {
    headers: AUTH
  });
  expect(del.status()).toBe(204);
  await expect
    .poll(
      async () =>
        (
          await request.get(`/jupyter-k8s/kernels/${kernelId}`, {
            headers: AUTH
          })
        ).status(),
      { timeout: 30_000 }
    )
    .toBe(404);
});

test('a GPU kernel that cannot be scheduled says why while it waits', async ({
  page,
  request
}) => {
  const name = 'ui-gpu-kernel.ipynb';
  await putNotebook(request, name, NOTEBOOK);
  await openNotebook(page, name);
  await pickKernel(page, TWO_GPUS);

  // A notification tells what the pod waits for, in the scheduler's words.
  const toast = page.locator('.Toastify__toast', {
    hasText: 'Kernel “two-gpus” for ui-gpu-kernel.ipynb'
  });
  await expect(toast).toContainText(
    'Waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu',
    { timeout: 30_000 }
  );
  await page.screenshot({ path: path.join(IMAGES, 'kernel-startup.png') });

  // The start gives up after the server's kernel_start_timeout (short in run.sh): the
  // notification and JupyterLab's error dialog both carry the reason.
  await expect(toast).toContainText(
    'Gave up waiting for a GPU: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu',
    { timeout: 60_000 }
  );
  const dialog = page.locator('.jp-Dialog', { hasText: 'Insufficient' });
  await expect(dialog).toBeVisible({ timeout: 30_000 });
  await dialog.locator('button').last().click();
});
