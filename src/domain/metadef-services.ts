/** The metadefs services, built together from one set of dependencies (the composition root's one call). */
import { MetadefNamespaces } from './metadef-namespaces.js';
import { MetadefObjects } from './metadef-objects.js';
import { MetadefProperties } from './metadef-properties.js';
import { MetadefResourceTypes } from './metadef-resource-types.js';
import type { MetadefServiceDeps } from './metadef-service.js';
import { MetadefTags } from './metadef-tags.js';

export function metadefServices(deps: MetadefServiceDeps) {
  return {
    namespaces: new MetadefNamespaces(deps),
    objects: new MetadefObjects(deps),
    properties: new MetadefProperties(deps),
    tags: new MetadefTags(deps),
    resourceTypes: new MetadefResourceTypes(deps),
  };
}
