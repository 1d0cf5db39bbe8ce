/**
 * A single-node Kafka in KRaft mode (broker and controller in one JVM), run straight from the jars Maven
 * resolves for `deploy/local/pom.xml`: no Kafka distribution to download or unpack.
 *
 * Storage is formatted once, on the first start, with a cluster id kept in the data area; later starts reuse
 * the log dirs, so topics and committed offsets survive `stack:down` / `stack:up`.
 *
 * Besides the PLAINTEXT listener everything uses, a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256/512) on
 * its own port lets tests prove the fleet's SASL settings against a real broker. Its users are fixed local
 * development credentials (`localKafkaSasl`). An SSL listener on the next port presents the stack's
 * development certificate (`stack-tls.ts`), so tests can prove the fleet's Kafka TLS settings (`localKafkaTls`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Kafka, logLevel, type Admin, type SASLOptions } from 'kafkajs';
import { KAFKA_VERSION, STACK_HOST, cacheDir, type PortPlan, type StackSite, defaultStackSite, portPlan } from './stack-plan';
import { type LogFn, StackError, portAnswers, runCommand, spawnDetached } from './stack-process';
import { defaultJava, runMaven } from './stack-jvm';
import type { StackService } from './stack-service';
import { ensureLocalStackTls, localStackTls } from './stack-tls';

const MAIN_CLASS = 'kafka.Kafka';
const STORAGE_TOOL = 'kafka.tools.StorageTool';
const CONFIG_TOOL = 'kafka.admin.ConfigCommand';

/** The SASL listener's port: next to the controller's, so the port plan needs no new base port. */
function saslPort(plan: PortPlan): number {
  return plan.kafkaController + 1;
}

/** The SSL listener's port: after the SASL listener's. */
function sslPort(plan: PortPlan): number {
  return plan.kafkaController + 2;
}

/** The local stack's SSL listener and the CA its certificate is signed by. */
export function localKafkaTls(site: StackSite = defaultStackSite()): { broker: string; caFile: string } {
  return { broker: `${STACK_HOST}:${sslPort(portPlan(site.portOffset))}`, caFile: localStackTls(site).caFile };
}

export interface LocalKafkaSasl {
  /** `127.0.0.1:<port>` of the SASL_PLAINTEXT listener. */
  broker: string;
  /** A SCRAM user (SHA-256 and SHA-512 credentials). */
  scram: { username: string; password: string };
  /** A PLAIN user (declared in the listener's JAAS config). */
  plain: { username: string; password: string };
}

/** The local stack's SASL listener and its development users (not secrets: loopback-only test broker). */
export function localKafkaSasl(site: StackSite = defaultStackSite()): LocalKafkaSasl {
  return {
    broker: `${STACK_HOST}:${saslPort(portPlan(site.portOffset))}`,
    scram: { username: 'cdc-scram', password: 'cdc-scram-local-only' },
    plain: { username: 'cdc-plain', password: 'cdc-plain-local-only' },
  };
}

const scramMechanisms = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;

