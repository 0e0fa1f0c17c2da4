/**
 * Kubernetes-style RBAC: Roles (in a namespace) and ClusterRoles (everywhere) grant verbs on
 * resources; RoleBindings and ClusterRoleBindings give a role to users and groups. Rules only
 * allow: anything not granted is denied.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMetaSchema } from './meta.ts';

/** The API verbs a rule can grant ('*' grants all of them). */
export const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'] as const;
export type Verb = (typeof VERBS)[number];

const NAME_LIKE = '^[a-z0-9*]([-a-z0-9.:/*]*[a-z0-9*])?$';

export const PolicyRuleSchema = Type.Object(
  {
    verbs: Type.Array(Type.Union([...VERBS.map((v) => Type.Literal(v)), Type.Literal('*')]), {
      minItems: 1,
      maxItems: 16,
      description: "Verbs allowed: get, list, watch, create, update, patch, delete, deletecollection, or '*' for all.",
    }),
    resources: Type.Array(Type.String({ maxLength: 253, pattern: NAME_LIKE }), {
      minItems: 1,
      maxItems: 64,
      description: "Resources (plural names, e.g. haproxyconfigs), subresources as 'resource/subresource' (haproxyinstances/status), or '*' for all.",
    }),
    resourceNames: Type.Optional(
      Type.Array(Type.String({ maxLength: 253 }), {
        maxItems: 256,
        description: 'When set, only these object names (get, update, patch, delete only; list, watch and create name no object).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Verbs allowed on resources.' },
);
export type PolicyRule = Static<typeof PolicyRuleSchema>;

const rules = Type.Array(PolicyRuleSchema, { maxItems: 256, description: 'What the role allows.' });

export const RoleSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'Role' })),
    metadata: ObjectMetaSchema,
    rules,
  },
  { additionalProperties: false, description: 'Verbs on resources within one namespace.' },
);
export type Role = Static<typeof RoleSchema>;

export const ClusterRoleSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'ClusterRole' })),
    metadata: ObjectMetaSchema,
    rules,
  },
  { additionalProperties: false, description: 'Verbs on resources in every namespace (through a ClusterRoleBinding) or in one (through a RoleBinding).' },
);
export type ClusterRole = Static<typeof ClusterRoleSchema>;

export const SubjectSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('User'), Type.Literal('Group')], { description: 'User or Group.' }),
    name: Type.String({ minLength: 1, maxLength: 253, description: 'User name or group name as the authenticator reports it.' }),
  },
  { additionalProperties: false, description: 'Who gets the role.' },
);
export type Subject = Static<typeof SubjectSchema>;

const subjects = Type.Array(SubjectSchema, { minItems: 1, maxItems: 256, description: 'Users and groups given the role.' });

export const RoleBindingSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'RoleBinding' })),
    metadata: ObjectMetaSchema,
    roleRef: Type.Object(
      {
        kind: Type.Union([Type.Literal('Role'), Type.Literal('ClusterRole')], { description: 'Role (of this namespace) or ClusterRole.' }),
        name: Type.String({ minLength: 1, maxLength: 253, description: 'Name of the role.' }),
      },
      { additionalProperties: false, description: 'The role given; a ClusterRole applies only within this namespace.' },
    ),
    subjects,
  },
  { additionalProperties: false, description: 'Gives a role to users and groups within one namespace.' },
);
export type RoleBinding = Static<typeof RoleBindingSchema>;

export const ClusterRoleBindingSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'ClusterRoleBinding' })),
    metadata: ObjectMetaSchema,
    roleRef: Type.Object(
      {
        kind: Type.Literal('ClusterRole', { description: 'ClusterRole.' }),
        name: Type.String({ minLength: 1, maxLength: 253, description: 'Name of the ClusterRole.' }),
      },
      { additionalProperties: false, description: 'The ClusterRole given, in every namespace.' },
    ),
    subjects,
  },
  { additionalProperties: false, description: 'Gives a ClusterRole to users and groups in every namespace.' },
);
export type ClusterRoleBinding = Static<typeof ClusterRoleBindingSchema>;
