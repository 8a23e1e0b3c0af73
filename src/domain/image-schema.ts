import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { BadRequest } from './errors.js';
import { IMAGE_STATUSES, UUID_PATTERN, VISIBILITIES } from './image-model.js';

export type JsonSchema = Record<string, unknown>;

/**
 * The image schema: served at /v2/schemas/image and used to validate every create and PATCH
 * (one object for both). Base properties are Glance's; the typed custom properties are those of
 * the schema-image.json Glance ships (kernel_id, os_distro, …).
 */
export function buildImageSchema(formats: { disk: readonly string[]; container: readonly string[]; multiStore?: boolean }): JsonSchema {
  return {
    name: 'image',
    properties: {
      id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
      name: { type: ['null', 'string'], description: 'Descriptive name for the image', maxLength: 255 },
      status: {
        type: 'string',
        readOnly: true,
        description: 'Status of the image',
        enum: [...IMAGE_STATUSES],
      },
      visibility: { type: 'string', description: 'Scope of image accessibility', enum: [...VISIBILITIES] },
      protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
      os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
      checksum: { type: ['null', 'string'], readOnly: true, description: 'md5 hash of image contents.', maxLength: 32 },
      os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Algorithm to calculate the os_hash_value', maxLength: 64 },
      os_hash_value: {
        type: ['null', 'string'],
        readOnly: true,
        description: 'Hexdigest of the image contents using the algorithm specified by the os_hash_algo',
        maxLength: 128,
      },
      owner: { type: ['null', 'string'], description: 'Owner of the image', maxLength: 255 },
      size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
      virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual size of image in bytes' },
      container_format: { type: ['null', 'string'], description: 'Format of the container', enum: [null, ...formats.container] },
      disk_format: { type: ['null', 'string'], description: 'Format of the disk', enum: [null, ...formats.disk] },
      created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
      updated_at: { type: 'string', readOnly: true, description: 'Date and time of the last image modification' },
      tags: { type: 'array', description: 'List of strings related to the image', items: { type: 'string', maxLength: 255 } },
      direct_url: { type: 'string', readOnly: true, description: 'URL to access the image file kept in external store' },
      min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
      min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
      self: { type: 'string', readOnly: true, description: 'An image self url' },
      file: { type: 'string', readOnly: true, description: 'An image file url' },
      // `stores` is listed only with multi-store: python-glanceclient turns every schema property
      // into a CLI flag, and a `--stores` from the schema collides with its own `--stores` flag.
      ...(formats.multiStore
        ? {
            stores: {
              type: 'string',
              readOnly: true,
              description: 'Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers.',
            },
          }
        : {}),
      schema: { type: 'string', readOnly: true, description: 'An image schema url' },
      locations: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            url: { type: 'string', maxLength: 255 },
            metadata: { type: 'object' },
            validation_data: {
              description: 'Values to be used to populate the corresponding image properties. If the image status is not \'queued\', values must exactly match those already contained in the image properties.',
              type: 'object',
              writeOnly: true,
              additionalProperties: false,
              properties: {
                checksum: { type: 'string', minLength: 32, maxLength: 32 },
                os_hash_algo: { type: 'string', maxLength: 64 },
                os_hash_value: { type: 'string', maxLength: 128 },
              },
              required: ['os_hash_algo', 'os_hash_value'],
            },
          },
          required: ['url', 'metadata'],
        },
        description: 'A set of URLs to access the image file kept in external store',
      },
      // Typed custom properties (Glance's default schema-image.json).
      kernel_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
        is_base: false,
      },
      ramdisk_id: {
        type: ['null', 'string'],
        pattern: UUID_PATTERN,
        description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
        is_base: false,
      },
      instance_uuid: {
        type: 'string',
        description: 'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)',
        is_base: false,
      },
      architecture: {
        description: 'Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html',
        type: 'string',
        is_base: false,
      },
      os_distro: {
        description: 'Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html',
        type: 'string',
        is_base: false,
      },
      os_version: { description: 'Operating system version as specified by the distributor.', type: 'string', is_base: false },
      description: { description: 'A human-readable string describing this image.', type: 'string', is_base: false },
    },
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function buildImagesSchema(image: JsonSchema): JsonSchema {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: image },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/**
 * Attributes the server computes: sending them is 403 `read-only`. The schema's `readOnly`
 * properties, and `stores`, which the served schema lists only with multi-store (see above) but
 * no user may set either way.
 */
