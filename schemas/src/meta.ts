/**
 * Shared Kubernetes-style shapes: ObjectMeta, Condition, LabelSelector, Status, List and WatchEvent.
 * Environment-neutral: no Node or browser APIs, so the server, CLI, agent and console share it.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import './formats.ts';

export const GROUP = 'haproxyhq.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** DNS-1123 subdomain (Kubernetes object names): lowercase alphanumerics, '-' and '.', at most 253. */
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** DNS-1123 label (namespaces): lowercase alphanumerics and '-', at most 63. */
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const StringMapSchema = (description: string) =>
  Type.Record(Type.String(), Type.String(), { description });

export const OwnerReferenceSchema = Type.Object(
  {
    apiVersion: Type.String({ description: 'API version of the owner.' }),
    kind: Type.String({ description: 'Kind of the owner.' }),
    name: Type.String({ description: 'Name of the owner.' }),
    uid: Type.String({ description: 'UID of the owner.' }),
    controller: Type.Optional(Type.Boolean({ description: 'True if the owner is the managing controller.' })),
    blockOwnerDeletion: Type.Optional(Type.Boolean({ description: 'Kept for Kubernetes compatibility.' })),
  },
  { additionalProperties: false, description: 'An object this object depends on; deleting the owner deletes this object.' },
);

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        maxLength: 253,
        pattern: DNS1123_SUBDOMAIN,
        description: 'Name, unique within the namespace: a DNS-1123 subdomain (lowercase letters, digits, "-" and ".").',
      }),
    ),
    generateName: Type.Optional(
      Type.String({ maxLength: 247, description: 'Prefix for a server-generated name, used when name is empty.' }),
    ),
    namespace: Type.Optional(
      Type.String({ maxLength: 63, pattern: DNS1123_LABEL, description: 'Namespace: a DNS-1123 label.' }),
    ),
    uid: Type.Optional(Type.String({ description: 'Unique ID set by the server at creation. Read-only.' })),
    resourceVersion: Type.Optional(
      Type.String({
        description:
          'The store revision of the last write to this object. Opaque to clients; sent back on update for optimistic concurrency.',
      }),
    ),
    generation: Type.Optional(
      Type.Integer({ description: 'Incremented by the server on every change to spec. Read-only.' }),
    ),
    creationTimestamp: Type.Optional(
      Type.String({ format: 'date-time', description: 'When the object was created (RFC 3339). Read-only.' }),
    ),
    deletionTimestamp: Type.Optional(
      Type.String({ format: 'date-time', description: 'When the object was deleted. Read-only.' }),
    ),
    labels: Type.Optional(StringMapSchema('Labels: identifying key/value pairs used by selectors.')),
    annotations: Type.Optional(StringMapSchema('Annotations: non-identifying metadata for tools.')),
    ownerReferences: Type.Optional(
      Type.Array(OwnerReferenceSchema, { description: 'Objects this object belongs to.' }),
    ),
  },
  { additionalProperties: false, description: 'Standard object metadata.' },
);
export type ObjectMeta = Static<typeof ObjectMetaSchema>;

export const ConditionSchema = Type.Object(
  {
    type: Type.String({ maxLength: 316, description: 'Condition type, e.g. Ready, ConfigApplied.' }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')], {
      description: 'True, False or Unknown.',
    }),
    reason: Type.Optional(
      Type.String({ maxLength: 1024, description: 'A CamelCase machine-readable reason for the last transition.' }),
    ),
    message: Type.Optional(Type.String({ maxLength: 32768, description: 'Human-readable details.' })),
    lastTransitionTime: Type.Optional(
      Type.String({ format: 'date-time', description: 'When status last changed.' }),
    ),
    observedGeneration: Type.Optional(
      Type.Integer({ description: 'The metadata.generation this condition was computed from.' }),
    ),
  },
  { additionalProperties: false, description: 'One aspect of the current state, Kubernetes-style.' },
);
export type Condition = Static<typeof ConditionSchema>;

export const LabelSelectorRequirementSchema = Type.Object(
  {
    key: Type.String({ description: 'Label key.' }),
    operator: Type.Union(
      [Type.Literal('In'), Type.Literal('NotIn'), Type.Literal('Exists'), Type.Literal('DoesNotExist')],
      { description: 'In, NotIn, Exists or DoesNotExist.' },
    ),
    values: Type.Optional(Type.Array(Type.String(), { description: 'Values for In and NotIn.' })),
  },
  { additionalProperties: false, description: 'One label requirement.' },
);

export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(StringMapSchema('Labels that must all match exactly.')),
    matchExpressions: Type.Optional(
      Type.Array(LabelSelectorRequirementSchema, { description: 'Requirements that must all hold.' }),
    ),
  },
  { additionalProperties: false, description: 'A Kubernetes label selector. Empty selects everything.' },
);
export type LabelSelector = Static<typeof LabelSelectorSchema>;

export const StatusCauseSchema = Type.Object(
  {
    reason: Type.Optional(Type.String({ description: 'Machine-readable cause, e.g. FieldValueInvalid.' })),
    message: Type.Optional(Type.String({ description: 'What is wrong with the field.' })),
    field: Type.Optional(Type.String({ description: 'Path of the failing field, e.g. spec.config.' })),
  },
  { additionalProperties: false },
);

export const StatusSchema = Type.Object(
  {
    kind: Type.Literal('Status'),
    apiVersion: Type.Literal('v1'),
    metadata: Type.Object({}, { additionalProperties: true }),
    status: Type.Union([Type.Literal('Success'), Type.Literal('Failure')]),
    message: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    details: Type.Optional(
      Type.Object(
        {
          name: Type.Optional(Type.String()),
          group: Type.Optional(Type.String()),
          kind: Type.Optional(Type.String()),
          uid: Type.Optional(Type.String()),
          causes: Type.Optional(Type.Array(StatusCauseSchema)),
          retryAfterSeconds: Type.Optional(Type.Integer()),
        },
        { additionalProperties: false },
      ),
    ),
    code: Type.Integer(),
  },
  { description: 'The result of a failed call (Kubernetes meta/v1 Status).' },
);
export type Status = Static<typeof StatusSchema>;

export const ListMetaSchema = Type.Object(
  {
    resourceVersion: Type.Optional(Type.String({ description: 'Store revision the list was read at.' })),
    continue: Type.Optional(Type.String({ description: 'Token for the next page, if any.' })),
    remainingItemCount: Type.Optional(Type.Integer({ description: 'Items after this page, when known.' })),
  },
  { additionalProperties: false },
);

/** A `XxxList` for a resource schema. */
export const ListSchema = <T extends TSchema>(kind: string, item: T) =>
  Type.Object(
    {
      apiVersion: Type.String(),
      kind: Type.Literal(`${kind}List`),
      metadata: ListMetaSchema,
      items: Type.Array(item),
    },
    { description: `A list of ${kind} objects.` },
  );

export const WatchEventTypes = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] as const;
export type WatchEventType = (typeof WatchEventTypes)[number];

/** One line of a watch stream. */
export const WatchEventSchema = <T extends TSchema>(object: T) =>
  Type.Object({
    type: Type.Union(WatchEventTypes.map((t) => Type.Literal(t))),
    object: Type.Union([object, StatusSchema]),
  });

/** The envelope every resource shares. */
export interface ObjectEnvelope {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}
