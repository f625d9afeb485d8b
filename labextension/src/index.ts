import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  MainAreaWidget,
  Notification,
  showDialog,
  WidgetTracker
} from '@jupyterlab/apputils';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { refreshIcon, SidePanel } from '@jupyterlab/ui-components';
import { AccordionPanel } from '@lumino/widgets';

import {
  cancelJob,
  deleteJob,
  getJob,
  listAllJobs,
  listSchedules,
  listUnfinishedJobs,
  submitJob
} from './api';
import { messageOf } from './errors';
import { TRANSLATION_DOMAIN } from './i18n';
import { kubernetesIcon } from './icons';
import { kernelStartupPlugin } from './kernelStartup';
import { JobsModel } from './jobsModel';
import { baseName } from './models/status';
import { JobNotifier } from './notifier';
import { scheduleActions } from './schedules';
import { follow, rerun, rerunFailed, submitNotebook } from './submit';
import {
  CommandIDs,
  DEFAULT_SETTINGS,
  IJobInfo,
  IJupyterK8s,
  IK8sSettings,
  IScheduleInfo,
  PLUGIN_ID,
  SIDEBAR_ID
} from './tokens';
import { ClusterCard } from './widgets/ClusterCard';
import { JobDetail } from './widgets/JobDetail';
import { JobsPanel } from './widgets/JobsPanel';
import { IJobActions } from './widgets/JobSummary';
import { LiveView } from './widgets/LiveView';
import { SchedulesPanel } from './widgets/SchedulesPanel';

/**
 * The jupyter-k8s plugin: a "Kubernetes" panel in the left sidebar (cluster card, live job
 * list), job details in the main area, a "Run on Kubernetes" submit dialog reachable from
 * the notebook toolbar, the command palette and the panel, and notifications. It provides
 * `IJupyterK8s` (the jobs and a submit call) to other extensions.
 */