export function readOnlyAttributes(schema: JsonSchema): Set<string> {
  const props = schema.properties as Record<string, { readOnly?: boolean }>;
  return new Set([...Object.entries(props).filter(([, p]) => p.readOnly === true).map(([k]) => k), 'stores']);
}

/** Names no user may set as custom properties (403 `reserved`): Glance's and its `os_glance*` namespace. */
export function isReservedProperty(key: string): boolean {
  return key === 'location' || key === 'locations' || key === 'deleted' || key === 'deleted_at' || key.startsWith('os_glance');
}

/** Names of the base (non-custom) image attributes: those of the schema not marked `is_base: false`. */
export function baseAttributes(schema: JsonSchema): Set<string> {
  const props = schema.properties as Record<string, { is_base?: boolean }>;
  return new Set(Object.entries(props).filter(([, p]) => p.is_base !== false).map(([k]) => k));
}

/** A value for an error message, in Python's words, cut to a readable length; never throws. */
export function describeValue(value: unknown): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  let text: string;
  try {
    text = typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
  } catch {
    text = Array.isArray(value) ? 'an array' : 'an object'; // too deep to quote
  }
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const seg of pointer.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}

/** A message in the spirit of Glance's (python-jsonschema's), naming the offending property. */
export function explainSchemaError(err: ErrorObject, doc: unknown, schemaName: string): string {
  const value = valueAt(doc, err.instancePath);
  const prop = err.instancePath.split('/').filter((s) => s !== '').join('.') || '(document)';
  let reason: string;
  switch (err.keyword) {
    case 'type':
      reason = `${describeValue(value)} is not of type ${[err.params.type].flat().map((t) => `'${String(t)}'`).join(', ')}`;
      break;
    case 'enum':
      reason = `${describeValue(value)} is not one of [${(err.params.allowedValues as unknown[]).map(describeValue).join(', ')}]`;
      break;
    case 'maxLength':
      reason = `${describeValue(value)} is too long (at most ${String(err.params.limit)} characters)`;
      break;
    case 'minLength':
      reason = `${describeValue(value)} is too short (at least ${String(err.params.limit)} characters)`;
      break;
    case 'pattern':
      reason = `${describeValue(value)} does not match '${String(err.params.pattern)}'`;
      break;
    case 'required':
      reason = `'${String(err.params.missingProperty)}' is a required property`;
      break;
    case 'additionalProperties':
      reason = `Additional properties are not allowed ('${String(err.params.additionalProperty)}' was unexpected)`;
      break;
    default:
      reason = err.message ?? 'is invalid';
  }
  return `Provided object does not match schema '${schemaName}': ${reason} (property ${prop})`;
}

/** Validates documents against one schema, throwing BadRequest with a readable reason. */
export class SchemaValidator {
  private readonly validateFn: ValidateFunction;
  constructor(private readonly schema: JsonSchema) {
    const ajv = new Ajv({ strict: false, allErrors: false });
    // `links`, `name`, `is_base` are annotations of Glance's schemas, not JSON-schema keywords.
    this.validateFn = ajv.compile({ ...schema, links: undefined, name: undefined });
  }

  validate(doc: unknown): void {
    if (!this.validateFn(doc)) {
      const err = this.validateFn.errors?.[0];
      throw new BadRequest(err ? explainSchemaError(err, doc, String(this.schema.name)) : 'Provided object does not match schema');
    }
  }
}

/** What the image schema says about attributes, compiled once for every service that checks them. */
export class ImageAttributes {
  readonly validator: SchemaValidator;
  /** Base (non-custom) attributes. */
  readonly base: Set<string>;
  /** Attributes no user may set (403 `read-only`). */
  readonly readOnly: Set<string>;

  constructor(schema: JsonSchema) {
    this.validator = new SchemaValidator(schema);
    this.base = baseAttributes(schema);
    this.readOnly = readOnlyAttributes(schema);
  }
}
