/**
 * https in front of a test server: throw-away certificates made with the real `openssl` command,
 * and a node:https reverse proxy that forwards every request (streamed both ways) to an http
 * server — an Ocellus, or a Keystone — optionally asking for a client certificate.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface Certificates {
  /** The server's self-signed certificate for IP 127.0.0.1 (its own CA), and its key. */
  serverCert: string;
  serverKey: string;
  /** A self-signed client certificate and its key; `clientBoth` holds both in one file. */
  clientCert: string;
  clientKey: string;
  clientBoth: string;
}

/** Makes the certificates in `dir`; a reason to skip instead when openssl cannot. */
export function makeCertificates(dir: string): Certificates | { skip: string } {
  const files = {
    serverCert: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server-key.pem'),
    clientCert: path.join(dir, 'client.pem'),
    clientKey: path.join(dir, 'client-key.pem'),
    clientBoth: path.join(dir, 'client-both.pem'),
  };
  const req = (subject: string, key: string, cert: string, extra: string[]) =>
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', subject, ...extra, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  try {
    req('/CN=127.0.0.1', files.serverKey, files.serverCert, ['-addext', 'subjectAltName=IP:127.0.0.1']);
    req('/CN=ocellus-sdk-client', files.clientKey, files.clientCert, []);
  } catch (err) {
    return { skip: `openssl could not make a test certificate (${(err as Error).message}); install openssl to run the https tests` };
  }
  fs.writeFileSync(files.clientBoth, Buffer.concat([fs.readFileSync(files.clientCert), fs.readFileSync(files.clientKey)]));
  return files;
}

export interface HttpsProxy {
  /** https://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

/**
 * An https server on a free loopback port with the server certificate, forwarding to `target`
 * (an http origin). With `clientCa`, it accepts only clients presenting a certificate that CA signed.
 */
export async function httpsProxy(target: string, certs: Certificates, opts: { clientCa?: string } = {}): Promise<HttpsProxy> {
  const to = new URL(target);
  const server = https.createServer(
    {
      cert: fs.readFileSync(certs.serverCert),
      key: fs.readFileSync(certs.serverKey),
      ...(opts.clientCa ? { requestCert: true, rejectUnauthorized: true, ca: fs.readFileSync(opts.clientCa) } : {}),
    },
    (req, res) => {
      const upstream = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
      req.pipe(upstream);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
