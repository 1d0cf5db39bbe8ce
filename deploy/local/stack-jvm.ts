/**
 * JVM tooling for the two Java servers: Maven (resolves them from Maven Central via `deploy/local/pom.xml`)
 * and picking a Java runtime for each (Kafka 3.9 runs on the default Java 17; Apicurio Registry 3.3 is built
 * for Java 21 and dies with UnsupportedClassVersionError on 17).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pomPath } from './stack-plan';
import { type LogFn, StackError, findExecutable, isExecutable, runCommand } from './stack-process';

let mavenQueue: Promise<unknown> = Promise.resolve();

/**
 * Runs `mvn -q -B -f deploy/local/pom.xml <args>`. Calls are serialised: two Maven processes downloading
 * into one ~/.m2 at the same time can corrupt it (Maven 3.8 has no local repository locking).
 */
export function runMaven(args: string[], log: LogFn, what: string): Promise<void> {
  const run = mavenQueue.then(async () => {
    const mvn = findExecutable('mvn');
    if (!mvn) throw new StackError(`mvn not found (needed to fetch ${what} from Maven Central): apt-get install maven`);
    log(`mvn: resolving ${what} (first run only; jars are cached in ~/.m2)`);
    const started = Date.now();
    await runCommand(mvn, ['-q', '-B', '-f', pomPath(), ...args], { timeoutMs: 900_000 });
    log(`mvn: ${what} resolved in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  mavenQueue = run.catch(() => undefined);
  return run;
}

/** The `java` Kafka runs on: the machine's default (17 is fine for Kafka 3.9). */
export function defaultJava(): string {
  const java = findExecutable('java');
  if (!java) throw new StackError('java not found (Kafka needs Java 17+): apt-get install openjdk-17-jre-headless');
  return java;
}

/** Major version from `java -version` output: `"25.0.3"` → 25, `"1.8.0_392"` → 8. */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

async function javaMajor(javaHome: string): Promise<number | undefined> {
  const java = path.join(javaHome, 'bin', 'java');
  if (!isExecutable(java)) return undefined;
  try {
    const { stdout, stderr } = await runCommand(java, ['-version'], { timeoutMs: 20_000 });
    return parseJavaMajor(`${stderr}\n${stdout}`);
  } catch {
    return undefined;
  }
}

const REGISTRY_MIN_JAVA = 21;
let registryJavaPromise: Promise<string> | undefined;

/**
 * A `java` binary of major version >= 21 for Apicurio Registry: `CDC_REGISTRY_JAVA_HOME` when set, else the
 * newest such JDK/JRE under /usr/lib/jvm (aliases resolved, each inspected once).
 */
export function registryJava(): Promise<string> {
  registryJavaPromise ??= (async () => {
    const explicit = process.env['CDC_REGISTRY_JAVA_HOME']?.trim();
    if (explicit) {
      const major = await javaMajor(explicit);
      if (major === undefined || major < REGISTRY_MIN_JAVA) {
        throw new StackError(
          `CDC_REGISTRY_JAVA_HOME=${explicit} is not a Java ${REGISTRY_MIN_JAVA}+ home (found ${major ?? 'no java'}); ` +
            'Apicurio Registry needs Java 21+',
        );
      }
      return path.join(explicit, 'bin', 'java');
    }
    const root = '/usr/lib/jvm';
    const homes = new Set<string>();
    for (const entry of fs.existsSync(root) ? fs.readdirSync(root) : []) {
      try {
        homes.add(fs.realpathSync(path.join(root, entry)));
      } catch {
        // a dangling alternatives link
      }
    }
    const candidates = await Promise.all([...homes].map(async (home) => ({ home, major: await javaMajor(home) })));
    const best = candidates
      .filter((c): c is { home: string; major: number } => c.major !== undefined && c.major >= REGISTRY_MIN_JAVA)
      .sort((a, b) => b.major - a.major)[0];
    if (!best) {
      throw new StackError(
        'Apicurio Registry needs Java 21+; install e.g. openjdk-21-jre-headless (or point CDC_REGISTRY_JAVA_HOME at a JDK 21+)',
      );
    }
    return path.join(best.home, 'bin', 'java');
  })().catch((error: unknown) => {
    registryJavaPromise = undefined; // a library caller may install a JDK and retry in the same process
    throw error;
  });
  return registryJavaPromise;
}
