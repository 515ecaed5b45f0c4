import type { Command } from 'commander'
import { basename } from 'node:path'
import type { HealthCheckSpec, RegistryStore } from '../../core/registry/types.js'
import type { RunPort } from '../../core/run/run-env.js'
import type { WaitProgress } from '../../core/run/readiness.js'
import { formatRunPorts, formatWait } from '../../core/run/run-env.js'
import type { RunCommand, ServiceChild } from '../../core/run/run-service.js'
import type { DependencyRequest, RunWithDependenciesOutcome } from '../../core/run/dependencies.js'
import { runWithDependencies } from '../../core/run/dependencies.js'
import type { Manifest, ManifestService } from '../../core/manifest/types.js'
import { dependencyOrder } from '../../core/manifest/dependencies.js'
import { projectRoot } from '../../core/manifest/resolve-ports.js'
import { PortwardenError } from '../../core/errors.js'
import { parseDuration } from '../../core/free/options.js'
import { parsePortSpec } from '../../core/port-spec.js'
import { defaultProject, validateName } from '../../core/registry/names.js'
import { openRegistry } from '../../core/registry/open-registry.js'
import { inForegroundOfTerminal } from '../../core/process/tree.js'
import { loadManifest, portName, resolveServicePorts } from '../../core/manifest/load-manifest.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { parseBackend, parseHealthCheck } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { consultRegistry } from '../registry-access.js'
import { colorEnabled, createStyle } from '../render/style.js'
import { LiveLine } from '../render/live-line.js'

export interface RunOptions extends GlobalOptions, RegistryOptions {
  port?: string[]
  name?: string
  project?: string
  timeout?: string
  health?: string
  expect?: string
  manifest?: string
}

const USAGE_HINT =
  'Usage: portwarden run SERVICE (from portwarden.toml), or portwarden run --port 8080 [--name web] -- COMMAND ARGS...'

/** The signals `run` relays to the service (K7). */
const RELAYED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * `run`: the command comes after `--` (never through a shell), or from the manifest (through
 * `/bin/sh -c`, so `$PORT` works there). Everything the service prints passes through untouched;
 * run's own lines go to stderr, prefixed `portwarden:`.
 */
export async function run(
  operands: string[],
  afterDashes: string[],
  options: RunOptions,
): Promise<CommandResult> {
  const before = operands.slice(0, operands.length - afterDashes.length)
  refuseMisplacedCommand(before, afterDashes, options)
  const plan =
    before[0] !== undefined
      ? await planFromManifest(before[0], afterDashes, options)
      : await planFromFlags(afterDashes, options)
  const timeoutMs = parseDuration(options.timeout ?? '30s', '--timeout')
  const reporter = createRunReporter()
  const relay = new SignalRelay(plan.request.service)
  relay.install()

  let store = plan.store
  const closeStore = async () => {
    const open = store
    store = null
    await open?.close().catch(() => {})
  }
  const shared = { timeoutMs, store: plan.store, backend: parseBackend(options.backend) }
  let outcome: RunWithDependenciesOutcome
  try {
    outcome = await runWithDependencies(
      plan.dependencies.map((dependency) => ({ ...dependency, ...shared })),
      { ...plan.request, ...shared },
      {
        onMessage: ({ kind, text }) => reporter.say(kind, text),
        onSpawn: (spawned) => relay.started(spawned),
        onSettled: closeStore,
        onProgress: reporter.showProgress,
        abort: relay.abort.signal,
      },
    )
    relay.serviceEnded()
  } catch (error) {
    relay.dieIfInterrupted()
    throw error
  } finally {
    relay.remove()
    await closeStore()
  }
  if (outcome.pid === null) relay.dieIfInterrupted()
  return {
    exitCode: outcome.exitCode,
    json: toJsonRunOutcome(outcome, plan.request.project),
    text: '',
    warnings: plan.warnings,
  }
}

/** Flags and words before `--` that can only mean a command written in the wrong place. */
function refuseMisplacedCommand(
  before: string[],
  afterDashes: string[],
  options: RunOptions,
): void {
  const portFlags = (options.port ?? []).map((spec) => `--port ${spec}`).join(' ')
  if (portFlags && before.length > 0 && afterDashes.length === 0) {
    throw new PortwardenError(
      'invalid_request',
      `The command goes after \`--\`: portwarden run ${portFlags} -- ${before.join(' ')}`,
      { hint: 'Everything after -- is the command, passed on untouched (its own flags included).' },
    )
  }
  if (before.length > 1) {
    throw new PortwardenError(
      'invalid_request',
      `Unexpected ${JSON.stringify(before[1])}: a command goes after \`--\` (portwarden run ${before[0]} -- ${before.slice(1).join(' ')}).`,
      { hint: USAGE_HINT },
    )
  }
}

