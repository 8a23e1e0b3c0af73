import { ImageConversionPlugin } from './plugins/image-conversion.js';
import { ImageDecompressionPlugin } from './plugins/image-decompression.js';
import { InjectMetadataPlugin } from './plugins/inject-metadata.js';
import type { ImportPlugin, ImportPluginOptions, PluginOutcome } from './plugins/plugin-contract.js';

/**
 * The import plugins `[image_import_opts] image_import_plugins` names, built in the configured
 * order. The engine runs them one after the other on the staged file (see plugin-contract.ts
 * for what each is given and answers).
 */
export type { ImportPlugin, ImportPluginOptions, PluginImage, PluginOutcome, PluginRun, StagedFile } from './plugins/plugin-contract.js';
export { ImportPluginError } from './plugins/plugin-contract.js';

/** `no_op`: Glance's example plugin; it does nothing, which makes it handy for testing the flow. */
class NoOpPlugin implements ImportPlugin {
  readonly name = 'no_op';
  async run(): Promise<PluginOutcome> {
    return {};
  }
}

const FACTORIES: Readonly<Record<string, (options: ImportPluginOptions) => ImportPlugin>> = {
  no_op: () => new NoOpPlugin(),
  image_decompression: (o) => new ImageDecompressionPlugin(o),
  image_conversion: (o) => new ImageConversionPlugin(o),
  inject_image_metadata: (o) => new InjectMetadataPlugin(o),
};

/** Every plugin name Ocellus knows (Glance's four). */
export const IMPORT_PLUGIN_NAMES: readonly string[] = Object.keys(FACTORIES);

export class UnknownImportPluginError extends Error {
  override readonly name = 'UnknownImportPluginError';
}

/** The configured plugins in order; unknown names → throws (config error at start). */
export function buildImportPlugins(names: readonly string[], options: ImportPluginOptions): ImportPlugin[] {
  return names.map((name) => {
    const make = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
    if (!make) throw new UnknownImportPluginError(`unknown import plugin '${name}' (known: ${IMPORT_PLUGIN_NAMES.join(', ')})`);
    return make(options);
  });
}
