/**
 * Identifiers, shared types and the public token of the jupyter-k8s JupyterLab extension.
 */

import { Token } from '@lumino/coreutils';
import type { ISignal } from '@lumino/signaling';

import type { IJobFilter, IJobsDiff } from './models/jobs';

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
  /** Open the submit dialog (for the current notebook, or the `path` argument). */
  export const submit = 'jupyter-k8s:submit';
  /** Ask the server for the job list now. */
  export const refreshJobs = 'jupyter-k8s:refresh-jobs';
  /** Open the detail of a job (`id` argument). */
  export const openJob = 'jupyter-k8s:open-job';
  /** Open the live view of a running job (`id` argument). */
  export const openLive = 'jupyter-k8s:open-live';
  /** Ask the server for the schedules now. */
  export const refreshSchedules = 'jupyter-k8s:refresh-schedules';
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
  /** Set while the server's watch of the cluster reconnects: statuses may be stale. */
  stale?: string | null;
}

/** The phases of a notebook job. */
export type JobPhase =
  'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled';

/** Phases in which a job is still going. */
export const UNFINISHED_PHASES: readonly JobPhase[] = ['Pending', 'Running'];

/** Every phase, in the order a job goes through them. */
export const ALL_PHASES: readonly JobPhase[] = [
  'Pending',
  'Running',
  'Succeeded',
  'Failed',
  'Cancelled'
];

/** Where the executed notebook is. */
export type OutputState = 'none' | 'pending' | 'ready' | 'error';

/** A JSON value (parameters and their values). */
export type JSONValue =
  string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** A notebook job as the server answers it (`JobInfo` in docs/openapi.yaml). */
export interface IJobInfo {
  id: string;
  notebook: string;
  owner: string;
  profile?: string | null;
  image?: string | null;
  parameters: Record<string, JSONValue>;
  phase: JobPhase;
  reason?: string | null;
  message?: string | null;
  created?: string | null;
  started?: string | null;
  finished?: string | null;
  duration_seconds?: number | null;
  current_cell?: number | null;
  total_cells?: number | null;
  /** The first line of the cell running (text from the pod, at most 120 characters). */
  current_cell_line?: string | null;
  output_path?: string | null;
  output_state: OutputState;
  output_error?: string | null;
  /** What ran where, once the output is collected (the job detail only). */
  provenance?: IProvenance | null;
  /** A sweep's indexes (`SweepInfo`); absent or null for a plain job. */
  sweep?: ISweepInfo | null;
  /** The schedule this job is a run of (its id), if any. */
  schedule?: string | null;
  /**
   * Its place in its Kueue queue, for a job put in one (docs/queues.md). While it waits
   * there the job is Pending with reason Queued, Preempted or Inadmissible and this
   * object's message.
   */
  queue?: IQueueInfo | null;
}

/** Where a piece of work stands in its Kueue queue (`QueueInfo.state`). */
export type QueueState =
  'queued' | 'admitted' | 'preempted' | 'inadmissible' | 'finished';

/** One resource of a ClusterQueue: what its admitted work holds, and its quota. */
export interface IQueueUsage {
  /** e.g. `nvidia.com/gpu`, `cpu`, `memory`. */
  resource: string;
  /** A Kubernetes quantity held by admitted work, e.g. `8` or `12Gi`. */
  used: string;
  /** The nominal quota over the ClusterQueue's flavors. */
  quota: string;
}

/** Where a job stands in its Kueue queue, in Kueue's words (`QueueInfo`). */
export interface IQueueInfo {
  /** The LocalQueue (label `kueue.x-k8s.io/queue-name`). */
  queue: string;
  /** The ClusterQueue the LocalQueue feeds. */
  cluster_queue?: string | null;
  state: QueueState;
  /** Its 1-based place in the LocalQueue while it waits (Kueue's visibility API). */
  position?: number | null;
  /** How many workloads wait in the LocalQueue, this one included. */
  pending?: number | null;
  /** Its WorkloadPriorityClass, if any. */
  priority_class?: string | null;
  /** The ClusterQueue's usage of each resource the job asks for (empty where unreadable). */
  usage: IQueueUsage[];
  /** For a person, in Kueue's words. */
  message: string;
}

