/**
 * Glance's ten metadefs JSON schemas (glance/api/v2/metadef_*.py `get_schema` and
 * `get_collection_schema`, as `raw()` serves them), key for key: served at
 * /v2/schemas/metadefs/* and the validators of the requests — one object for both.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { BadRequest } from './errors.js';
import { explainSchemaError, type JsonSchema } from './image-schema.js';

const PROPERTY_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', null];

/** The definitions the namespace and object schemas share (Glance's get_schema_definitions). */
function sharedDefinitions(): JsonSchema {
  return {
    positiveInteger: { type: 'integer', minimum: 0 },
    positiveIntegerDefault0: { allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }] },
    stringArray: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    property: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['title', 'type'],
        properties: propertyAttributes(),
      },
    },
  };
}

/** The attributes of a property definition (the property schema's properties). */
function propertyAttributes(): JsonSchema {
  return {
    name: { type: 'string', maxLength: 80 },
    title: { type: 'string' },
    description: { type: 'string' },
    operators: { type: 'array', items: { type: 'string' } },
    type: { type: 'string', enum: PROPERTY_TYPES },
    required: { $ref: '#/definitions/stringArray' },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    maxLength: { $ref: '#/definitions/positiveInteger' },
    minLength: { $ref: '#/definitions/positiveIntegerDefault0' },
    pattern: { type: 'string', format: 'regex' },
    enum: { type: 'array' },
    readonly: { type: 'boolean' },
    default: {},
    items: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: PROPERTY_TYPES },
        enum: { type: 'array' },
      },
    },
    maxItems: { $ref: '#/definitions/positiveInteger' },
    minItems: { $ref: '#/definitions/positiveIntegerDefault0' },
    uniqueItems: { type: 'boolean', default: false },
    additionalItems: { type: 'boolean' },
  };
}

const timestamp = (description: string): JsonSchema => ({ type: 'string', readOnly: true, description, format: 'date-time' });
const readOnlyString = (): JsonSchema => ({ readOnly: true, type: 'string' });

/** Glance's Schema.raw(): nothing but the listed properties. */
function raw(name: string, properties: JsonSchema, required: string[] | null, definitions: JsonSchema | null): JsonSchema {
  return { name, properties, additionalProperties: false, ...(definitions ? { definitions } : {}), ...(required && required.length > 0 ? { required } : {}) };
}

/** Glance's CollectionSchema.raw() (an array of items) or DictCollectionSchema.raw() (a map of them). */
function collection(name: string, item: JsonSchema, shape: 'array' | 'object'): JsonSchema {
  const { definitions, ...itemWithout } = item;
  return {
    name,
    properties: {
      [name]: shape === 'array' ? { type: 'array', items: itemWithout } : { type: 'object', additionalProperties: itemWithout },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
    ...(definitions ? { definitions } : {}),
  };
}

export function namespaceSchema(): JsonSchema {
  const properties: JsonSchema = {
    namespace: { type: 'string', description: 'The unique namespace text.', maxLength: 80 },
    display_name: { type: 'string', description: 'The user friendly name for the namespace. Used by UI if available.', maxLength: 80 },
    description: { type: 'string', description: 'Provides a user friendly description of the namespace.', maxLength: 500 },
    visibility: { type: 'string', description: 'Scope of namespace accessibility.', enum: ['public', 'private'] },
    protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
    owner: { type: 'string', description: 'Owner of the namespace.', maxLength: 255 },
    created_at: timestamp('Date and time of namespace creation'),
    updated_at: timestamp('Date and time of the last namespace modification'),
    schema: readOnlyString(),
    self: readOnlyString(),
    resource_type_associations: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, prefix: { type: 'string' }, properties_target: { type: 'string' } } },
    },
    properties: { $ref: '#/definitions/property' },
    objects: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          required: { $ref: '#/definitions/stringArray' },
          properties: { $ref: '#/definitions/property' },
        },
      },
    },
    tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
  };
  return raw('namespace', properties, ['namespace'], sharedDefinitions());
}

