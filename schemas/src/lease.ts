import { Type, type Static } from '@sinclair/typebox';
import { ObjectMetaSchema } from './meta.ts';

/**
 * A small, frequently renewed object, as coordination.k8s.io/v1 Lease: agents renew one each to
 * say they are alive (Kubernetes moved node heartbeats to Leases so that a heartbeat does not
 * rewrite a large status), and controllers use them for leader election.
 */
export const LeaseSpecSchema = Type.Object(
  {
    holderIdentity: Type.Optional(Type.String({ maxLength: 253, description: 'Who holds the lease: the agent (host) or controller replica.' })),
    leaseDurationSeconds: Type.Optional(
      Type.Integer({ minimum: 1, description: 'How long the holder is considered alive after renewTime without a renewal.' }),
    ),
    acquireTime: Type.Optional(Type.String({ format: 'date-time', description: 'When the current holder acquired the lease.' })),
    renewTime: Type.Optional(Type.String({ format: 'date-time', description: 'When the holder last renewed the lease.' })),
    leaseTransitions: Type.Optional(Type.Integer({ minimum: 0, description: 'How many times the holder changed.' })),
  },
  { additionalProperties: false, description: 'Holder and timing of the lease.' },
);

export const LeaseSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.String({ description: 'haproxyhq.io/v1alpha1' })),
    kind: Type.Optional(Type.String({ description: 'Lease' })),
    metadata: ObjectMetaSchema,
    spec: Type.Optional(LeaseSpecSchema),
  },
  { additionalProperties: false, description: 'A liveness and leader-election lease (agents renew one per HAProxyInstance).' },
);
export type Lease = Static<typeof LeaseSchema>;
