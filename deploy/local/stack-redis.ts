/**
 * Redis from the installed `redis-server`, purely in memory (no RDB, no AOF): the cache worker rebuilds it
 * from Kafka, so persistence would only hide bugs in that rebuild.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { STACK_HOST, type StackSite, defaultStackSite, portPlan } from './stack-plan';
import { StackError, findExecutable, spawnDetached } from './stack-process';
import type { StackService } from './stack-service';

/** PING over a raw socket: answers `+PONG` only once Redis has loaded and accepts commands. */
function redisPongs(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: STACK_HOST });
    let reply = '';
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

export function redisService(site: StackSite = defaultStackSite()): StackService {
  const port = portPlan(site.portOffset).redis;
  const dir = path.join(site.dir, 'redis');
  const logFile = path.join(dir, 'redis.log');
  const pidFile = path.join(dir, 'redis.pid');
  // Redis rewrites its process title once running; the template keeps our marker in it, so the marker is in
  // /proc/<pid>/cmdline both before (as an argument) and after the rewrite. Needs Redis >= 6.2.
  const marker = `inventory-cdc-stack=${dir}`;
  let binary = '';

  return {
    name: 'redis',
    ports: [port],
    marker,
    logFiles: [logFile],
    readyTimeoutMs: 10_000,
    stopGraceMs: 10_000,
    pidFile,
    serverWritesPidFile: true,

    prepare() {
      const found = findExecutable('redis-server');
      if (!found) throw new StackError('redis-server not found: apt-get install redis-server');
      binary = found;
      fs.mkdirSync(dir, { recursive: true });
      // A pidfile left by a killed server could name whoever reuses that pid (the marker check guards too).
      fs.rmSync(pidFile, { force: true });
    },

    start() {
      return spawnDetached(
        binary,
        [
          '--bind',
          STACK_HOST,
          '--port',
          String(port),
          '--protected-mode',
          'yes',
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
          '--dir',
          dir,
          '--pidfile',
          pidFile,
          '--logfile',
          logFile,
          '--proc-title-template',
          `{title} {listen-addr} {server-mode} ${marker}`,
        ],
        { cwd: dir, logFile },
      );
    },

    isReady: () => redisPongs(port),
  };
}