/** One index of a sweep: its parameter set and how it went (`IndexInfo`). */
export interface ISweepIndex {
  index: number;
  parameters: Record<string, JSONValue>;
  phase: JobPhase;
  reason?: string | null;
  message?: string | null;
  /** This index's executed notebook (`<stem>.<id>-<index>.ipynb`). */
  output_path?: string | null;
  output_state: OutputState;
  output_error?: string | null;
}

/** A sweep's indexes, counted and one by one (`SweepInfo`). */
export interface ISweepInfo {
  total: number;
  parallelism: number;
  succeeded: number;
  failed: number;
  running: number;
  pending: number;
  cancelled: number;
  indexes: ISweepIndex[];
}

/** How a sweep combines its lists: every combination, or the i-th values together. */
export type SweepMode = 'grid' | 'zip';

/** The `sweep` of a submit request: parameter name -> its list of values. */
export interface ISweepSpec {
  mode: SweepMode;
  parameters: Record<string, JSONValue[]>;
}

/** One row of a sweep's results table: an index, its parameters and recorded values. */
export interface ISweepResultRow {
  index: number;
  parameters: Record<string, JSONValue>;
  phase: JobPhase;
  reason?: string | null;
  message?: string | null;
  output_path?: string | null;
  /** What the notebook recorded with `jupyter_k8s_record(name, value)`. */
  records: Record<string, JSONValue>;
}

/** The answer of `GET /jupyter-k8s/jobs/{id}/results`. */
export interface ISweepResults {
  id: string;
  phase: JobPhase;
  /** The parameter names, in the order of the sweep. */
  parameters: string[];
  /** The recorded names, in the order first recorded. */
  records: string[];
  rows: ISweepResultRow[];
}

/** The `jupyter_k8s` block of an executed notebook's metadata (unset fields absent). */
export interface IProvenance {
  job_id: string;
  sweep_index?: number;
  parameters?: Record<string, JSONValue>;
  profile?: string;
  image?: string;
  image_digest?: string;
  node?: string;
  gpu_resource?: string;
  gpu_count?: number;
  gpu_product?: string;
  started?: string;
  finished?: string;
  duration_seconds?: number;
  outcome: JobPhase;
  reason: string;
  gpu_hours?: number;
  cost_per_hour?: number;
  cost?: number;
}

/** The answer of `GET /jupyter-k8s/jobs`. */
export interface IJobList {
  jobs: IJobInfo[];
  total: number;
  offset: number;
  limit: number;
}

/** The answer of `POST /jupyter-k8s/jobs` and `POST .../rerun`. */
export interface ISubmitted {
  job: IJobInfo;
  warnings: string[];
}

/** The body of `POST /jupyter-k8s/jobs`. */
export interface ISubmitRequest {
  notebook: string;
  parameters?: Record<string, JSONValue>;
  profile?: string | null;
  image?: string | null;
  env?: Record<string, string>;
  /** Run once per parameter set, as one Indexed Job (docs/jobs.md#sweeps). */
  sweep?: ISweepSpec | null;
  /** A sweep's indexes run at once (capped by the profile's `max_parallelism`). */
  parallelism?: number | null;
  /** The Kueue LocalQueue: the profile's `queue` or one of its `queues`; null: the profile's. */
  queue?: string | null;
  /** The WorkloadPriorityClass: the profile's or one of its `priority_classes`; needs a queue. */
  priority_class?: string | null;
}

