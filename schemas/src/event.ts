import { Type, type Static } from '@sinclair/typebox';
import { ObjectMetaSchema } from './meta.ts';

export const ObjectReferenceSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.String({ description: 'Kind of the object.' }),
    name: Type.String({ description: 'Name of the object.' }),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    resourceVersion: Type.Optional(Type.String()),
  },
  { additionalProperties: false, description: 'The object the event is about.' },
);

export const EventSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'Event' })),
    metadata: ObjectMetaSchema,
    involvedObject: ObjectReferenceSchema,
    type: Type.Union([Type.Literal('Normal'), Type.Literal('Warning')], { description: 'Normal or Warning.' }),
    reason: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[A-Z][A-Za-z0-9]*$',
      description: 'CamelCase reason, e.g. ConfigApplied, ConfigRejected, RolledBack, DriftDetected.',
    }),
    message: Type.Optional(Type.String({ maxLength: 32768, description: 'What happened.' })),
    count: Type.Optional(Type.Integer({ minimum: 1, description: 'How many times this event occurred.' })),
    firstTimestamp: Type.Optional(Type.String({ format: 'date-time' })),
    lastTimestamp: Type.Optional(Type.String({ format: 'date-time' })),
    source: Type.Optional(
      Type.Object(
        {
          component: Type.Optional(Type.String({ description: 'hq-agent, rollout-controller, ...' })),
          host: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, description: 'Something that happened to an object.' },
);
export type HQEvent = Static<typeof EventSchema>;
