/**
 * The remote-kernel start-up plugin: while a Kubernetes kernel starts for a notebook, a
 * notification says what its pod waits for ("Waiting for a GPU: 0/1 nodes are
 * available: 1 Insufficient nvidia.com/gpu", or in a Kueue queue "Queued in gpu: position 1
 * of 1; ...") instead of a silent spinner, and when it is up or has failed. The polling and
 * the wording live in models/kernels.ts (and models/queue.ts).
 */

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ISessionContext, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { KernelSpec } from '@jupyterlab/services';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { listKernelStatuses } from './api';
import { TRANSLATION_DOMAIN } from './i18n';
import {
  IKernelStartupView,
  IKernelStatusText,
  KernelStartupWatcher
} from './models/kernels';
import { KERNELSPEC_PREFIX } from './tokens';

/** Kernel states in which a kernel is on its way up. */
const STARTING = new Set(['starting', 'restarting', 'autorestarting']);

/** How long a "kernel is up" notification stays (ms). */
const SUCCESS_CLOSE_MS = 4000;

/** Notifications, one per starting kernel, updated in place. */
class NotificationView implements IKernelStartupView {
  show(kernelId: string, title: string, status: IKernelStatusText): void {
    const message = `${title}: ${status.text}`;
    const id = this._ids.get(kernelId);
    if (id && Notification.manager.has(id)) {
      Notification.update({
        id,
        message,
        type: 'in-progress',
        autoClose: false
      });
    } else {
      this._ids.set(
        kernelId,
        Notification.emit(message, 'in-progress', { autoClose: false })
      );
    }
  }

  done(kernelId: string, title: string, status: IKernelStatusText): void {
    const message = `${title}: ${status.text}`;
    const type = status.tone === 'success' ? 'success' : 'error';
    const autoClose = type === 'success' ? SUCCESS_CLOSE_MS : false;
    const id = this._ids.get(kernelId);
    this._ids.delete(kernelId);
    if (id && Notification.manager.has(id)) {
      Notification.update({ id, message, type, autoClose });
    } else {
      Notification.emit(message, type, { autoClose });
    }
  }

  drop(kernelId: string): void {
    const id = this._ids.get(kernelId);
    this._ids.delete(kernelId);
    if (id) {
      Notification.dismiss(id);
    }
  }

  private _ids = new Map<string, string>();
}

/** Whether the kernel a session context starts (or runs) is a Kubernetes one. */
function isKubernetesKernel(
  context: ISessionContext,
  specs: KernelSpec.ISpecModels | null
): boolean {
  const running = context.session?.kernel?.name;
  if (running && context.kernelDisplayStatus !== 'starting') {
    return running.startsWith(KERNELSPEC_PREFIX);
  }
  // While a new kernel starts, only its display name is public.
  const shown = context.kernelDisplayName;
  const spec = Object.values(specs?.kernelspecs ?? {}).find(
    s => s?.display_name === shown
  );
  if (!spec) {
    // Unknown spec (not loaded yet): look anyway, a few cheap polls at most.
    return true;
  }
  return spec.name.startsWith(KERNELSPEC_PREFIX);
}

export const kernelStartupPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-k8s:kernel-startup',
  description:
    'Shows what a starting remote kernel waits for (scheduling, GPUs, image pulls).',
  autoStart: true,
  optional: [INotebookTracker, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker | null,
    translator: ITranslator | null
  ) => {
    const watcher = new KernelStartupWatcher({
      fetch: listKernelStatuses,
      view: new NotificationView(),
      trans: (translator ?? nullTranslator).load(TRANSLATION_DOMAIN)
    });
    const specs = app.serviceManager.kernelspecs;
    const onStatus = (context: ISessionContext, status: string) => {
      if (STARTING.has(status) && isKubernetesKernel(context, specs.specs)) {
        void watcher.expect();
      }
    };
    const track = (context: ISessionContext) => {
      context.statusChanged.connect(onStatus);
      if (STARTING.has(context.kernelDisplayStatus)) {
        onStatus(context, context.kernelDisplayStatus);
      }
    };
    notebooks?.widgetAdded.connect((_, panel) => track(panel.sessionContext));
    notebooks?.forEach(panel => track(panel.sessionContext));
  }
};
