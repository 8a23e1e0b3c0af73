/**
 * Glance's metadefs definition files (etc/metadefs/*.json, Debian's /usr/share/glance-common/metadefs):
 * one namespace per file with its resource type associations, properties, objects and tags.
 * `parseMetadefFile` reads and checks one file, naming the file and the offending field when it
 * is malformed; `exportDocument` and `exportFileName` write a namespace back in the shape
 * `glance-manage db export_metadefs` writes. No I/O here: the loader (src/db/metadef-catalogue-io.ts)
 * reads and writes the files.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { namespaceSchema } from './metadef-schemas.js';

export type JsonObject = Record<string, unknown>;

export interface ResourceTypeAssociationDefinition {
  name: string;
  prefix: string | null;
  properties_target: string | null;
}

export interface ObjectDefinition {
  name: string;
  description: string | null;
  /** Names of required properties; null when the file gives none. */
  required: string[] | null;
  /** Property name → its schema (title, type, enum…). */
  properties: Record<string, JsonObject>;
}

/** One namespace as a definition file gives it, with Glance's defaults filled in. */
export interface NamespaceDefinition {
  namespace: string;
  display_name: string | null;
  description: string | null;
  /** A file without one gives Glance a NULL visibility, which only the owner and admins see: private. */
  visibility: 'public' | 'private';
  protected: boolean;
  /** Glance's loader makes `admin` the owner of a namespace whose file names none. */
  owner: string;
  resource_type_associations: ResourceTypeAssociationDefinition[];
  properties: Record<string, JsonObject>;
  objects: ObjectDefinition[];
  tags: { name: string }[];
}

/** How a definition meets an existing namespace of the same name (glance-manage's --merge, --prefer-new, --overwrite). */
export interface LoadOptions {
  merge?: boolean;
  preferNew?: boolean;
  overwrite?: boolean;
}

export type LoadOutcome = 'created' | 'skipped' | 'merged' | 'updated' | 'overwritten';

export const DEFAULT_METADEF_OWNER = 'admin';

/** A definition file that cannot be loaded: which file, which field, what is wrong with it. */
export class MetadefFileError extends Error {
  constructor(
    readonly file: string,
    /** The offending field as a path (`objects[2].properties.cpu.type`), or null for the file as a whole. */
    readonly field: string | null,
    readonly problem: string,
  ) {
    super(`${file}: ${field === null ? '' : `field ${field}: `}${problem}`);
    this.name = 'MetadefFileError';
  }
}

/**
 * What a file must be: the namespace schema of the API (the one POST /v2/metadefs/namespaces
 * validates with, src/domain/metadef-schemas.ts), so whatever loads is what the API could have
 * created; its read-only fields (created_at, self…) are tolerated, so a saved API response loads
 * too, and any other unknown top-level field is a typo reported rather than silently ignored.
 */
const validateNamespace = new Ajv({ strict: false, validateFormats: false, logger: false }).compile({ ...namespaceSchema(), name: undefined, links: undefined });

/**
 * And what Glance's columns add to it: names are required and at most 80 characters (the API
 * checks those one by one, as each item is created), and property names too.
 */
const name80 = { type: 'string', minLength: 1, maxLength: 80 };
const named = { type: 'array', items: { type: 'object', required: ['name'], properties: { name: name80 } } };
const propertyNames = { type: 'object', propertyNames: name80 };
const validateColumns = new Ajv({ strict: false }).compile({
  type: 'object',
  properties: {
    namespace: { minLength: 1 },
    resource_type_associations: named,
    properties: propertyNames,
    objects: { ...named, items: { ...named.items, properties: { ...named.items.properties, properties: propertyNames } } },
    tags: named,
  },
});

/**
 * A null field of the namespace, or of its associations, objects and tags, is an absent one, as
 * Glance's loader reads it (`.get()`); Glance's own exports write null for a missing prefix or
 * properties_target. Property definitions are kept as they are (a `default` may be null).
 */
function withoutNulls(doc: unknown): unknown {
  const strip = (o: unknown): unknown => (o !== null && typeof o === 'object' && !Array.isArray(o) ? Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null)) : o);
  const top = strip(doc);
  if (top === null || typeof top !== 'object' || Array.isArray(top)) return top;
  const out: JsonObject = { ...top };
  for (const list of ['resource_type_associations', 'objects', 'tags']) if (Array.isArray(out[list])) out[list] = (out[list] as unknown[]).map(strip);
  return out;
}