const plugin: JupyterFrontEndPlugin<IJupyterK8s> = {
  id: PLUGIN_ID,
  description: 'Kubernetes one click from a notebook.',
  autoStart: true,
  provides: IJupyterK8s,
  optional: [
    ILayoutRestorer,
    ICommandPalette,
    INotebookTracker,
    ISettingRegistry,
    ITranslator,
    IRenderMimeRegistry,
    IEditorLanguageRegistry
  ],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    notebooks: INotebookTracker | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null,
    rendermime: IRenderMimeRegistry | null,
    languages: IEditorLanguageRegistry | null
  ): IJupyterK8s => {
    translator = translator ?? nullTranslator;
    const trans = translator.load(TRANSLATION_DOMAIN);
    let settings: IK8sSettings = { ...DEFAULT_SETTINGS };

    const model = new JobsModel({
      backend: {
        listAll: listAllJobs,
        listUnfinished: listUnfinishedJobs,
        get: getJob
      },
      fastInterval: settings.refreshInterval * 1000,
      idleInterval: settings.idleRefreshInterval * 1000,
      storage: window.sessionStorage
    });

    // Job details in the main area, restored across reloads.
    const details = new WidgetTracker<MainAreaWidget<JobDetail>>({
      namespace: 'jupyter-k8s-job'
    });
    const openPath = (path: string) => {
      void app.commands.execute('docmanager:open', { path });
    };
    const openOutput = (job: IJobInfo) => {
      if (job.sweep) {
        // One notebook per parameter set: the job's view lists them.
        openJob(job.id);
      } else if (job.output_path) {
        openPath(job.output_path);
      }
    };
    const ctx = {
      app,
      model,
      settings: () => settings,
      openJob: (id: string) => openJob(id),
      translator,
      scheduleCreated: (schedule: IScheduleInfo) => {
        schedulesPanel.upsert(schedule);
        void schedulesPanel.refresh();
      }
    };
    const actions: IJobActions = {
      openOutput,
      openLive: job => {
        openLive(job.id);
      },
      openPath,
      rerun: (job, edit) => {
        void rerun(ctx, job, edit).then(next => {
          if (next) {
            openJob(next.id);
          }
        });
      },
      rerunFailed: job => {
        void rerunFailed(ctx, job).then(next => {
          if (next) {
            openJob(next.id);
          }
        });
      },
      cancel: job => {
        void confirmCancel(job, model, trans);
      },
      remove: job => {
        void confirmDelete(job, model, trans).then(deleted => {
          if (deleted) {
            details.find(w => w.content.jobId === job.id)?.dispose();
          }
        });
      }
    };
    const openJob = (id: string): MainAreaWidget<JobDetail> => {
      let widget = details.find(w => w.content.jobId === id);
      if (!widget) {
        const content = new JobDetail({
          id,
          model,
          actions,
          tailLines: settings.logTailLines,
          translator
        });
        widget = new MainAreaWidget({ content });
        widget.id = `jupyter-k8s-job-${id}`;
        widget.title.icon = kubernetesIcon;
        content.title.changed.connect(() => {
          widget!.title.label = content.title.label;
          widget!.title.caption = content.title.caption;
        });
        widget.title.label = content.title.label;
        void details.add(widget);
        app.shell.add(widget, 'main');
      }
      app.shell.activateById(widget.id);
      jobsPanel.select(id);
      return widget;
    };

    // Live views of running jobs in the main area, restored across reloads.
    const lives = new WidgetTracker<MainAreaWidget<LiveView>>({
      namespace: 'jupyter-k8s-live'
    });
    const openLive = (id: string): MainAreaWidget<LiveView> | null => {
      if (!rendermime) {
        Notification.error(
          trans.__('The live view needs JupyterLab’s output renderers.')
        );
        return null;
      }
      let widget = lives.find(w => w.content.jobId === id);
      if (!widget) {
        const content = new LiveView({
          id,
          model,
          rendermime,
          languages,
          openJob: jobId => {
            openJob(jobId);
          },
          translator
        });
        widget = new MainAreaWidget({ content });
        widget.id = `jupyter-k8s-live-view-${id}`;
        widget.title.icon = kubernetesIcon;
        content.title.changed.connect(() => {
          widget!.title.label = content.title.label;
          widget!.title.caption = content.title.caption;
        });
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
        void lives.add(widget);
        app.shell.add(widget, 'main', { mode: 'split-right' });
      }
      app.shell.activateById(widget.id);
      return widget;
    };

    // The side panel: cluster card, the job list, the schedules.
    const panel = new SidePanel();
    panel.id = SIDEBAR_ID;
    panel.addClass('jp-k8s-SidePanel');
    panel.title.icon = kubernetesIcon;
    panel.title.caption = trans.__('Kubernetes');

    const card = new ClusterCard({ translator });
    panel.addWidget(card);
    const jobsPanel = new JobsPanel({
      model,
      translator,
      onOpen: id => {
        openJob(id);
      },
      onSubmit: () => {
        void app.commands.execute(CommandIDs.submit, { fromPanel: true });
      }
    });
    panel.addWidget(jobsPanel);
    const schedulesPanel: SchedulesPanel = new SchedulesPanel({
      fetch: listSchedules,
      jobs: model,
      actions: scheduleActions({
        trans,
        jobs: model,
        changed: schedule => {
          schedulesPanel.upsert(schedule);
          void schedulesPanel.refresh();
        },
        removed: id => schedulesPanel.removeSchedule(id),
        openJob: id => {
          openJob(id);
        }
      }),
      translator
    });
    panel.addWidget(schedulesPanel);
    // The job list gets most of the height; the cluster card stays scrollable above it.
    (panel.content as AccordionPanel).setRelativeSizes([1, 2, 1]);

    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, SIDEBAR_ID);
      void restorer.restore(details, {
        command: CommandIDs.openJob,
        args: w => ({ id: w.content.jobId }),
        name: w => w.content.jobId
      });
      void restorer.restore(lives, {
        command: CommandIDs.openLive,
        args: w => ({ id: w.content.jobId }),
        name: w => w.content.jobId
      });
    }

    new JobNotifier({
      model,
      enabled: () => settings.notifications,
      openOutput,
      openJob: id => {
        openJob(id);
      },
      trans
    });

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: trans.__('Show Kubernetes Panel'),
      icon: kubernetesIcon,
      execute: () => {
        app.shell.activateById(SIDEBAR_ID);
      }
    });
    app.commands.addCommand(CommandIDs.refreshCluster, {
      label: trans.__('Refresh Kubernetes Cluster Information'),
      icon: refreshIcon,
      execute: () => card.refresh()
    });
    app.commands.addCommand(CommandIDs.refreshJobs, {
      label: trans.__('Refresh Kubernetes Jobs'),
      icon: refreshIcon,
      execute: () => model.refresh(true)
    });
    app.commands.addCommand(CommandIDs.openJob, {
      label: args =>
        args.id
          ? trans.__('Show Kubernetes Job %1', args.id)
          : trans.__('Show Kubernetes Job'),
      execute: args => {
        const id = String(args.id ?? '');
        return id ? openJob(id) : null;
      }
    });
    app.commands.addCommand(CommandIDs.openLive, {
      label: args =>
        args.id
          ? trans.__('Show the Live View of Kubernetes Job %1', args.id)
          : trans.__('Show the Live View of a Kubernetes Job'),
      execute: args => {
        const id = String(args.id ?? '');
        return id ? openLive(id) : null;
      }
    });
    app.commands.addCommand(CommandIDs.refreshSchedules, {
      label: trans.__('Refresh Kubernetes Schedules'),
      icon: refreshIcon,
      execute: () => schedulesPanel.refresh()
    });
    app.commands.addCommand(CommandIDs.submit, {
      // In the notebook toolbar (`toolbar` argument) the button shows a short label.
      label: args =>
        args.toolbar
          ? trans.__('Run on Kubernetes')
          : trans.__('Run Notebook on Kubernetes…'),
      caption: trans.__(
        'Run this notebook as a Kubernetes job, with parameters'
      ),
      icon: kubernetesIcon,
      execute: async args => {
        const path = typeof args.path === 'string' ? args.path : null;
        let target = notebooks?.currentWidget ?? null;
        if (path) {
          target = notebooks?.find(w => w.context.path === path) ?? null;
        } else if (
          args.fromPanel &&
          target &&
          !isCurrentMainWidget(app, target)
        ) {
          target = null;
        }
        try {
          return await submitNotebook(ctx, { panel: target, path });
        } catch (error) {
          Notification.error(
            trans.__('Could not submit: %1', messageOf(error)),
            { autoClose: false }
          );
          return null;
        }
      }
    });

    if (palette) {
      for (const command of [
        CommandIDs.submit,
        CommandIDs.openSidebar,
        CommandIDs.refreshJobs,
        CommandIDs.refreshSchedules,
        CommandIDs.refreshCluster
      ]) {
        palette.addItem({ command, category: trans.__('Kubernetes') });
      }
    }

    const applySettings = (loaded: ISettingRegistry.ISettings) => {
      settings = {
        ...DEFAULT_SETTINGS,
        ...(loaded.composite as Partial<IK8sSettings>)
      };
      model.setIntervals(
        settings.refreshInterval * 1000,
        settings.idleRefreshInterval * 1000
      );
    };
    if (settingRegistry) {
      void settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          applySettings(loaded);
          loaded.changed.connect(applySettings);
        })
        .catch(reason => {
          console.warn('jupyter-k8s: settings could not be loaded', reason);
        })
        .then(() => model.start());
    } else {
      model.start();
    }

    return {
      jobs: model,
      submit: async request => {
        const submitted = await submitJob(request);
        follow(model, submitted);
        return submitted;
      },
      openJob: id => {
        openJob(id);
      }
    };
  }
};