/** run's own lines on stderr (`portwarden: ...`), and on a terminal one progress line redrawn in place. */
function createRunReporter() {
  const style = createStyle(colorEnabled(process.stderr))
  const progress = new LiveLine(process.stderr)
  const paints = { ready: style.pass, warning: style.warn, error: style.fail, note: style.dim }
  return {
    say(kind: keyof typeof paints, text: string) {
      progress.clear()
      process.stderr.write(`${paints[kind](`portwarden: ${text}`)}\n`)
    },
    showProgress(state: WaitProgress | null) {
      if (state === null) return progress.clear()
      progress.draw(
        style.dim(
          `portwarden: waiting for ${state.service} on ${formatRunPorts(state.missing)}: ${Math.floor(state.elapsedMs / 1000)} s of ${formatWait(state.timeoutMs)}`,
        ),
      )
    },
  }
}

/**
 * The signals run receives while it runs a service (K7): relayed to the service once it is
 * spawned; before that, they stop the dependencies already started (then run dies of the
 * signal), or, with nothing started, end run at once as if it had no handler.
 */
class SignalRelay {
  readonly abort = new AbortController()
  /** The service, once spawned; `running` also holds the dependencies started before it. */
  private child: ServiceChild | null = null
  private readonly running: ServiceChild[] = []
  private interrupted: NodeJS.Signals | null = null
  private readonly handlers = RELAYED.map((signal) => [signal, () => this.relay(signal)] as const)
  // A last resort if run itself dies of an error: never leave a service behind.
  private readonly stopOnExit = () => {
    for (const running of this.running) running.signal('SIGTERM')
  }

  private readonly service: string

  constructor(service: string) {
    this.service = service
  }

  install(): void {
    for (const [signal, handler] of this.handlers) process.on(signal, handler)
  }

  remove(): void {
    for (const [signal, handler] of this.handlers) process.removeListener(signal, handler)
    process.removeListener('exit', this.stopOnExit)
  }

  started(spawned: ServiceChild): void {
    if (this.running.length === 0) process.on('exit', this.stopOnExit)
    this.running.push(spawned)
    if (spawned.service === this.service) this.child = spawned
  }

  serviceEnded(): void {
    this.child = null
  }

  /** Dies of the signal that interrupted the start, if one did. */
  dieIfInterrupted(): void {
    if (this.interrupted) this.die(this.interrupted)
  }

  private die(signal: NodeJS.Signals): void {
    this.remove()
    process.kill(process.pid, signal)
  }

  private relay(signal: NodeJS.Signals): void {
    if (this.child === null) {
      // Nothing started yet: die of the signal as if we had no handler.
      if (this.running.length === 0) return this.die(signal)
      // Dependencies run but the service does not yet: they are stopped, then run dies of it.
      this.interrupted ??= signal
      this.abort.abort()
      return
    }
    // A Ctrl-C typed on our terminal already reached the service (same process group): sending
    // it again would look like a second Ctrl-C, which many servers take as "quit now".
    if (signal === 'SIGINT' && inForegroundOfTerminal()) return
    this.child.signal(signal)
  }
}

interface RunPlan {
  request: {
    service: string
    serviceVariable?: boolean
    project: string
    ports: RunPort[]
    command: RunCommand
    cwd?: string
    health: HealthCheckSpec | null
    backend?: 'netlink' | 'proc' | 'lsof' | 'auto'
  }
  /** What `request` depends on, in the order to start them (none without a manifest). */
  dependencies: DependencyRequest[]
  store: RegistryStore | null
  warnings: string[]
}

/** `run --port 8080 [--port metrics=9100] [--name web] -- CMD ARGS...` */
async function planFromFlags(command: string[], options: RunOptions): Promise<RunPlan> {
  if ((options.port ?? []).length === 0) {
    throw new PortwardenError(
      'invalid_request',
      command.length > 0
        ? 'portwarden run needs the ports the command will listen on: add --port SPEC before `--`.'
        : 'portwarden run needs a SERVICE from portwarden.toml, or --port SPEC -- COMMAND.',
      { hint: USAGE_HINT },
    )
  }
  if (command.length === 0) {
    throw new PortwardenError(
      'invalid_request',
      'portwarden run --port needs the command to start, after `--`.',
      {
        hint: 'Example: portwarden run --port 8080 -- node server.js',
      },
    )
  }
  const service = validateName('service', options.name ?? basename(command[0] as string))
  const ports = parseRunPorts(options.port ?? [], options.name === undefined ? null : service)
  const { store, warnings } = await registryIfAny(options)
  return {
    request: {
      service,
      serviceVariable: options.name !== undefined,
      project: validateName('project', options.project ?? defaultProject()),
      ports,
      command: { argv: command },
      health:
        options.health === undefined ? null : parseHealthCheck(options.health, options.expect),
    },
    dependencies: [],
    store,
    warnings,
  }
}

