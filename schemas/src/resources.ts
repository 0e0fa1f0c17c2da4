/**
 * One descriptor per resource: names, schema and printer columns. The server's generic routes,
 * the OpenAPI and CRD generators, hqctl and the console all read these.
 */
import type { TObject } from '@sinclair/typebox';
import { HAProxyConfigSchema } from './config.ts';
import { EventSchema } from './event.ts';
import { HAProxyInstanceSchema } from './instance.ts';
import { LeaseSchema } from './lease.ts';
import { ClusterRoleBindingSchema, ClusterRoleSchema, RoleBindingSchema, RoleSchema } from './rbac.ts';
import { ConfigRevisionSchema } from './revision.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 0: shown by default; 1: only with -o wide. */
  priority?: number;
}

export interface ResourceDescriptor {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  /** False for cluster-wide resources (ClusterRole, ClusterRoleBinding): no namespace in their paths. */
  namespaced: boolean;
  schema: TObject;
  /** True when status is written only through the /status subresource. */
  statusSubresource: boolean;
  /** True when spec can never change after creation (metadata still can). */
  specImmutable: boolean;
  /** True when only the server creates these objects (ConfigRevisions record HAProxyConfig changes). */
  serverCreated: boolean;
  printerColumns: PrinterColumn[];
}

const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

export const HAProxyInstanceResource: ResourceDescriptor = {
  kind: 'HAProxyInstance',
  plural: 'haproxyinstances',
  singular: 'haproxyinstance',
  shortNames: ['hpi'],
  categories: ['haproxyhq', 'all'],
  namespaced: true,
  schema: HAProxyInstanceSchema,
  statusSubresource: true,
  specImmutable: false,
  serverCreated: false,
  printerColumns: [
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Ready condition.' },
    { name: 'Revision', type: 'string', jsonPath: '.status.appliedRevision', description: 'ConfigRevision HAProxy is running.' },
    { name: 'HAProxy', type: 'string', jsonPath: '.status.haproxy.version', description: 'HAProxy version.' },
    age,
    { name: 'Desired', type: 'string', jsonPath: '.spec.configRevision', description: 'ConfigRevision it should run.', priority: 1 },
    { name: 'Drifted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Drifted")].status', description: 'Local edits differ from the applied config.', priority: 1 },
    { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'Skipped by rollouts.', priority: 1 },
    { name: 'Heartbeat', type: 'date', jsonPath: '.status.heartbeatTime', description: 'Time since the agent last reported.', priority: 1 },
  ],
};

export const HAProxyConfigResource: ResourceDescriptor = {
  kind: 'HAProxyConfig',
  plural: 'haproxyconfigs',
  singular: 'haproxyconfig',
  shortNames: ['hpc'],
  categories: ['haproxyhq', 'all'],
  namespaced: true,
  schema: HAProxyConfigSchema,
  statusSubresource: true,
  specImmutable: false,
  serverCreated: false,
  printerColumns: [
    { name: 'Revision', type: 'integer', jsonPath: '.metadata.generation', description: 'Latest revision number.' },
    { name: 'Strategy', type: 'string', jsonPath: '.spec.strategy.type', description: 'Rollout strategy.' },
    { name: 'Instances', type: 'integer', jsonPath: '.status.instances', description: 'Instances selected.' },
    { name: 'Ready', type: 'integer', jsonPath: '.status.ready', description: 'Instances ready on the latest revision.' },
    age,
    { name: 'Updated', type: 'integer', jsonPath: '.status.updated', description: 'Instances told to run the latest revision.', priority: 1 },
    { name: 'Failed', type: 'integer', jsonPath: '.status.failed', description: 'Instances that failed the latest revision.', priority: 1 },
  ],
};

export const ConfigRevisionResource: ResourceDescriptor = {
  kind: 'ConfigRevision',
  plural: 'configrevisions',
  singular: 'configrevision',
  shortNames: ['hpcr'],
  categories: ['haproxyhq'],
  namespaced: true,
  schema: ConfigRevisionSchema,
  statusSubresource: false,
  specImmutable: true,
  serverCreated: true,
  printerColumns: [
    { name: 'Config', type: 'string', jsonPath: '.spec.configName', description: 'HAProxyConfig it snapshots.' },
    { name: 'Revision', type: 'integer', jsonPath: '.spec.revision', description: 'Revision number.' },
    { name: 'Hash', type: 'string', jsonPath: '.spec.contentHash', description: 'Content hash.', priority: 1 },
    age,
  ],
};

export const EventResource: ResourceDescriptor = {
  kind: 'Event',
  plural: 'events',
  singular: 'event',
  shortNames: ['hqev'],
  categories: ['haproxyhq'],
  namespaced: true,
  schema: EventSchema,
  statusSubresource: false,
  specImmutable: false,
  serverCreated: false,
  printerColumns: [
    { name: 'Last Seen', type: 'date', jsonPath: '.lastTimestamp', description: 'Time since it last happened.' },
    { name: 'Type', type: 'string', jsonPath: '.type', description: 'Normal or Warning.' },
    { name: 'Reason', type: 'string', jsonPath: '.reason', description: 'Why.' },
    { name: 'Object', type: 'string', jsonPath: '.involvedObject.name', description: 'What it is about.' },
    { name: 'Message', type: 'string', jsonPath: '.message', description: 'What happened.' },
  ],
};

export const LeaseResource: ResourceDescriptor = {
  kind: 'Lease',
  plural: 'leases',
  singular: 'lease',
  shortNames: ['hqlease'],
  categories: ['haproxyhq'],
  namespaced: true,
  schema: LeaseSchema,
  statusSubresource: false,
  specImmutable: false,
  serverCreated: false,
  printerColumns: [
    { name: 'Holder', type: 'string', jsonPath: '.spec.holderIdentity', description: 'Who holds the lease.' },
    { name: 'Renewed', type: 'date', jsonPath: '.spec.renewTime', description: 'Time since the last renewal.' },
    { name: 'Duration', type: 'integer', jsonPath: '.spec.leaseDurationSeconds', description: 'Seconds it stays valid without renewal.' },
    age,
  ],
};

const rbac = (kind: string, plural: string, namespaced: boolean, schema: TObject, columns: PrinterColumn[]): ResourceDescriptor => ({
  kind,
  plural,
  singular: kind.toLowerCase(),
  shortNames: [],
  categories: ['haproxyhq-rbac'],
  namespaced,
  schema,
  statusSubresource: false,
  specImmutable: false,
  serverCreated: false,
  printerColumns: [...columns, age],
});
const roleRef: PrinterColumn = { name: 'Role', type: 'string', jsonPath: '.roleRef.name', description: 'The role given.' };
const subjects: PrinterColumn = { name: 'Subjects', type: 'string', jsonPath: '.subjects[*].name', description: 'Users and groups given it.' };

export const RoleResource = rbac('Role', 'roles', true, RoleSchema, []);
export const ClusterRoleResource = rbac('ClusterRole', 'clusterroles', false, ClusterRoleSchema, []);
export const RoleBindingResource = rbac('RoleBinding', 'rolebindings', true, RoleBindingSchema, [roleRef, subjects]);
export const ClusterRoleBindingResource = rbac('ClusterRoleBinding', 'clusterrolebindings', false, ClusterRoleBindingSchema, [roleRef, subjects]);

export const RESOURCES: readonly ResourceDescriptor[] = [
  HAProxyInstanceResource,
  HAProxyConfigResource,
  ConfigRevisionResource,
  EventResource,
  LeaseResource,
  RoleResource,
  ClusterRoleResource,
  RoleBindingResource,
  ClusterRoleBindingResource,
];