/** Whether a notebook is the one the user looks at in the main area. */
function isCurrentMainWidget(
  app: JupyterFrontEnd,
  widget: { id: string }
): boolean {
  const current = app.shell.currentWidget;
  return !!current && current.id === widget.id;
}

async function confirmCancel(
  job: IJobInfo,
  model: JobsModel,
  trans: TranslationBundle
): Promise<void> {
  const result = await showDialog({
    title: trans.__('Cancel the job?'),
    body: trans.__(
      '%1 (%2) stops; the notebook is kept as far as it got.',
      baseName(job.notebook),
      job.id
    ),
    buttons: [
      Dialog.cancelButton({ label: trans.__('Keep running') }),
      Dialog.warnButton({ label: trans.__('Cancel job') })
    ]
  });
  if (!result.button.accept) {
    return;
  }
  try {
    model.upsert(await cancelJob(job.id));
  } catch (error) {
    Notification.error(
      trans.__('Could not cancel %1: %2', job.id, messageOf(error)),
      { autoClose: false }
    );
  }
}

async function confirmDelete(
  job: IJobInfo,
  model: JobsModel,
  trans: TranslationBundle
): Promise<boolean> {
  const running = job.phase === 'Pending' || job.phase === 'Running';
  const name = baseName(job.notebook);
  const result = await showDialog({
    title: trans.__('Delete the job?'),
    body: running
      ? trans.__(
          '%1 (%2): the job, its pods and its log are deleted, and it stops now. The executed notebook stays in your files.',
          name,
          job.id
        )
      : trans.__(
          '%1 (%2): the job, its pods and its log are deleted. The executed notebook stays in your files.',
          name,
          job.id
        ),
    buttons: [
      Dialog.cancelButton(),
      Dialog.warnButton({ label: trans.__('Delete') })
    ]
  });
  if (!result.button.accept) {
    return false;
  }
  try {
    await deleteJob(job.id);
    model.remove(job.id);
    return true;
  } catch (error) {
    Notification.error(
      trans.__('Could not delete %1: %2', job.id, messageOf(error)),
      { autoClose: false }
    );
    return false;
  }
}

export default [plugin, kernelStartupPlugin];

// The public API for other extensions (docs/ui.md): the token and the types it uses.
export * from './tokens';
export type { IJobFilter, IJobsDiff } from './models/jobs';
export { APIError } from './request';
