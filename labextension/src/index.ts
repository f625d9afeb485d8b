import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { refreshIcon, SidePanel } from '@jupyterlab/ui-components';

import { kubernetesIcon } from './icons';
import { CommandIDs, PLUGIN_ID, SIDEBAR_ID } from './tokens';
import { ClusterCard } from './widgets/ClusterCard';

/**
 * The jupyter-k8s plugin: a "Kubernetes" panel in the left sidebar.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Kubernetes one click from a notebook.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const panel = new SidePanel();
    panel.id = SIDEBAR_ID;
    panel.addClass('jp-k8s-SidePanel');
    panel.title.icon = kubernetesIcon;
    panel.title.caption = 'Kubernetes';

    const card = new ClusterCard();
    panel.addWidget(card);

    app.shell.add(panel, 'left', { rank: 600 });
    if (restorer) {
      restorer.add(panel, SIDEBAR_ID);
    }

    app.commands.addCommand(CommandIDs.openSidebar, {
      label: 'Show Kubernetes Panel',
      icon: kubernetesIcon,
      execute: () => {
        app.shell.activateById(SIDEBAR_ID);
      }
    });
    app.commands.addCommand(CommandIDs.refreshCluster, {
      label: 'Refresh Kubernetes Cluster Information',
      icon: refreshIcon,
      execute: () => card.refresh()
    });
    if (palette) {
      for (const command of [
        CommandIDs.openSidebar,
        CommandIDs.refreshCluster
      ]) {
        palette.addItem({ command, category: 'Kubernetes' });
      }
    }
  }
};

export default plugin;
