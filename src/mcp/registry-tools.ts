/**
 * The tools of the port registry (find_free_ports, allocate_port, release_port,
 * registry_status, health_check), each the CLI command of the same purpose, on the registry
 * the server was started with (--registry, else PORTWARDEN_REGISTRY, else the state directory).
 * Every call opens the registry and closes it again, as a CLI command does, so the CLI and
 * other servers can use it between calls; reads never create it.
 */
import { resolve } from 'node:path'
import { z } from 'zod'
import { PortwardenError } from '../core/errors.js'
import {
  allocationSentence,
  foundSentence,
  releasedSentence,
  statusSentence,
} from '../core/messages.js'
import { allocate } from '../core/registry/allocator.js'
import { MAX_FIND_COUNT, findFreePorts } from '../core/registry/find-free.js'
import { releaseGoneWorktrees } from '../core/registry/gone-worktrees.js'
import { defaultProject, findWorktreeRoot, validateName } from '../core/registry/names.js'
import {
  resolveRegistryLocation,
  withExistingRegistry,
  withRegistry,
} from '../core/registry/open-registry.js'
import { releaseIfRegistry } from '../core/registry/release.js'
import type { ReleaseRequest } from '../core/registry/release.js'
import { registryStatus } from '../core/registry/status.js'
import type { Allocation } from '../core/registry/types.js'
import { toJsonAllocated, toJsonFound, toJsonReleased, toJsonStatus } from '../core/wire.js'
import {
  hostInput,
  projectInput,
  protocolInput,
  rangeInput,
  toRange,
  toSinglePort,
} from './inputs.js'
import {
  allocatedDocument,
  foundDocument,
  releasedDocument,
  statusDocument,
} from './output-schemas.js'
import type { ToolContext } from './tool.js'
import { READ_ONLY, defineTool } from './tool.js'

const PID_MAX = 4_194_304

const serviceInput = z.string().max(200).describe('a service name, such as web')

function at(context: ToolContext) {
  return { location: context.registry }
}

export const findFreePortsTool = defineTool({
  name: 'find_free_ports',
  title: 'Find free ports',
  description:
    'Free ports, lowest first: in no socket table, not allocated in the registry, bindable now. Advisory: nothing is reserved (allocate_port reserves). The same document as `portwarden find --json`.',
  input: z.strictObject({
    range: rangeInput.optional(),
    count: z.number().int().min(1).max(MAX_FIND_COUNT).optional().describe('how many (default 1)'),
    protocol: protocolInput.optional(),
    host: hostInput.optional(),
  }),
  output: foundDocument,
  annotations: READ_ONLY,
  async run(args, context) {
    const protocol = args.protocol ?? 'tcp'
    const range = args.range === undefined ? undefined : toRange(args.range)
    const result = await withExistingRegistry(at(context), (store) =>
      findFreePorts({ protocol, range, count: args.count ?? 1, host: args.host, store }),
    )
    return {
      json: toJsonFound(protocol, result.ports),
      sentence: foundSentence(protocol, result.ports),
      warnings: result.warnings.map((w) => w.message),
    }
  },
})

const healthInput = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.enum(['tcp', 'postgres', 'redis']) }),
    z.strictObject({
      kind: z.enum(['http', 'https']),
      path: z.string().max(2048).startsWith('/', 'a path starting with /').default('/'),
      expect: z.number().int().min(100).max(599).optional(),
    }),
  ])
  .describe(
    'how to check the service answers: {"kind": "tcp"}, {"kind": "http", "path": "/healthz", "expect": 200}, postgres, redis',
  )

export const allocatePort = defineTool({
  name: 'allocate_port',
  title: 'Give a service a port',
  description:
    "Gives a service of a project a port and records it in the registry; the same project and service always get the same port back (idempotent). Never a port the system holds or another service has, even under concurrent callers. The project and worktree default to the server's working directory's git worktree. The same document as `portwarden alloc --json`.",
  input: z.strictObject({
    service: serviceInput,
    project: projectInput.optional(),
    port: z.number().int().optional().describe('this exact port, or an error naming who has it'),
    range: rangeInput.optional(),
    protocol: protocolInput.optional(),
    health: healthInput.optional(),
    pid: z
      .number()
      .int()
      .min(1)
      .max(PID_MAX)
      .optional()
      .describe(
        'the process serving the port: recorded, and a port it already holds can be given to it',
      ),
  }),
  output: allocatedDocument,
  annotations: {
    readOnlyHint: false,
    destructiveHint: false,
    idempotentHint: true,
    openWorldHint: false,
  },
  async run(args, context) {
    const request = {
      project: validateName('project', args.project ?? defaultProject(context.cwd)),
      service: validateName('service', args.service),
      protocol: args.protocol,
      port: args.port === undefined ? undefined : toSinglePort(args.port, 'port').from,
      range: args.range === undefined ? undefined : toRange(args.range),
      healthCheck: args.health,
      pid: args.pid,
      worktree: findWorktreeRoot(context.cwd) ?? resolve(context.cwd),
    }
    const result = await withRegistry(at(context), (store) => allocate(store, request))
    return {
      json: toJsonAllocated(result),
      sentence: allocationSentence(result),
      warnings: result.warnings.map((w) => w.message),
    }
  },
})

