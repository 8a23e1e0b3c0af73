/**
 * What a client command runs with: the SDK client (made from clouds.yaml / OS_* only when a
 * command first needs it), its output options, the signal Ctrl-C aborts, and clean-ups to run when
 * it does (e.g. removing a partial download).
 */
import { ImageClient, type CloudConfig } from '../../sdk/index.js';
import { parseFormat, type OutputOptions } from './output.js';
import { UsageError } from './usage.js';

export interface ClientContext {
  client(): ImageClient;
  out: OutputOptions;
  /** Aborted on Ctrl-C (SIGINT). */
  signal: AbortSignal;
  /** Run once if the command is interrupted. */
  onInterrupt(cleanup: () => void): void;
}

export interface ContextSource {
  signal: AbortSignal;
  onInterrupt(cleanup: () => void): void;
}

/** The common options that configure the connection. */
export interface ConnectionValues {
  'os-cloud'?: string;
  'os-cacert'?: string;
  insecure?: boolean;
  verify?: boolean;
  'os-cert'?: string;
  'os-key'?: string;
}

/** The TLS options as settings that win over clouds.yaml and OS_* (as openstack's do). */
export function tlsOverrides(values: ConnectionValues): CloudConfig {
  if (values.insecure && values.verify) throw new UsageError('--insecure and --verify: give one of them');
  const overrides: CloudConfig = {};
  if (values['os-cacert'] !== undefined) overrides.cacert = values['os-cacert'];
  if (values.insecure || values.verify) overrides.insecure = Boolean(values.insecure);
  if (values['os-cert'] !== undefined) overrides.cert = values['os-cert'];
  if (values['os-key'] !== undefined) overrides.key = values['os-key'];
  return overrides;
}

/** The context for a command's parsed common options. */
export function contextFor(values: { format?: string; column?: string[] } & ConnectionValues, source: ContextSource): ClientContext {
  const out: OutputOptions = { format: parseFormat(values.format), columns: values.column ?? [] };
  const overrides = tlsOverrides(values);
  let made: ImageClient | undefined;
  return {
    out,
    signal: source.signal,
    onInterrupt: source.onInterrupt,
    client: () => (made ??= ImageClient.fromEnvironment({ cloud: values['os-cloud'], overrides, userAgent: 'ocellus-client' })),
  };
}
