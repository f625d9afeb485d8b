/**
 * Identifiers and shared types of the jupyter-k8s JupyterLab extension.
 */

/** The id of the main plugin. */
export const PLUGIN_ID = 'jupyter-k8s:plugin';

/** The id of the Kubernetes side panel (also its layout restorer key). */
export const SIDEBAR_ID = 'jupyter-k8s-sidebar';

/** The path segment of the server extension's REST API, under the server's base URL. */
export const API_NAMESPACE = 'jupyter-k8s';

/** Command ids. */
export namespace CommandIDs {
  /** Show the Kubernetes side panel. */
  export const openSidebar = 'jupyter-k8s:open-sidebar';
  /** Ask the server for fresh cluster information. */
  export const refreshCluster = 'jupyter-k8s:refresh-cluster';
}

/** Allocatable and used count of one GPU resource (e.g. `nvidia.com/gpu`). */
export interface IGPUCount {
  allocatable: number;
  in_use: number;
}

/** The answer of `GET /jupyter-k8s/cluster`. */
export interface IClusterInfo {
  reachable: boolean;
  error: string | null;
  context: string | null;
  namespace: string | null;
  server: string | null;
  version: string | null;
  identity: string | null;
  gpus: Record<string, IGPUCount> | null;
  gpus_error?: string | null;
}
