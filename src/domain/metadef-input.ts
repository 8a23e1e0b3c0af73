/**
 * Metadefs request bodies to domain values, in Glance's order: read-only attributes are 403
 * (its deserializers' `_check_allowed`), then the body must match the schema (400), then the
 * values are taken as Glance's WSME models take them (attributes a model does not have dropped).
 */
import { BadRequest, Forbidden } from './errors.js';
import { PROPERTY_ATTRIBUTES, type MetadefVisibility, type ObjectFields, type PropertyDefinition } from './metadef-model.js';

type Json = Record<string, unknown>;

interface Validator {
  validate(doc: unknown): void;
}

/** A body that is an object, its read-only keys refused, valid against `schema`. */
export function checkedBody(body: unknown, readOnly: readonly string[], schema: Validator): Json {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('Body expected in request.');
  for (const key of readOnly) if (Object.hasOwn(body, key)) throw new Forbidden(`Attribute '${key}' is read-only.`);
  schema.validate(body);
  return body as Json;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A property definition: the attributes Glance's PropertyType has, without its name. */
export function propertyDefinition(value: unknown): PropertyDefinition {
  const source = (value ?? {}) as Json;
  const out: PropertyDefinition = {};
  for (const key of PROPERTY_ATTRIBUTES) if (source[key] !== undefined) out[key] = source[key];
  return out;
}

export function propertyDefinitions(value: unknown): Record<string, PropertyDefinition> {
  return Object.fromEntries(Object.entries((value ?? {}) as Json).map(([name, def]) => [name, propertyDefinition(def)]));
}

function requiredName(item: unknown, what: string): string {
  const name = (item as Json | null)?.name;
  if (typeof name !== 'string' || name === '') throw new BadRequest(`Invalid input: a metadata definition ${what} needs a name`);
  return name;
}

export function objectFields(body: Json): ObjectFields {
  return {
    name: requiredName(body, 'object'),
    description: str(body.description),
    required: Array.isArray(body.required) ? (body.required as string[]) : null,
    properties: propertyDefinitions(body.properties),
  };
}

export interface AssociationInput {
  name: string;
  prefix: string | null;
  properties_target: string | null;
}

export function associationInput(item: unknown): AssociationInput {
  const body = item as Json;
  return { name: requiredName(body, 'resource type association'), prefix: str(body.prefix), properties_target: str(body.properties_target) };
}

/** A namespace's attributes as a create or an update sends them (absent ones undefined). */
export interface NamespaceInput {
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: MetadefVisibility | undefined;
  protected: boolean | undefined;
  owner: string | undefined;
  associations?: AssociationInput[];
  properties?: Record<string, PropertyDefinition>;
  objects?: ObjectFields[];
  tags?: string[];
}

export function namespaceInput(body: Json): NamespaceInput {
  return {
    namespace: body.namespace as string,
    display_name: str(body.display_name),
    description: str(body.description),
    visibility: body.visibility as MetadefVisibility | undefined,
    protected: body.protected as boolean | undefined,
    owner: body.owner as string | undefined,
    associations: Array.isArray(body.resource_type_associations) ? body.resource_type_associations.map(associationInput) : undefined,
    properties: body.properties !== undefined ? propertyDefinitions(body.properties) : undefined,
    objects: Array.isArray(body.objects) ? body.objects.map((o) => objectFields(o as Json)) : undefined,
    tags: Array.isArray(body.tags) ? body.tags.map((t) => requiredName(t, 'tag')) : undefined,
  };
}