/** `run SERVICE [-- CMD ARGS...]`: ports, command and health from portwarden.toml. */
async function planFromManifest(
  serviceName: string,
  command: string[],
  options: RunOptions,
): Promise<RunPlan> {
  refuseFlagsBesideManifest(serviceName, options)
  const manifest = loadManifest({ path: options.manifest })
  const service = findService(manifest, serviceName)
  const runCommand = commandOf(manifest, service, command)
  // Its dependencies first, in the order they start; the service itself comes last.
  const chain = dependencyOrder(manifest, [service.name])
  const needsRegistry = chain.some((s) => s.ports.some((p) => p.kind === 'auto'))
  const { store, warnings } = needsRegistry
    ? { store: await openRegistry({ location: options.registry }), warnings: [] }
    : await registryIfAny(options)
  try {
    const portsOf = async (of: ManifestService): Promise<RunPort[]> =>
      (await resolveServicePorts(manifest, of, store)).map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
      }))
    const dependencies: DependencyRequest[] = []
    for (const dependency of chain.slice(0, -1)) {
      dependencies.push({
        service: dependency.name,
        project: manifest.project,
        ports: await portsOf(dependency),
        command: dependency.command === null ? null : { shell: dependency.command },
        cwd: manifest.directory,
        health: dependency.health,
        worktree: projectRoot(manifest),
      })
    }
    return {
      request: {
        service: service.name,
        project: manifest.project,
        ports: await portsOf(service),
        command: runCommand,
        cwd: manifest.directory,
        health:
          options.health === undefined
            ? service.health
            : parseHealthCheck(options.health, options.expect),
      },
      dependencies,
      store,
      warnings,
    }
  } catch (error) {
    await store?.close().catch(() => {})
    throw error
  }
}

function refuseFlagsBesideManifest(serviceName: string, options: RunOptions): void {
  for (const [flag, value] of [
    ['--port', options.port?.length ? options.port : undefined],
    ['--name', options.name],
    ['--project', options.project],
  ] as const) {
    if (value !== undefined) {
      throw new PortwardenError(
        'invalid_request',
        `${flag} is for running a command without a manifest; ${serviceName}'s settings come from portwarden.toml.`,
        {
          hint: `Either portwarden run ${serviceName}, or portwarden run --port 8080 --name ${serviceName} -- COMMAND.`,
        },
      )
    }
  }
}

function findService(manifest: Manifest, serviceName: string): ManifestService {
  const service = manifest.services.find((s) => s.name === serviceName)
  if (service) return service
  const known = manifest.services.map((s) => s.name)
  throw new PortwardenError(
    'invalid_request',
    `${manifest.path} has no service ${JSON.stringify(serviceName)}.`,
    {
      hint:
        known.length > 0
          ? `Its services: ${known.join(', ')}.`
          : 'It declares no services: add [services.NAME] tables.',
    },
  )
}

/** The command after `--` wins over the manifest's own (which runs through `/bin/sh -c`). */
function commandOf(manifest: Manifest, service: ManifestService, command: string[]): RunCommand {
  if (command.length > 0) return { argv: command }
  if (service.command !== null) return { shell: service.command }
  throw new PortwardenError(
    'invalid_request',
    `${service.name} has no command in ${manifest.path}.`,
    {
      hint: `Add command = "..." to [services.${service.name}], or give one: portwarden run ${service.name} -- COMMAND ARGS...`,
    },
  )
}

/**
 * `--port 8080`, `--port 9000/udp`, `--port metrics=9100` (also comma-separated). One port each:
 * a range would leave `PORT` undefined. Unnamed ports are named as the manifest names them:
 * the service for the first, `SERVICE-2`, ... after it; with no service name given (null), they
 * stay unnamed rather than take the command's (`sh -c ...` is no service called sh).
 */
