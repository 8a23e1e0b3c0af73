import { IMPORT_PLUGIN_NAMES, type ImportPluginOptions } from '../tasks/import-plugins.js';
import { ConfigError, type OptionSpec } from './option-spec.js';
import type { Config } from './options.js';

/**
 * The options of the import plugins, under Glance's sections and names, so a
 * glance-image-import.conf's lines carry over. Spread into OPTIONS by options.ts.
 */
export const IMPORT_PLUGIN_SECTIONS = {
  image_import_opts: {
    image_import_plugins: {
      kind: 'list',
      bounds: true,
      choices: IMPORT_PLUGIN_NAMES,
      default: [],
      help: "Plugins run in this order on an imported image's data before it is stored: no_op, image_decompression, image_conversion, inject_image_metadata. Glance's syntax ['a', 'b'] and a plain comma-separated list are both read.",
    },
  },
  image_conversion: {
    output_format: { kind: 'string', default: 'raw', choices: ['qcow2', 'raw', 'vmdk'], help: 'disk_format the image_conversion plugin converts imported images to.' },
  },
  inject_metadata_properties: {
    inject: { kind: 'dict', default: {}, help: 'Properties the inject_image_metadata plugin sets on imported images: key:value,key2:value2.' },
    ignore_user_roles: { kind: 'list', default: ['admin'], help: 'Callers with one of these roles get no injected properties.' },
  },
} as const satisfies Record<string, Record<string, OptionSpec>>;

/** Declared with the disk-format inspector's `[image_format]` options; this default applies where that option is absent. */
const DEFAULT_VMDK_ALLOWED_TYPES = ['monolithicSparse', 'streamOptimized'];
/** Glance's limit on a property name. */
const MAX_PROPERTY_KEY = 255;

/** Start-time checks the option table cannot express; ConfigError when one fails. */
export function checkImportPluginConfig(config: Config): void {
  for (const key of Object.keys(config.inject_metadata_properties.inject)) {
    if (key.length > MAX_PROPERTY_KEY) throw new ConfigError(`[inject_metadata_properties] inject: the key '${key.slice(0, 40)}…' is longer than ${MAX_PROPERTY_KEY} characters`);
  }
}

/** What buildImportPlugins needs, from the configuration. */
export function importPluginOptions(config: Config): ImportPluginOptions {
  const vmdkAllowed = (config.image_format as Record<string, unknown>)['vmdk_allowed_types'];
  return {
    outputFormat: config.image_conversion.output_format as ImportPluginOptions['outputFormat'],
    inject: { ...config.inject_metadata_properties.inject },
    ignoreUserRoles: [...config.inject_metadata_properties.ignore_user_roles],
    vmdkAllowedTypes: Array.isArray(vmdkAllowed) ? vmdkAllowed.map(String) : [...DEFAULT_VMDK_ALLOWED_TYPES],
    maxBytes: config.DEFAULT.image_size_cap,
  };
}