/** Broker settings for one node: replication factors of 1 everywhere, topics only by explicit creation. */
function serverProperties(site: StackSite, logDir: string): string {
  const { kafka: brokerPort, kafkaController: controllerPort } = portPlan(site.portOffset);
  const sasl = localKafkaSasl(site);
  const saslListener = `SASL_PLAINTEXT://${sasl.broker}`;
  const sslListener = `SSL://${localKafkaTls(site).broker}`;
  return [
    '# Written by deploy/local/stack-kafka.ts on every start; edits are overwritten.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${STACK_HOST}:${controllerPort}`,
    `listeners=PLAINTEXT://${STACK_HOST}:${brokerPort},CONTROLLER://${STACK_HOST}:${controllerPort},${saslListener},${sslListener}`,
    `advertised.listeners=PLAINTEXT://${STACK_HOST}:${brokerPort},${saslListener},${sslListener}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL',
    'listener.name.ssl.ssl.keystore.type=PEM',
    `listener.name.ssl.ssl.keystore.location=${localStackTls(site).keystoreFile}`,
    'listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${sasl.plain.username}="${sasl.plain.password}";`,
    ...scramMechanisms.map(
      (mechanism) =>
        `listener.name.sasl_plaintext.${mechanism.toLowerCase()}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    ),
    `log.dirs=${logDir}`,
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'min.insync.replicas=1',
    'default.replication.factor=1',
    'num.partitions=6',
    'auto.create.topics.enable=false',
    'group.initial.rebalance.delay.ms=0',
    // kafkajs' transactionTimeout must stay below this (see TRAPS.md).
    'transaction.max.timeout.ms=900000',
    // The broker looks for expired transactions every 10 s by default; every second here, so a test of a
    // transaction that outlives its timeout sees the abort within a second of the limit.
    'transaction.abort.timed.out.transaction.cleanup.interval.ms=1000',
    '',
  ].join('\n');
}

/** log4j 1 (reload4j) config: everything to a size-capped file in the data area, not to the console. */
function log4jProperties(serverLog: string): string {
  return [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.RollingFileAppender',
    `log4j.appender.file.File=${serverLog}`,
    'log4j.appender.file.MaxFileSize=20MB',
    'log4j.appender.file.MaxBackupIndex=2',
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.request.logger=WARN',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.org.apache.kafka.controller=INFO',
    '',
  ].join('\n');
}

/**
 * The broker's classpath, resolved by Maven once and cached outside the repo. Re-resolved when any listed
 * jar has gone (a cleaned ~/.m2), since the JVM would otherwise fail with an obscure NoClassDefFoundError.
 */
async function kafkaClasspath(log: LogFn): Promise<string> {
  const file = path.join(cacheDir(), `kafka-${KAFKA_VERSION}.classpath`);
  const cached = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (cached && cached.split(path.delimiter).every((jar) => fs.existsSync(jar))) return cached;
  fs.mkdirSync(cacheDir(), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await runMaven(['dependency:build-classpath', `-Dmdep.outputFile=${temporary}`], log, `Kafka ${KAFKA_VERSION} jars`);
  const classpath = fs.readFileSync(temporary, 'utf8').trim();
  if (!classpath.includes('kafka_2.13')) throw new StackError(`mvn produced no Kafka classpath in ${temporary}`);
  fs.renameSync(temporary, file);
  return classpath;
}

/** A throwaway admin client per probe: kafkajs' own retries and logs would only blur the deadline. */
function probeAdmin(broker: string, sasl?: SASLOptions): Admin {
  return new Kafka({
    clientId: 'stack-probe',
    brokers: [broker],
    ...(sasl ? { sasl } : {}),
    connectionTimeout: 1_500,
    requestTimeout: 3_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
}

async function kafkaAnswers(broker: string): Promise<boolean> {
  const admin = probeAdmin(broker);
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.fetchTopicMetadata({ topics: [] });
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True when the SCRAM user can log in on the SASL listener (false too when the listener is absent). */
async function scramUserLogsIn(site: StackSite): Promise<boolean> {
  const sasl = localKafkaSasl(site);
  const admin = probeAdmin(sasl.broker, { mechanism: 'scram-sha-512', ...sasl.scram });
  try {
    await admin.connect();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export function kafkaService(site: StackSite = defaultStackSite()): StackService {
  const plan = portPlan(site.portOffset);
  const dir = path.join(site.dir, 'kafka');
  const logDir = path.join(dir, 'data');
  const propsFile = path.join(dir, 'server.properties');
  const log4jFile = path.join(dir, 'log4j.properties');
  const serverLog = path.join(dir, 'server.log');
  const stdoutLog = path.join(dir, 'kafka-stdout.log');
  const clusterIdFile = path.join(dir, 'cluster-id');
  let classpath = '';

  const jvm = (extra: string[]): string[] => [`-Dlog4j.configuration=file:${log4jFile}`, '-cp', classpath, ...extra];

  return {
    name: 'kafka',
    ports: [plan.kafka, plan.kafkaController, saslPort(plan), sslPort(plan)],
    // The properties path is in the command line and unique to this checkout's stack.
    marker: propsFile,
    pidFile: path.join(dir, 'kafka.pid'),
    logFiles: [stdoutLog, serverLog],
    readyTimeoutMs: 90_000,
    stopGraceMs: 30_000,

    async prepare(log) {
      const java = defaultJava();
      classpath = await kafkaClasspath(log);
      await ensureLocalStackTls(log, site);
      fs.mkdirSync(logDir, { recursive: true });
      fs.writeFileSync(propsFile, serverProperties(site, logDir));
      fs.writeFileSync(log4jFile, log4jProperties(serverLog));
      const meta = path.join(logDir, 'meta.properties');
      if (fs.existsSync(meta)) {
        const formatted = /^cluster\.id=(.*)$/m.exec(fs.readFileSync(meta, 'utf8'))?.[1]?.trim();
        log(`kafka: storage already formatted (cluster ${formatted ?? '?'}), reusing it`);
        return;
      }
      if (!fs.existsSync(clusterIdFile)) {
        const { stdout } = await runCommand(java, jvm([STORAGE_TOOL, 'random-uuid']), { cwd: dir });
        const clusterId = stdout.trim().split('\n').pop()?.trim() ?? '';
        if (!/^[A-Za-z0-9_-]{22}$/.test(clusterId)) throw new StackError(`kafka: StorageTool random-uuid printed "${stdout.trim()}"`);
        fs.writeFileSync(clusterIdFile, `${clusterId}\n`);
      }
      const clusterId = fs.readFileSync(clusterIdFile, 'utf8').trim();
      log(`kafka: formatting storage for cluster ${clusterId} (first start only)`);
      await runCommand(java, jvm([STORAGE_TOOL, 'format', '-t', clusterId, '-c', propsFile, ...scramFormatArgs()]), { cwd: dir });
    },

    start() {
      return spawnDetached(
        defaultJava(),
        [
          '-Xms256m',
          '-Xmx768m',
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          ...jvm([MAIN_CLASS, propsFile]),
        ],
        { cwd: dir, logFile: stdoutLog },
      );
    },

    isReady: () => kafkaAnswers(`${STACK_HOST}:${plan.kafka}`),

    // SCRAM users are written at format time; storage formatted before they existed gets them here.
    async afterReady(log) {
      if (!(await portAnswers(sslPort(plan))))
        log(`kafka: the running broker has no SSL listener on ${sslPort(plan)} yet; it gets one at its next start (stack:down, stack:up)`);
      if (await scramUserLogsIn(site)) return;
      if (!(await portAnswers(saslPort(plan)))) {
        // KRaft refuses to change advertised listeners at runtime, so only a restart adds the listener.
        log(
          `kafka: the running broker has no SASL listener on ${saslPort(plan)} yet; it gets one at its next start (stack:down, stack:up)`,
        );
        return;
      }
      classpath ||= await kafkaClasspath(log);
      const { username, password } = localKafkaSasl(site).scram;
      // The broker takes one credential change per user and request.
      for (const mechanism of scramMechanisms) {
        const alter = [
          '--alter',
          '--entity-type',
          'users',
          '--entity-name',
          username,
          '--add-config',
          `${mechanism}=[password=${password}]`,
        ];
        await runCommand(defaultJava(), jvm([CONFIG_TOOL, '--bootstrap-server', `${STACK_HOST}:${plan.kafka}`, ...alter]), { cwd: dir });
      }
      log(`kafka: created SCRAM user ${username}`);
    },
  };
}

/** `--add-scram` arguments of the storage format: the SCRAM user exists from the very first start. */
function scramFormatArgs(): string[] {
  const { username, password } = localKafkaSasl().scram;
  return scramMechanisms.flatMap((mechanism) => ['--add-scram', `${mechanism}=[name=${username},password=${password}]`]);
}
