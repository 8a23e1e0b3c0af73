/**
 * oslo.messaging's transport URL, `rabbit://user:pass@host:port,user2:pass2@host2:port2/vhost`:
 * the brokers to try in turn (each with its own credentials) and the virtual host. Passwords
 * never appear in what `shown` gives for logs.
 */

export interface BrokerAddress {
  hostname: string;
  port: number;
  username: string;
  password: string;
}

export interface TransportUrl {
  brokers: BrokerAddress[];
  vhost: string;
  /** The URL with its passwords replaced, for logs. */
  shown: string;
}

/** oslo.messaging's default when no transport_url is set: the local broker as guest. */
export const DEFAULT_TRANSPORT_URL = 'rabbit://guest:guest@localhost:5672/';

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Parses a `rabbit://` (or `amqp://`) transport URL; Error saying what is wrong otherwise. */
export function parseTransportUrl(url: string): TransportUrl {
  const m = /^(rabbit|amqp|kombu):\/\/([^/]*)(?:\/(.*))?$/i.exec(url.trim());
  if (!m) throw new Error(`transport_url '${redactTransportUrl(url)}': Ocellus sends notifications to RabbitMQ only (rabbit://user:pass@host:port/vhost)`);
  const [, , hosts = '', path = ''] = m;
  const brokers = (hosts === '' ? ['guest:guest@localhost'] : hosts.split(',')).map((part): BrokerAddress => {
    const at = part.lastIndexOf('@');
    const [user, pass] = at >= 0 ? splitOnce(part.slice(0, at), ':') : ['guest', 'guest'];
    const hostPort = at >= 0 ? part.slice(at + 1) : part;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
    const [hostname, port] = v6 ? [v6[1]!, v6[2]] : splitOnce(hostPort, ':');
    const portNumber = port === undefined || port === '' ? 5672 : Number(port);
    if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) throw new Error(`transport_url '${redactTransportUrl(url)}': port '${port}' is not 1-65535`);
    return { hostname: hostname || 'localhost', port: portNumber, username: decode(user), password: decode(pass ?? '') };
  });
  // oslo.messaging: no path (or an empty one) is the default virtual host '/'.
  const query = path.indexOf('?');
  const vhost = decode(query >= 0 ? path.slice(0, query) : path) || '/';
  return { brokers, vhost, shown: redactTransportUrl(url) };
}

function splitOnce(s: string, sep: string): [string, string | undefined] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** The URL with every password replaced by ***. */
export function redactTransportUrl(url: string): string {
  return url.replace(/([/,][^:/@,]*:)[^@/,]*@/g, '$1***@');
}
