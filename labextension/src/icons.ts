import { LabIcon } from '@jupyterlab/ui-components';

import kubernetesSvg from '../style/icons/kubernetes.svg';

/** The jupyter-k8s icon: a helm wheel. */
export const kubernetesIcon = new LabIcon({
  name: 'jupyter-k8s:kubernetes',
  svgstr: kubernetesSvg
});
