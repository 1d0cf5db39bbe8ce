/**
 * Apicurio Registry 3.3.3 as the local stand-in for Confluent Schema Registry (its `ccompat/v7` API).
 *
 * The `all` tarball comes from Maven Central through `deploy/local/pom.xml` and is unpacked once into the
 * user cache (outside the repo). It keeps its schemas across restarts, as Confluent Schema Registry does
 * with its `_schemas` topic: the SQL storage (the app's default kind) on an H2 database in a file under the
 * stack's data directory, instead of the default in-memory H2. A registry restarted empty would hand out
 * ids again from 1, which writers and readers of existing records must never confuse; `stack down --wipe`
 * still starts it afresh. The fleet must survive an empty registry all the same (see shared's ChangeDecoder).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REGISTRY_VERSION, STACK_HOST, cacheDir, type StackSite, defaultStackSite, portPlan } from './stack-plan';
import { type LogFn, StackError, findExecutable, runCommand, spawnDetached } from './stack-process';
import { registryJava, runMaven } from './stack-jvm';
import type { StackService } from './stack-service';

const ARTIFACT = `io.apicurio:apicurio-registry-app:${REGISTRY_VERSION}:tar.gz:all`;
const TARBALL = `apicurio-registry-app-${REGISTRY_VERSION}-all.tar.gz`;
/** Written last into a finished extraction: a directory without it is half-extracted and redone. */
const MARKER = '.extracted-ok';

function extractedDir(): string {
  return path.join(cacheDir(), `apicurio-registry-${REGISTRY_VERSION}`);
}

/** The directory holding quarkus-run.jar (the tarball may or may not wrap it in a top-level folder). */
function findQuarkusApp(root: string, depth = 3): string | undefined {
  if (fs.existsSync(path.join(root, 'quarkus-run.jar'))) return root;
  if (depth === 0) return undefined;
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const found = findQuarkusApp(path.join(root, entry.name), depth - 1);
    if (found) return found;
  }
  return undefined;
}

let installPromise: Promise<string> | undefined;

/**
 * Returns the app directory, fetching and unpacking the tarball when the cache lacks a finished extraction.
 * Unpacks into a scratch directory renamed at the end, so an interrupted run never looks finished.
 */
function installRegistry(log: LogFn): Promise<string> {
  installPromise ??= (async () => {
    const target = extractedDir();
    if (fs.existsSync(path.join(target, MARKER))) {
      const app = findQuarkusApp(target);
      if (app) return app;
    }
    const tar = findExecutable('tar');
    if (!tar) throw new StackError('tar not found (needed to unpack Apicurio Registry): apt-get install tar');
    const downloads = cacheDir();
    fs.mkdirSync(downloads, { recursive: true });
    const tarball = path.join(downloads, TARBALL);
    if (!fs.existsSync(tarball)) {
      await runMaven(
        ['dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${downloads}`],
        log,
        `Apicurio Registry ${REGISTRY_VERSION}`,
      );
      if (!fs.existsSync(tarball)) throw new StackError(`mvn dependency:copy did not produce ${tarball}`);
    }
    const scratch = `${target}.partial`;
    fs.rmSync(scratch, { recursive: true, force: true });
    fs.mkdirSync(scratch, { recursive: true });
    log(`registry: unpacking ${TARBALL}`);
    try {
      await runCommand(tar, ['xzf', tarball, '-C', scratch], { timeoutMs: 600_000 });
    } catch (error) {
      // A truncated download is the likeliest cause; fetch it again next time.
      fs.rmSync(tarball, { force: true });
      throw error;
    }
    if (!findQuarkusApp(scratch)) throw new StackError(`no quarkus-run.jar inside ${tarball}`);
    fs.writeFileSync(path.join(scratch, MARKER), `${new Date().toISOString()}\n`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(scratch, target);
    // The copy in ~/.m2 remains; this one would only double 168 MB of cache.
    fs.rmSync(tarball, { force: true });
    const app = findQuarkusApp(target);
    if (!app) throw new StackError(`no quarkus-run.jar under ${target}`);
    return app;
  })().catch((error: unknown) => {
    installPromise = undefined;
    throw error;
  });
  return installPromise;
}

export function registryService(site: StackSite = defaultStackSite()): StackService {
  const plan = portPlan(site.portOffset);
  const dir = path.join(site.dir, 'registry');
  const logFile = path.join(dir, 'registry.log');
  // A system property nobody reads, so the command line (all relative paths otherwise) names this stack.
  const marker = `-Dinventory.cdc.stack=${dir}`;
  const subjectsUrl = `http://${STACK_HOST}:${plan.registry}/apis/ccompat/v7/subjects`;
  let appDir = '';
  let java = '';

  return {
    name: 'registry',
    ports: [plan.registry, plan.registryManagement],
    marker,
    pidFile: path.join(dir, 'registry.pid'),
    dataDir: path.join(dir, 'data'),
    logFiles: [logFile],
    readyTimeoutMs: 120_000,
    stopGraceMs: 20_000,

    async prepare(log) {
      // Java first: a missing Java 21 should fail before a 168 MB download.
      java = await registryJava();
      appDir = await installRegistry(log);
      fs.mkdirSync(dir, { recursive: true });
    },

    start() {
      return spawnDetached(
        java,
        [
          '-Xmx384m',
          '-Djava.awt.headless=true',
          marker,
          `-Dquarkus.http.host=${STACK_HOST}`,
          `-Dquarkus.http.port=${plan.registry}`,
          `-Dquarkus.management.host=${STACK_HOST}`,
          `-Dquarkus.management.port=${plan.registryManagement}`,
          // The file is created on first start; DB_CLOSE_ON_EXIT=FALSE leaves closing to the app's shutdown.
          `-Dapicurio.datasource.url=jdbc:h2:file:${path.join(dir, 'data', 'registry')};DB_CLOSE_ON_EXIT=FALSE`,
          '-jar',
          'quarkus-run.jar',
        ],
        { cwd: appDir, logFile },
      );
    },

    async isReady() {
      try {
        const response = await fetch(subjectsUrl, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false;
      }
    },
  };
}