/** A schedule: a notebook run on a cron schedule by a CronJob (`ScheduleInfo`). */
export interface IScheduleInfo {
  /** The CronJob's name; the id in URLs. */
  id: string;
  notebook: string;
  owner: string;
  profile?: string | null;
  image?: string | null;
  parameters: Record<string, JSONValue>;
  /** Five cron fields or a macro such as `@daily`. */
  cron: string;
  /** The IANA time zone of the cron fields; null: UTC. */
  time_zone?: string | null;
  concurrency_policy?: string;
  successful_jobs_history_limit?: number;
  failed_jobs_history_limit?: number;
  suspended: boolean;
  created?: string | null;
  /** When it runs next; null while paused. */
  next_run?: string | null;
  /** When the controller last started a run. */
  last_schedule?: string | null;
  /** When a run last succeeded. */
  last_successful?: string | null;
  /** Ids of the runs going on. */
  active: string[];
  /** Ids of its runs Kubernetes still keeps, newest first. */
  runs: string[];
}

/** The body of `POST /jupyter-k8s/schedules`: a submit request and when it runs. */
export interface IScheduleRequest extends ISubmitRequest {
  cron: string;
  time_zone?: string | null;
  /** Created paused. */
  suspend?: boolean;
}

/** The answer of `POST /jupyter-k8s/schedules`. */
export interface IScheduleCreated {
  schedule: IScheduleInfo;
  warnings: string[];
}

/** The body of `PATCH /jupyter-k8s/schedules/{id}` (fields left out stay as they are). */
export interface IScheduleUpdate {
  suspend?: boolean;
  cron?: string;
  /** null or '': UTC. */
  time_zone?: string | null;
}

/** A cell of a live notebook (`GET /jupyter-k8s/jobs/{id}/live`), nbformat 4. */
export interface ILiveCell {
  id?: string;
  cell_type: string;
  source: string | string[];
  metadata?: Record<string, unknown> & {
    jupyter_k8s_live?: { state?: string };
  };
  execution_count?: number | null;
  outputs?: Record<string, unknown>[];
}

/** The notebook-level live state (`metadata.jupyter_k8s_live`). */
export interface ILiveHeader {
  job?: string;
  phase?: JobPhase;
  cell?: number | null;
  total?: number | null;
  line?: string | null;
  finished?: boolean;
  /** Where the notebook comes from: `log`, `file` or `output`. */
  source?: string;
}

/** The answer of `GET /jupyter-k8s/jobs/{id}/live`: the run so far, nbformat 4. */
export interface ILiveNotebook {
  cells: ILiveCell[];
  metadata: Record<string, unknown> & { jupyter_k8s_live?: ILiveHeader };
  nbformat: number;
  nbformat_minor: number;
}

/** A resource profile (`GET /jupyter-k8s/profiles`). */
export interface IProfile {
  name: string;
  display_name: string;
  description?: string;
  image?: string | null;
  cpu?: string | null;
  memory?: string | null;
  gpus?: number;
  gpu_resource?: string;
  default: boolean;
  /** The most indexes of a sweep that run at once (the server's default: 4). */
  max_parallelism?: number;
  /** The Kueue LocalQueue its jobs join by default; null: not queued. */
  queue?: string | null;
  /** Every LocalQueue a submit may name (`queue`), the default first. */
  queues?: string[];
  /** The WorkloadPriorityClass its queued jobs get by default. */
  priority_class?: string | null;
  /** Every WorkloadPriorityClass a submit may name, the default first. */
  priority_classes?: string[];
}

/** The extension's settings (schema/plugin.json). */
export interface IK8sSettings {
  /** The profile the submit dialog preselects; '' for the server's default. */
  defaultProfile: string;
  /** Seconds between polls while jobs change and the panel is visible. */
  refreshInterval: number;
  /** Seconds between polls otherwise. */
  idleRefreshInterval: number;
  /** Notify when a job submitted from this browser session ends. */
  notifications: boolean;
  /** Log lines a job's detail keeps. */
  logTailLines: number;
  /** Show the Kubernetes panel after a submit. */
  showPanelOnSubmit: boolean;
}

