/**
 * The tools that read the kernel's socket tables (list_listeners, who_holds, check_ports) and
 * the one that stops processes (free_port), each the CLI command of the same purpose.
 */
import { z } from 'zod'
import { checkPorts } from '../core/check-port.js'
import { PortwardenError } from '../core/errors.js'
import { executeFree } from '../core/free/execute-free.js'
import { FREE_SIGNALS, parseStopOptions } from '../core/free/options.js'
import { planFree } from '../core/free/plan-free.js'
import { toJsonFreePlan, toJsonFreeReport } from '../core/free/wire.js'
import {
  checkResultSentence,
  freePlanSentence,
  freeReportSentence,
  listingSentence,
  whoSentence,
} from '../core/messages.js'
import { specsForProtocols } from '../core/port-spec.js'
import { listSockets } from '../core/sockets/list-sockets.js'
import { allocationsForEvidence } from '../core/registry/open-registry.js'
import { whoHolds } from '../core/who-holds.js'
import { toJsonChecks, toJsonSocket, toJsonWho } from '../core/wire.js'
import { hostInput, portSpecsInput, protocolInput, toPortSpecs } from './inputs.js'
import { checkDocument, freeDocument, listingDocument, whoDocument } from './output-schemas.js'
import type { ToolContext } from './tool.js'
import { READ_ONLY, defineTool } from './tool.js'

const PID_MAX = 4_194_304

export const listListeners = defineTool({
  name: 'list_listeners',
  title: 'List listening sockets',
  description:
    'Sockets and the processes holding them, from the kernel\'s own tables (like `ss -tulpn`): TCP listeners and bound UDP sockets by default. Filters: ports, protocol, family, pid, process name; "all": true adds connections and every other state. The same document as `portwarden list --json`, under "sockets".',
  input: z.strictObject({
    ports: portSpecsInput.optional(),
    protocol: protocolInput.optional(),
    family: z.enum(['ipv4', 'ipv6']).optional().describe('ipv4 or ipv6 (default both)'),
    pid: z.number().int().min(1).max(PID_MAX).optional().describe('only this process'),
    process: z.string().max(64).optional().describe('only processes with this name (comm)'),
    all: z.boolean().optional().describe('every state, connections included'),
    all_namespaces: z
      .boolean()
      .optional()
      .describe(
        'every network namespace reachable (ip netns, containers), each socket with its netns',
      ),
  }),
  output: listingDocument,
  annotations: READ_ONLY,
  async run(args, context: ToolContext) {
    const protocols = args.protocol ? [args.protocol] : (['tcp', 'udp'] as const)
    const inventory = await listSockets({
      all: args.all === true,
      protocols: [...protocols],
      families: args.family ? [args.family] : ['ipv4', 'ipv6'],
      ports: args.ports && listedPorts(args.ports, [...protocols]),
      pid: args.pid,
      processName: args.process,
      backend: context.backend,
      allNamespaces: args.all_namespaces === true,
    })
    return {
      json: { sockets: inventory.sockets.map(toJsonSocket) },
      sentence: listingSentence(inventory.sockets),
      warnings: inventory.warnings.map((w) => w.message),
    }
  },
})

/** A port naming a protocol the listing leaves out is refused rather than matching nothing. */
function listedPorts(values: readonly (number | string)[], protocols: ('tcp' | 'udp')[]) {
  const { specs, excluded } = specsForProtocols(values.map(String), protocols)
  const [first] = excluded
  if (first) {
    throw new PortwardenError(
      'invalid_request',
      `The port ${JSON.stringify(first.text)} names ${first.spec.protocol.toUpperCase()}, but "protocol" lists ${protocols[0]?.toUpperCase()} sockets only.`,
      { hint: 'Leave out "protocol", or give the port without one to match every protocol.' },
    )
  }
  return specs
}