export function parseRunPorts(values: readonly string[], service: string | null): RunPort[] {
  const ports: RunPort[] = []
  const seen = new Set<string>()
  for (const text of values.flatMap((v) => v.split(','))) {
    const equals = text.indexOf('=')
    const name = equals >= 0 ? text.slice(0, equals) : null
    const specText = equals >= 0 ? text.slice(equals + 1) : text
    if (name !== null && !/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(name)) {
      throw new PortwardenError(
        'invalid_request',
        `Invalid --port ${JSON.stringify(text)}: ${JSON.stringify(name)} is not a port name.`,
        {
          hint: 'A port name starts with a letter, then letters, digits, - or _ (it becomes PORT_NAME): --port metrics=9100',
        },
      )
    }
    const spec = parsePortSpec(specText)
    if (spec.from !== spec.to) {
      throw new PortwardenError(
        'invalid_request',
        `Invalid --port ${JSON.stringify(text)}: run needs single ports, not a range.`,
        {
          hint: 'Give each port: --port 8080 --port 8081, or declare a range in portwarden.toml (run then picks a free port in it).',
        },
      )
    }
    const key = `${spec.protocol}:${spec.from}`
    if (seen.has(key)) {
      throw new PortwardenError(
        'invalid_request',
        `--port ${spec.from}/${spec.protocol} is given twice.`,
        { hint: USAGE_HINT },
      )
    }
    seen.add(key)
    ports.push({
      name: name ?? (service === null ? null : portName(service, ports.length)),
      protocol: spec.protocol,
      port: spec.from,
    })
  }
  return ports
}

/**
 * The registry, to name port owners by service and honour allocations, but only when there is
 * one: a plain `run --port` never creates a registry file. A registry that cannot be read is
 * reported and skipped; the socket tables still decide.
 */
function registryIfAny(options: RegistryOptions) {
  return consultRegistry(
    options,
    (reason) => `registry not consulted (${reason}); checking the socket tables only`,
  )
}

export function toJsonRunOutcome(outcome: RunWithDependenciesOutcome, project: string) {
  return {
    service: outcome.service,
    project,
    ports: outcome.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
    pid: outcome.pid,
    readiness: outcome.readiness,
    listeners: outcome.listeners.map((l) => ({
      port: l.port.port,
      protocol: l.port.protocol,
      pids: l.pids,
    })),
    health: outcome.health
      ? {
          ok: outcome.health.ok,
          detail: outcome.health.detail,
          latency_ms: outcome.health.latencyMs,
        }
      : null,
    exit_code: outcome.exitCode,
    child_exit_code: outcome.childExitCode,
    child_signal: outcome.childSignal,
    leftovers: outcome.leftovers,
    error: outcome.error,
    dependencies: outcome.dependencies.map((d) => ({
      service: d.service,
      ports: d.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
      state: d.state,
      pids: d.pids,
      readiness: d.run?.readiness ?? null,
      health: d.health ? { ok: d.health.ok, detail: d.health.detail } : null,
      exit_code: d.run?.pid ? d.run.exitCode : null,
    })),
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

/** The words after the first `--` on our own command line: the command, never parsed by us. */
function commandAfterDashes(): string[] {
  const argv = process.argv.slice(2)
  const dashes = argv.indexOf('--')
  return dashes < 0 ? [] : argv.slice(dashes + 1)
}

export function registerRun(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('run')
        .description(
          'start a service once its ports are free: PORT set, signals relayed, readiness and health reported, its exit code passed through',
        )
        .usage('SERVICE | --port SPEC... [options] -- COMMAND [ARGS...]')
        .argument(
          '[service-or-command...]',
          'a service of portwarden.toml, or (after --) the command to run',
        )
        .option(
          '--port <spec>',
          'a port the command listens on (repeatable; NAME=SPEC sets PORT_NAME)',
          collect,
        )
        .option(
          '--name <name>',
          'the service name for messages and PORT_NAME (default: the command name)',
        )
        .option(
          '--project <name>',
          'project owning the ports in the registry (default: the git worktree name)',
        )
        .option('--timeout <duration>', 'how long to wait for it to listen (0: do not wait)', '30s')
        .option(
          '--health <check>',
          'once it listens: tcp, http:/PATH, https:/PATH, postgres or redis',
        )
        .option('--expect <status>', 'the HTTP status the health check expects')
        .option('--manifest <file>', 'portwarden.toml to use (default: searched upward from here)')
        .addHelpText(
          'after',
          [
            '',
            'Examples:',
            '  portwarden run web                                 ports, command and health from portwarden.toml',
            "  portwarden run web -- npm run dev                  the manifest's ports with another command",
            '  portwarden run --port 8080 -- node server.js       PORT=8080 PORT_NODE=8080',
            '  portwarden run --name api --port 8080 --port metrics=9100 --health http:/healthz -- ./api',
            '',
            'The command after -- runs as given, without a shell; a manifest command runs with /bin/sh -c',
            '(so $PORT and $PORT_<NAME> work there). SIGINT, SIGTERM and SIGHUP are passed on; run exits',
            "with the service's exit code (128 + N if signal N ended it), 1 on a port conflict.",
            "A manifest service's depends_on come up first (started, or found running) and are",
            'stopped after it; one that cannot come up is named, and the service is not started.',
          ].join('\n'),
        ),
    )
    .action((operands: string[], options: RunOptions) =>
      cli.run(run(operands, commandAfterDashes(), cli.globals(options))),
    )
}