export function objectSchema(): JsonSchema {
  const properties: JsonSchema = {
    name: { type: 'string', maxLength: 80 },
    description: { type: 'string' },
    required: { $ref: '#/definitions/stringArray' },
    properties: { $ref: '#/definitions/property' },
    schema: readOnlyString(),
    self: readOnlyString(),
    created_at: timestamp('Date and time of object creation'),
    updated_at: timestamp('Date and time of the last object modification'),
  };
  return raw('object', properties, ['name'], sharedDefinitions());
}

/** The property schema; `requireName` false for the definitions inside an object (they are keyed by name). */
export function propertySchema(requireName = true): JsonSchema {
  const definitions = {
    positiveInteger: { type: 'integer', minimum: 0 },
    positiveIntegerDefault0: { allOf: [{ $ref: '#/definitions/positiveInteger' }, { default: 0 }] },
    stringArray: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true },
  };
  return raw('property', propertyAttributes(), requireName ? ['type', 'title', 'name'] : ['type', 'title'], definitions);
}

export function tagSchema(): JsonSchema {
  return raw('tag', { name: { type: 'string', maxLength: 80 }, created_at: timestamp('Date and time of tag creation'), updated_at: timestamp('Date and time of the last tag modification') }, ['name'], null);
}

/** The body of POST /v2/metadefs/namespaces/{ns}/tags (not served). */
function tagListBodySchema(): JsonSchema {
  return raw('tags', { tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false } } }, null, null);
}

export function resourceTypeAssociationSchema(): JsonSchema {
  const properties: JsonSchema = {
    name: {
      type: 'string',
      description:
        'Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html',
      maxLength: 80,
    },
    prefix: {
      type: 'string',
      description:
        'Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :).',
      maxLength: 80,
    },
    properties_target: {
      type: 'string',
      description:
        'Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity.',
      maxLength: 80,
    },
    created_at: timestamp('Date and time of resource type association'),
    updated_at: timestamp('Date and time of the last resource type association modification'),
  };
  return raw('resource_type_association', properties, ['name'], null);
}

/** The ten schemas served under /v2/schemas/metadefs/, by their path's last segment. */
export function metadefSchemas(): Record<string, JsonSchema> {
  const propertiesItem = propertySchema();
  propertiesItem.required = ['type', 'title'];
  return {
    namespace: namespaceSchema(),
    namespaces: collection('namespaces', namespaceSchema(), 'array'),
    resource_type: resourceTypeAssociationSchema(),
    resource_types: collection('resource_type_associations', resourceTypeAssociationSchema(), 'array'),
    property: propertySchema(),
    properties: collection('properties', propertiesItem, 'object'),
    object: objectSchema(),
    objects: collection('objects', objectSchema(), 'array'),
    tag: tagSchema(),
    tags: collection('tags', tagSchema(), 'array'),
  };
}

/** Validates a body against one schema with Glance's 400 (python-jsonschema without a format checker: formats are not checked). */
class MetadefValidator {
  private readonly fn: ValidateFunction;
  constructor(private readonly schema: JsonSchema) {
    const ajv = new Ajv({ strict: false, validateFormats: false, logger: false });
    this.fn = ajv.compile({ ...schema, name: undefined, links: undefined });
  }

  validate(doc: unknown): void {
    if (!this.fn(doc)) {
      const err = this.fn.errors?.[0];
      throw new BadRequest(err ? explainSchemaError(err, doc, String(this.schema.name)) : 'Provided object does not match schema');
    }
  }
}

/** The validators of metadef request bodies, compiled once. */
export class MetadefBodies {
  readonly namespace = new MetadefValidator(namespaceSchema());
  readonly object = new MetadefValidator(objectSchema());
  readonly property = new MetadefValidator(propertySchema());
  /** An object's property definitions, each. */
  readonly objectProperty = new MetadefValidator(propertySchema(false));
  readonly tag = new MetadefValidator(tagSchema());
  readonly tagList = new MetadefValidator(tagListBodySchema());
  readonly association = new MetadefValidator(resourceTypeAssociationSchema());
}
