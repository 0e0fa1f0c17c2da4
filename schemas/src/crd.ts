/** Builds CustomResourceDefinition objects, so the same resources can live on a real Kubernetes cluster. */
import { convertSchema } from './convert.ts';
import { GROUP, VERSION } from './meta.ts';
import { RESOURCES, type ResourceDescriptor } from './resources.ts';

/** The CRD for one resource, as a plain object ready for YAML. */
export function buildCrd(r: ResourceDescriptor): Record<string, unknown> {
  const schema = convertSchema(r.schema, 'crd');
  const version: Record<string, unknown> = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: schema },
    additionalPrinterColumns: r.printerColumns.map((c) => ({
      name: c.name,
      type: c.type,
      jsonPath: c.jsonPath,
      description: c.description,
      ...(c.priority ? { priority: c.priority } : {}),
    })),
  };
  if (r.statusSubresource) version.subresources = { status: {} };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${r.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: r.namespaced ? 'Namespaced' : 'Cluster',
      names: {
        kind: r.kind,
        listKind: `${r.kind}List`,
        plural: r.plural,
        singular: r.singular,
        shortNames: r.shortNames,
        categories: r.categories,
      },
      versions: [version],
    },
  };
}

export const buildCrds = () => RESOURCES.map(buildCrd);