const RELEASE_FORMS =
  'Give "service" (with "project"), or "port" (such as "20417/tcp"), or "gone": true.'

export const releasePort = defineTool({
  name: 'release_port',
  title: 'Remove allocations',
  description:
    'Removes allocations from the registry: a service\'s ("service", with "project" or the server\'s worktree name), the one on a port ("port": 20417 or "20417/udp"), or with "gone": true every allocation whose recorded worktree no longer exists. Stops no process. The same document as `portwarden release --json`.',
  input: z.strictObject({
    service: serviceInput.optional(),
    project: projectInput.optional(),
    port: z
      .union([z.number(), z.string().max(32)])
      .optional()
      .describe('the allocation on this port'),
    protocol: protocolInput.optional(),
    gone: z.boolean().optional().describe('release every allocation of a worktree that is gone'),
  }),
  output: releasedDocument,
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: true,
    openWorldHint: false,
  },
  async run(args, context) {
    let removed: Allocation[]
    if (args.gone === true) {
      if (args.service !== undefined || args.port !== undefined || args.protocol !== undefined)
        throw releaseUsage(
          '"gone" releases whole worktrees\' allocations: it takes no "service", "port" or "protocol".',
        )
      const project = args.project === undefined ? undefined : validateName('project', args.project)
      removed = await withExistingRegistry(at(context), async (store) =>
        store ? releaseGoneWorktrees(store, { project }) : [],
      )
    } else {
      const request = releaseRequest(args, context)
      removed = await withExistingRegistry(at(context), (store) =>
        releaseIfRegistry(
          store,
          request,
          resolveRegistryLocation(context.registry),
          'registry_status shows what is allocated.',
        ),
      )
    }
    return {
      json: toJsonReleased(removed),
      sentence:
        removed.length > 0
          ? removed.map(releasedSentence).join('; ')
          : 'nothing to release: every recorded worktree still exists',
      warnings: [],
    }
  },
})

function releaseUsage(message: string): PortwardenError {
  return new PortwardenError('invalid_request', message, { hint: RELEASE_FORMS })
}

function releaseRequest(
  args: { service?: string; project?: string; port?: number | string; protocol?: 'tcp' | 'udp' },
  context: ToolContext,
): ReleaseRequest {
  if (args.service !== undefined && args.port !== undefined)
    throw releaseUsage('Give either "service" or "port", not both.')
  if (args.port !== undefined) {
    const spec = toSinglePort(args.port, 'port')
    const named = /\/(tcp|udp)$/i.test(String(args.port))
    if (named && args.protocol !== undefined && args.protocol !== spec.protocol)
      throw releaseUsage(
        `"port": ${JSON.stringify(args.port)} names ${spec.protocol.toUpperCase()}, but "protocol" is ${JSON.stringify(args.protocol)}.`,
      )
    return { port: spec.from, protocol: named ? spec.protocol : (args.protocol ?? 'tcp') }
  }
  if (args.service === undefined) throw releaseUsage('Name what to release.')
  return {
    project: validateName('project', args.project ?? defaultProject(context.cwd)),
    service: validateName('service', args.service),
    protocol: args.protocol,
  }
}

const statusInput = z.strictObject({
  project: projectInput.optional().describe('one project only (default: every project)'),
})

export const registryStatusTool = defineTool({
  name: 'registry_status',
  title: 'The registry and its conflicts',
  description:
    'Every allocation in the registry (with its last health status and whether its worktree is gone) and the conflicts with reality: REGISTRY CONFLICT, SYSTEM CONFLICT, ALLOCATION MISMATCH, each with a resolution command, and a summary. The same document as `portwarden status --check-conflicts --json`.',
  input: statusInput,
  output: statusDocument,
  annotations: READ_ONLY,
  async run(args, context) {
    return statusAnswer(args.project, context, { checkConflicts: true })
  },
})

export const healthCheck = defineTool({
  name: 'health_check',
  title: 'Check the registered services now',
  description:
    'Checks every allocated service now (is the port bound, listened on by the recorded process, does the service answer: TCP, HTTP status, PostgreSQL, Redis) and records the result in the registry. The same document as `portwarden status --health-check --json`.',
  input: statusInput,
  output: statusDocument,
  annotations: { ...READ_ONLY, readOnlyHint: false, idempotentHint: true },
  async run(args, context) {
    return statusAnswer(args.project, context, { healthCheck: true })
  },
})

async function statusAnswer(
  project: string | undefined,
  context: ToolContext,
  asked: { checkConflicts?: boolean; healthCheck?: boolean },
) {
  const status = await withExistingRegistry(at(context), (store) =>
    registryStatus(store, {
      location: store?.location ?? resolveRegistryLocation(context.registry),
      project,
      ...asked,
    }),
  )
  return {
    json: toJsonStatus(status),
    sentence: statusSentence(status, { health: asked.healthCheck }),
    warnings: status.warnings.map((w) => w.message),
  }
}
