import type { Command } from 'commander'
import { resolve } from 'node:path'
import type { Protocol } from '../../core/types.js'
import { PortwardenError } from '../../core/errors.js'
import { resolveRegistryLocation } from '../../core/registry/open-registry.js'
import { allocate } from '../../core/registry/allocator.js'
import { defaultProject, findWorktreeRoot, validateName } from '../../core/registry/names.js'
import { releaseGoneWorktrees } from '../../core/registry/gone-worktrees.js'
import { releaseIfRegistry } from '../../core/registry/release.js'
import type { Allocation } from '../../core/registry/types.js'
import { allocationSentence, releasedSentence } from '../../core/messages.js'
import { toJsonAllocated, toJsonReleased } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseHealthCheck, parsePid, parseRange, parseSinglePort } from '../parse-options.js'
import type { RegistryOptions } from '../registry-access.js'
import { withExistingRegistry, withRegistry } from '../registry-access.js'

export interface AllocOptions extends GlobalOptions, RegistryOptions {
  project?: string
  port?: string
  range?: string
  udp?: boolean
  health?: string
  expect?: string
  pid?: string
}

/** `alloc SERVICE`: prints the port alone on stdout, so `PORT=$(portwarden alloc web)` works. */
export async function alloc(service: string, options: AllocOptions): Promise<CommandResult> {
  const cwd = process.cwd()
  const protocol: Protocol = options.udp ? 'udp' : 'tcp'
  const request = {
    project: options.project ?? defaultProject(cwd),
    service,
    protocol,
    port: options.port === undefined ? undefined : parseSinglePort(options.port),
    range: options.range === undefined ? undefined : parseRange(options.range),
    healthCheck:
      options.health === undefined ? undefined : parseHealthCheck(options.health, options.expect),
    pid: options.pid === undefined ? undefined : parsePid(options.pid),
    worktree: findWorktreeRoot(cwd) ?? resolve(cwd),
  }
  // Bad input must change nothing: check the names before the registry is opened (or created).
  validateName('project', request.project)
  validateName('service', request.service)
  const result = await withRegistry(options, (store) => allocate(store, request))
  return {
    exitCode: EXIT.ok,
    json: toJsonAllocated(result),
    text: String(result.allocation.port),
    warnings: [...result.warnings.map((w) => w.message)],
    notes: [allocationSentence(result)],
  }
}

export interface ReleaseOptions extends GlobalOptions, RegistryOptions {
  project?: string
  port?: string
  udp?: boolean
  gone?: boolean
}

function releasedText(removed: readonly Allocation[]): string {
  return removed.map(releasedSentence).join('\n')
}

/** `release --gone [--project P]`: the allocations of worktrees that no longer exist. */
async function releaseGone(options: ReleaseOptions): Promise<CommandResult> {
  const project =
    options.project === undefined ? undefined : validateName('project', options.project)
  const removed = await withExistingRegistry(options, async (store) =>
    store ? releaseGoneWorktrees(store, { project }) : [],
  )
  return {
    // Nothing gone is a fine state (a hook runs this every time): exit 0 either way.
    exitCode: EXIT.ok,
    json: toJsonReleased(removed),
    text: removed.length > 0 ? releasedText(removed) : '',
    warnings: [],
    notes: removed.length === 0 ? ['nothing to release: every recorded worktree still exists'] : [],
  }
}

export async function releaseCommand(
  service: string | undefined,
  options: ReleaseOptions,
): Promise<CommandResult> {
  if (options.gone) {
    if (service !== undefined || options.port !== undefined || options.udp) {
      throw new PortwardenError(
        'invalid_request',
        "--gone releases whole worktrees' allocations: it takes no SERVICE, --port or --udp.",
        { hint: 'portwarden release --gone [--project P]' },
      )
    }
    return releaseGone(options)
  }
  if (service !== undefined && options.port !== undefined) {
    throw new PortwardenError('invalid_request', 'Give either SERVICE or --port, not both.', {
      hint: RELEASE_EXAMPLE,
    })
  }
  if (service === undefined && options.port === undefined) {
    throw new PortwardenError(
      'invalid_request',
      'Name the SERVICE to release, or give --port PORT.',
      { hint: RELEASE_EXAMPLE },
    )
  }
  const request =
    options.port !== undefined
      ? {
          port: parseSinglePort(options.port.replace(/\/(tcp|udp)$/i, '')),
          protocol: portProtocol(options.port, options.udp),
        }
      : {
          project: options.project ?? defaultProject(),
          service: service as string,
          protocol: options.udp ? ('udp' as const) : undefined,
        }
  if (request.service !== undefined && request.project !== undefined) {
    validateName('project', request.project)
    validateName('service', request.service)
  }
  const removed = await withExistingRegistry(options, (store) =>
    releaseIfRegistry(
      store,
      request,
      resolveRegistryLocation(options.registry),
      'See what is allocated with `portwarden status`.',
    ),
  )
  return {
    exitCode: EXIT.ok,
    json: toJsonReleased(removed),
    text: releasedText(removed),
    warnings: [],
  }
}

const RELEASE_EXAMPLE =
  'Examples: portwarden release web --project shop; portwarden release --port 20417/tcp'

function portProtocol(text: string, udp: boolean | undefined): Protocol {
  const suffix = /\/(tcp|udp)$/i.exec(text)?.[1]?.toLowerCase()
  return (suffix as Protocol | undefined) ?? (udp ? 'udp' : 'tcp')
}

export function registerAlloc(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('alloc')
        .description(
          'give SERVICE a port and print it; the same project+service always gets the same port back',
        )
        .argument('<service>', 'service name, e.g. web')
        .option(
          '--project <name>',
          'project (default: the git worktree name, else the directory name)',
        )
        .option('--port <n>', 'this exact port, or an error naming who has it')
        .option('--range <a-b>', 'look for a free port here (default 20000-29999)')
        .option('--udp', 'a UDP port')
        .option(
          '--health <check>',
          'how to check it answers: tcp, http:/PATH, https:/PATH, postgres, redis',
        )
        .option('--expect <status>', 'HTTP status the health check expects')
        .option(
          '--pid <n>',
          'the process that serves the port; recorded on an existing allocation too, and a port it already holds can be allocated to it',
        ),
    )
    .action((service: string, options) => cli.run(alloc(service, cli.globals(options))))
}

export function registerRelease(program: Command, cli: CliContext): void {
  cli
    .registry(
      program
        .command('release')
        .description(
          'remove allocations: release SERVICE [--project P], release --port SPEC, or release --gone (worktrees that no longer exist)',
        )
        .argument('[service]', 'service name')
        .option('--project <name>', 'project (default: the git worktree name)')
        .option('--port <spec>', 'the allocation on this port (8080, 8080/udp)')
        .option('--udp', 'the UDP allocation')
        .option('--gone', 'every allocation whose recorded worktree no longer exists'),
    )
    .action((service: string | undefined, options) =>
      cli.run(releaseCommand(service, cli.globals(options))),
    )
}