export const whoHoldsTool = defineTool({
  name: 'who_holds',
  title: 'Who holds these ports',
  description:
    'Who holds each port: pid, process name, user, full command line, start time, address, container; a port nobody holds over the protocol asked says what holds it over the other one and in other network namespaces. The same document as `portwarden who --json`.',
  input: z.strictObject({
    ports: portSpecsInput,
    all_namespaces: z
      .boolean()
      .optional()
      .describe('answer for every network namespace holding a port, each entry with its netns'),
  }),
  output: whoDocument,
  annotations: READ_ONLY,
  async run(args, context) {
    const registry = await allocationsForEvidence({ location: context.registry })
    const result = await whoHolds(toPortSpecs(args.ports), {
      backend: context.backend,
      otherProtocol: true,
      otherNamespaces: true,
      allNamespaces: args.all_namespaces === true,
      evidence: { allocations: registry.allocations },
    })
    return {
      json: toJsonWho(result.ports),
      sentence: whoSentence(result.ports),
      warnings: [...registry.warnings, ...result.warnings.map((w) => w.message)],
    }
  },
})

export const checkPortsTool = defineTool({
  name: 'check_ports',
  title: 'Are these ports free to bind',
  description:
    'Whether each port is free to bind (socket tables plus a bind test on every address, or on "host" only), naming the holder of a taken one. The same document as `portwarden check --json`.',
  input: z.strictObject({ ports: portSpecsInput, host: hostInput.optional() }),
  output: checkDocument,
  annotations: READ_ONLY,
  async run(args, context) {
    const registry = await allocationsForEvidence({ location: context.registry })
    const checks = await checkPorts(toPortSpecs(args.ports), {
      host: args.host,
      backend: context.backend,
      otherProtocol: true,
      otherNamespaces: true,
      evidence: { allocations: registry.allocations },
    })
    return {
      json: toJsonChecks(checks),
      sentence: checks.map(checkResultSentence).join('; '),
      warnings: [...registry.warnings, ...checks.flatMap((c) => c.warnings.map((w) => w.message))],
    }
  },
})

const SIGNAL_NAMES = [...FREE_SIGNALS, ...FREE_SIGNALS.map((s) => s.slice(3))] as [
  string,
  ...string[],
]

export const durationInput = z.string().max(16)

export const signalInput = z
  .enum(SIGNAL_NAMES)
  .describe('the first signal: TERM (default), INT, HUP, QUIT, USR1, USR2 or KILL')

export const freePort = defineTool({
  name: 'free_port',
  title: 'Stop the processes holding ports (dry run unless confirmed)',
  description:
    'Stops the processes holding these ports, safely. WITHOUT "confirm": true THIS IS A DRY RUN: it only says who would be signalled and who would not, and sends nothing. With "confirm": true it sends "signal" (default SIGTERM), waits up to "wait" (default 5s) for the ports to be released, and sends SIGKILL only when "kill_after" is given. The safety rules of `portwarden free` always apply: never pid 1, this server, its parent (your MCP client) or any other ancestor; a container\'s port proxy is not signalled (the container to stop is named instead); each pid is re-checked (same process, same start time) right before every signal. The same document as `portwarden free --dry-run --json` / `free --yes --json`.',
  input: z.strictObject({
    ports: portSpecsInput,
    confirm: z
      .boolean()
      .optional()
      .describe('true: really send the signals; otherwise a dry run that sends nothing'),
    signal: signalInput.optional(),
    wait: durationInput
      .optional()
      .describe('how long to wait for the ports after the last signal: 500ms, 5s (default), 2m'),
    kill_after: durationInput
      .optional()
      .describe('send SIGKILL if a port is still held this long after the first signal'),
  }),
  output: freeDocument,
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async run(args, context) {
    const registry = await allocationsForEvidence({ location: context.registry })
    const plan = await planFree(toPortSpecs(args.ports), {
      evidence: { allocations: registry.allocations },
      ...parseStopOptions(
        { signal: args.signal, wait: args.wait, killAfter: args.kill_after },
        { wait: 'wait', killAfter: 'kill_after' },
      ),
      backend: context.backend,
    })
    const warnings = [...registry.warnings, ...plan.warnings.map((w) => w.message)]
    if (args.confirm !== true) {
      const wouldSignal = plan.targets.some((t) => t.refusal === null && t.identity !== null)
      return {
        json: toJsonFreePlan(plan),
        sentence: `dry run (nothing was signalled): ${freePlanSentence(plan)}${wouldSignal ? '; call free_port again with "confirm": true to do it' : ''}`,
        warnings,
      }
    }
    const report = await executeFree(plan)
    return { json: toJsonFreeReport(report), sentence: freeReportSentence(report), warnings }
  },
})
