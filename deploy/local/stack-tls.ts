/**
 * The local stack's TLS material: a development CA and one server certificate for `localhost` and
 * `127.0.0.1`, which every Postgres shard and Kafka's SSL listener present, so tests can connect with
 * `sslmode=verify-full` and Kafka `ssl: { ca }` exactly as production does. Made once with openssl and kept
 * under `<stack dir>/tls/`; nothing here is a secret (loopback-only development servers).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type StackSite, defaultStackSite } from './stack-plan';
import { type LogFn, StackError, findExecutable, runCommand } from './stack-process';

export interface LocalStackTls {
  /** The CA certificate clients trust (`sslRootCert`, Kafka `ssl.ca`). */
  caFile: string;
  /** The server certificate (CN localhost; SAN DNS:localhost, IP:127.0.0.1), signed by the CA. */
  certFile: string;
  /** Its private key, unencrypted PKCS#8. */
  keyFile: string;
  /** Key, then certificate, in one PEM file: Kafka's PEM keystore. */
  keystoreFile: string;
}

export function localStackTls(site: StackSite = defaultStackSite()): LocalStackTls {
  const dir = path.join(site.dir, 'tls');
  return {
    caFile: path.join(dir, 'ca.crt'),
    certFile: path.join(dir, 'server.crt'),
    keyFile: path.join(dir, 'server.key'),
    keystoreFile: path.join(dir, 'server-keystore.pem'),
  };
}

/** Per stack directory. */
const made = new Map<string, Promise<LocalStackTls>>();

/**
 * Makes the CA and the server certificate when missing (an incomplete set is made anew), once per process:
 * the services prepare in parallel, and each must present a certificate of the one CA.
 */
export function ensureLocalStackTls(log: LogFn, site: StackSite = defaultStackSite()): Promise<LocalStackTls> {
  let making = made.get(site.dir);
  if (!making) {
    making = makeLocalStackTls(log, site).catch((error: unknown) => {
      made.delete(site.dir);
      throw error;
    });
    made.set(site.dir, making);
  }
  return making;
}

async function makeLocalStackTls(log: LogFn, site: StackSite): Promise<LocalStackTls> {
  const tls = localStackTls(site);
  if ((Object.values(tls) as string[]).every((file) => fs.existsSync(file))) return tls;
  const openssl = findExecutable('openssl');
  if (!openssl) throw new StackError('openssl not found (the stack makes its TLS certificates with it): apt-get install openssl');
  const dir = path.dirname(tls.caFile);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const caKey = path.join(dir, 'ca.key');
  const request = path.join(dir, 'server.csr');
  const extensions = path.join(dir, 'server.ext');
  const days = '3650';
  await runCommand(openssl, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    tls.caFile,
    '-days',
    days,
    '-subj',
    '/CN=inventory-cdc local stack CA',
  ]);
  await runCommand(openssl, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', tls.keyFile, '-out', request, '-subj', '/CN=localhost']);
  fs.writeFileSync(extensions, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await runCommand(openssl, [
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    tls.caFile,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    tls.certFile,
    '-days',
    days,
    '-extfile',
    extensions,
  ]);
  fs.writeFileSync(tls.keystoreFile, `${fs.readFileSync(tls.keyFile, 'utf8')}${fs.readFileSync(tls.certFile, 'utf8')}`);
  log(`tls: made a development CA and a server certificate for localhost in ${dir}`);
  return tls;
}
