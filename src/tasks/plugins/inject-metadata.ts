import type { ImportPlugin, ImportPluginOptions, PluginOutcome, PluginRun } from './plugin-contract.js';

/**
 * `inject_image_metadata`: sets the operator's `[inject_metadata_properties] inject` properties
 * on every imported image, unless the caller holds one of `ignore_user_roles` (by default
 * admins, who set what they mean themselves). Keys in Glance's reserved `os_glance` namespace
 * are dropped, as Glance drops them: they belong to the import machinery.
 */
export class InjectMetadataPlugin implements ImportPlugin {
  readonly name = 'inject_image_metadata';
  private readonly inject: Readonly<Record<string, string>>;
  private readonly ignoreUserRoles: ReadonlySet<string>;

  constructor(options: Pick<ImportPluginOptions, 'inject' | 'ignoreUserRoles'>) {
    this.inject = Object.fromEntries(Object.entries(options.inject).filter(([key]) => !key.startsWith('os_glance')));
    this.ignoreUserRoles = new Set(options.ignoreUserRoles);
  }

  async run({ roles }: PluginRun): Promise<PluginOutcome> {
    if (roles.some((role) => this.ignoreUserRoles.has(role))) return {};
    if (Object.keys(this.inject).length === 0) return {};
    return { properties: { ...this.inject } };
  }
}