/** The settings' defaults (also in schema/plugin.json). */
export const DEFAULT_SETTINGS: IK8sSettings = {
  defaultProfile: '',
  refreshInterval: 2,
  idleRefreshInterval: 15,
  notifications: true,
  logTailLines: 2000,
  showPanelOnSubmit: true
};

/** What a remote kernel does now (`GET /jupyter-k8s/kernels`, `KernelStatus`). */
export interface IKernelStatus {
  kernel_id: string;
  /** The kernelspec, e.g. `k8s-gpu`. */
  kernel_name?: string | null;
  profile?: string | null;
  pod?: string | null;
  /** Creating, Pending, Starting, Running, Failed, ... */
  phase?: string | null;
  /** Kubernetes' reason, e.g. `Unschedulable`. */
  reason?: string | null;
  /** For a person, e.g. the scheduler's message. */
  message?: string | null;
  node?: string | null;
  ip?: string | null;
  restarts?: number | null;
  /** The session's notebook, relative to the server's root. */
  notebook?: string | null;
  since?: string | null;
  /**
   * Its place in a Kueue queue, where the provisioner reports one (KernelStatus allows more
   * properties; a queued kernel is Pending with reason Queued and the queue's message).
   */
  queue?: IQueueInfo | null;
}

/** One entry of a job's events (`GET /jupyter-k8s/jobs/{id}/events`, `JobEvent`). */
export interface IJobEvent {
  time: string | null;
  /** `Normal` or `Warning`. */
  type: string;
  reason: string;
  message: string;
  /** The kind of the object the event is about: `Job` or `Pod`. */
  object: string;
  name: string;
  /** The container a pod event is about (`Started`, `Killing`, ...), if any. */
  container?: string | null;
  count: number;
}

/** The prefix of the kernelspecs the server extension serves (`k8s-<profile>`). */
export const KERNELSPEC_PREFIX = 'k8s-';

/**
 * The jobs of this user as the page knows them, kept in step with the server by the one
 * poller of the page (`IJupyterK8s.jobs`).
 */
export interface IJobsModel {
  /** What changed (added, changed, removed, finished, settled jobs) after each update. */
  readonly changed: ISignal<IJobsModel, IJobsDiff>;
  /** The loading state or the error changed. */
  readonly stateChanged: ISignal<IJobsModel, void>;
  /** Whether the first answer came. */
  readonly loaded: boolean;
  /** The last error (the server or the cluster), or null after a good answer. */
  readonly error: string | null;
  /** All jobs known, newest first; only those that pass `filter` when one is given. */
  list(filter?: IJobFilter): IJobInfo[];
  /** One job, or undefined. */
  get(id: string): IJobInfo | undefined;
  /** Ask the server now (`full`: the whole list, not only the unfinished jobs). */
  refresh(full?: boolean): Promise<void>;
}

/**
 * What the jupyter-k8s plugin offers other extensions: the user's notebook jobs, their
 * changes, and submitting a notebook (docs/ui.md, "For other extensions").
 */
export interface IJupyterK8s {
  /** The jobs, shared with the Kubernetes panel. */
  readonly jobs: IJobsModel;
  /**
   * Submit a notebook as a job, without the dialog (`POST /jupyter-k8s/jobs`). The job is
   * in `jobs` at once and followed like one submitted from the dialog: its end is notified
   * when notifications are on. Resolves with the job and the server's warnings; rejects
   * with the server's error (`message`, `reason`, and the request `field` at fault).
   */
  submit(request: ISubmitRequest): Promise<ISubmitted>;
  /** Show a job's view in the main area. */
  openJob(id: string): void;
}

/** The token of the jupyter-k8s plugin's `IJupyterK8s`. */
export const IJupyterK8s = new Token<IJupyterK8s>(
  'jupyter-k8s:IJupyterK8s',
  'Kubernetes notebook jobs: list them, follow their changes, submit notebooks.'
);
