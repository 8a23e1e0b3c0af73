import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { adminTokenPath, ADMIN_TOKEN_IDENTITY, ensureAdminToken } from '../auth/admin-token.js';
import { authFlavor, ConfigError, loadConfig, type LoadOptions } from '../config/options.js';
import { createService } from '../service.js';
import { cacheCommand } from './cache.js';
import { clientCommand } from './client/run.js';
import { manage } from './manage.js';
import { scrub } from './scrub.js';

const USAGE = `Usage: ocellus serve [--host ADDR] [--port N] [--data-dir DIR] [--config FILE] [--log-level LEVEL]
       ocellus manage [--config FILE] [--data-dir DIR] db sync|version|check|purge
       ocellus cache [--config FILE] [--data-dir DIR] prefetch|prune|clean
       ocellus scrub [--config FILE] [--data-dir DIR] [--daemon] [--restore ID] [--orphans [--dry-run]]
       ocellus image|member|task <action> [options]   (client commands; see 'ocellus image --help')

Commands:
  serve    Run the Image API v2 server (SQLite + filesystem store under the data dir by default).
  manage   Database administration (see 'ocellus manage --help').
  cache    This node's image cache: prefetch queued images, prune, clean (see 'ocellus cache --help').
  scrub    Remove the data of delayed deletes, restore one, or remove orphaned data (see 'ocellus scrub --help').
  image    Client: list, show, create, upload, download, update, delete, import images (clouds.yaml / OS_*).
  member   Client: share an image with projects (create, list, show, set, delete).
  task     Client: list and show tasks.

Options:
  --host ADDR        Address to listen on ([DEFAULT] bind_host, default 127.0.0.1)
  --port N           Port to listen on ([DEFAULT] bind_port, default 9292)
  --data-dir DIR     Where the embedded database and image files live (default ./data)
  --config FILE      glance-api.conf-style INI file; flags override it
  --log-level LEVEL  fatal, error, warn, info, debug, trace or silent ([DEFAULT] log_level)
  -h, --help         Show this help

With no [paste_deploy] flavor configured, every request needs the admin token that serve writes
to DIR/admin-token on first start (mode 0600), as the X-Auth-Token header.
`;

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const overrides: NonNullable<LoadOptions['overrides']> = [];
  if (values.host !== undefined) overrides.push({ section: 'DEFAULT', name: 'bind_host', value: values.host });
  if (values.port !== undefined) overrides.push({ section: 'DEFAULT', name: 'bind_port', value: values.port });
  if (values['log-level'] !== undefined) overrides.push({ section: 'DEFAULT', name: 'log_level', value: values['log-level'] });
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'], overrides, warn: cluster.isPrimary ? undefined : () => undefined });

  const workers = config.DEFAULT.workers;
  // The default flavor's admin token: made (or checked) once, before any worker starts.
  const tokenFile = adminTokenPath(config.dataDir);
  const adminToken = cluster.isPrimary && authFlavor(config) === 'default' ? { file: tokenFile, ...ensureAdminToken(tokenFile) } : undefined;
  if (workers > 1 && cluster.isPrimary) {
    if (adminToken) printAdminTokenHelp(adminToken, imageUrl(config.DEFAULT.bind_host, config.DEFAULT.bind_port), config.console.enabled);
    // Several processes share the port; each runs the whole service against the same data.
    for (let i = 0; i < workers; i++) cluster.fork();
    cluster.on('exit', (worker, code, signal) => {
      process.stderr.write(`worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
      cluster.fork();
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        cluster.removeAllListeners('exit');
        for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig);
        process.exit(0);
      });
    }
    return;
  }

  const service = await createService(config);
  await service.app.listen({ host: config.DEFAULT.bind_host, port: config.DEFAULT.bind_port });
  if (adminToken) {
    const address = service.app.server.address();
    printAdminTokenHelp(adminToken, imageUrl(config.DEFAULT.bind_host, typeof address === 'object' && address ? address.port : config.DEFAULT.bind_port), config.console.enabled);
  }
  const stop = () => {
    service.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** The URL clients on this machine reach the server at (a wildcard address is reached on loopback). */
function imageUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * How to call the server with the default flavor's admin token, on stderr (the log goes to
 * stdout). The token itself is shown only when stderr is a terminal; anywhere else (a journal, a
 * log file) the lines read it from its file instead.
 */
function printAdminTokenHelp(admin: { file: string; token: string; created: boolean }, url: string, console: boolean): void {
  const token = process.stderr.isTTY ? admin.token : `$(cat ${admin.file})`;
  const id = ADMIN_TOKEN_IDENTITY;
  process.stderr.write(
    [
      '',
      `Ocellus ${admin.created ? 'created' : 'uses'} an admin token (user ${id.userId}, project ${id.projectId}, roles ${id.roles.join(',')}): ${admin.file}`,
      'Requests without a valid X-Auth-Token are refused (401). Try:',
      `  curl -H "X-Auth-Token: ${token}" ${url}/v2/images`,
      `  glance --os-image-url ${url} --os-auth-token ${token} image-list`,
      'or, for the glance client:',
      `  export OS_AUTH_TOKEN=${token}`,
      `  export OS_IMAGE_URL=${url}`,
      ...(console ? [`The web console: ${url}/console/ (sign in with the token).`] : []),
      '',
      '',
    ].join('\n'),
  );
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        await serve(rest);
        return;
      case 'manage': {
        const code = await manage(rest);
        if (code !== 0) process.exit(code);
        return;
      }
      case 'cache': {
        const code = await cacheCommand(rest);
        if (code !== 0) process.exit(code);
        return;
      }
      case 'scrub': {
        const code = await scrub(rest);
        if (code !== 0) process.exit(code);
        return;
      }
      case 'image':
      case 'member':
      case 'task': {
        const code = await clientCommand(command, rest);
        // Set, not exit: stdout (a pipe) is written asynchronously and must drain first.
        process.exitCode = code;
        if (code === 130) process.exit(code);
        return;
      }
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return;
      default:
        throw new ConfigError(`unknown command '${command}'\n\n${USAGE}`);
    }
  } catch (err) {
    // Start-up problems are the operator's to fix: the message says what; a stack only on request.
    const message = process.env.OCELLUS_DEBUG ? ((err as Error).stack ?? String(err)) : err instanceof Error ? err.message : String(err);
    process.stderr.write(`ocellus: ${message}\n`);
    process.exit(2);
  }
}