/** `/objects/2/properties/cpu` → `objects[2].properties.cpu`. */
function fieldPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`), '');
}

function explain(err: ErrorObject): { field: string | null; problem: string } {
  const at = fieldPath(err.instancePath);
  const child = (name: string) => (at === '' ? name : `${at}.${name}`);
  // Ajv names the offending key of a `propertyNames` failure on the error itself.
  if (err.propertyName !== undefined) return { field: child(err.propertyName), problem: 'is not a valid property name (1 to 80 characters)' };
  switch (err.keyword) {
    case 'required':
      return { field: child(String(err.params.missingProperty)), problem: 'is required' };
    case 'additionalProperties':
      return { field: child(String(err.params.additionalProperty)), problem: 'is not a field of a metadefs namespace file' };
    case 'enum':
      return { field: at, problem: `must be one of ${(err.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    default:
      return { field: at === '' ? null : at, problem: err.message ?? 'is invalid' };
  }
}

function duplicateName(file: string, list: { name: string }[], field: string): void {
  const seen = new Set<string>();
  list.forEach((item, i) => {
    if (seen.has(item.name)) throw new MetadefFileError(file, `${field}[${i}].name`, `duplicates the name '${item.name}'`);
    seen.add(item.name);
  });
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Parses and checks the text of one definition file; MetadefFileError names the file and the field at fault. */
export function parseMetadefFile(file: string, text: string): NamespaceDefinition {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new MetadefFileError(file, null, `is not valid JSON (${(err as Error).message})`);
  }
  const d = withoutNulls(doc) as JsonObject;
  for (const validate of [validateNamespace, validateColumns]) {
    if (!validate(d)) {
      const { field, problem } = explain(validate.errors![0]!);
      throw new MetadefFileError(file, field, problem);
    }
  }
  const def: NamespaceDefinition = {
    namespace: d.namespace as string,
    display_name: str(d.display_name),
    description: str(d.description),
    visibility: d.visibility === 'public' ? 'public' : 'private',
    protected: d.protected === true,
    owner: str(d.owner) ?? DEFAULT_METADEF_OWNER,
    resource_type_associations: ((d.resource_type_associations ?? []) as JsonObject[]).map((a) => ({ name: a.name as string, prefix: str(a.prefix), properties_target: str(a.properties_target) })),
    properties: (d.properties ?? {}) as Record<string, JsonObject>,
    objects: ((d.objects ?? []) as JsonObject[]).map((o) => ({
      name: o.name as string,
      description: str(o.description),
      required: (o.required as string[] | undefined) ?? null,
      properties: (o.properties ?? {}) as Record<string, JsonObject>,
    })),
    tags: ((d.tags ?? []) as JsonObject[]).map((t) => ({ name: t.name as string })),
  };
  // Names are unique within a namespace (and a resource type is associated once): a file that
  // repeats one is a mistake Glance would silently half-apply.
  duplicateName(file, def.resource_type_associations, 'resource_type_associations');
  duplicateName(file, def.objects, 'objects');
  duplicateName(file, def.tags, 'tags');
  return def;
}

/**
 * A namespace as `glance-manage db export_metadefs` writes it (same fields, same order), plus the
 * owner, so that loading the export again gives the namespace back to the same project, and an
 * object's `required` when it has one (Glance's exporter drops both).
 */
export function exportDocument(def: NamespaceDefinition): JsonObject {
  return {
    namespace: def.namespace,
    display_name: def.display_name,
    description: def.description,
    visibility: def.visibility,
    protected: def.protected,
    owner: def.owner,
    resource_type_associations: def.resource_type_associations.map((a) => ({ name: a.name, prefix: a.prefix, properties_target: a.properties_target })),
    properties: def.properties,
    objects: def.objects.map((o) => ({ name: o.name, description: o.description, ...(o.required === null ? {} : { required: o.required }), properties: o.properties })),
    tags: def.tags.map((t) => ({ name: t.name })),
  };
}

/**
 * Glance's export file name: the display name with everything but letters and digits removed
 * (`libvirt Driver Options` → `libvirtDriverOptions.json`). Glance lets a second namespace whose
 * name strips to the same overwrite the first; here it gets a numbered name, and a namespace
 * without a display name is named after the namespace.
 */
export function exportFileName(def: Pick<NamespaceDefinition, 'namespace' | 'display_name'>, taken: Set<string>): string {
  const strip = (s: string | null) => (s ?? '').replace(/[^\p{L}\p{N}]+/gu, '');
  const base = strip(def.display_name) || strip(def.namespace) || 'namespace';
  let name = `${base}.json`;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}.json`;
  taken.add(name);
  return name;
}
