/** The tool that stops a project's stale leftovers: `portwarden prune`, dry run unless confirmed. */
import { z } from 'zod'
import { parseStopOptions } from '../core/free/options.js'
import { prunePlanSentence, pruneReportSentence } from '../core/messages.js'
import { executePrune } from '../core/prune/execute-prune.js'
import { planPrune } from '../core/prune/plan-prune.js'
import { pruneScope } from '../core/prune/scope.js'
import { toJsonPrunePlan, toJsonPruneReport } from '../core/prune/wire.js'
import { withExistingRegistry } from '../core/registry/open-registry.js'
import { projectInput } from './inputs.js'
import { pruneDocument } from './output-schemas.js'
import { defineTool } from './tool.js'
import { durationInput, signalInput } from './socket-tools.js'

export const pruneTool = defineTool({
  name: 'prune',
  title: "Stop the project's stale leftovers (dry run unless confirmed)",
  description:
    'Finds the processes that hold this project\'s ports (its registry allocations and manifest ports) or listen from inside its directory, and judges each on evidence (orphaned, its worktree or working directory deleted, the port allocated to someone else, a 503 answer, no connections). WITHOUT "confirm": true THIS IS A DRY RUN: it only says what would be stopped and what is left alone and why. With "confirm": true it stops only the project\'s holders whose verdict is "stale" — never a holder with live connections, never one that is not the project\'s, never pid 1, this server or its parent — through the same safe path as free_port (SIGTERM, re-checked pid and start time before each signal, the port waited for, SIGKILL only with "kill_after"), their child processes first. "release_gone": true also releases the allocations whose worktree directory is gone. The project defaults to the server\'s working directory\'s. The same document as `portwarden prune --dry-run --json` / `prune --yes --json`.',
  input: z.strictObject({
    project: projectInput.optional(),
    release_gone: z
      .boolean()
      .optional()
      .describe('also release the allocations whose worktree directory is gone'),
    confirm: z
      .boolean()
      .optional()
      .describe('true: really stop the stale holders; otherwise a dry run that sends nothing'),
    signal: signalInput.optional(),
    wait: durationInput
      .optional()
      .describe('how long to wait for each port after the last signal: 500ms, 5s (default), 2m'),
    kill_after: durationInput
      .optional()
      .describe('send SIGKILL if a port is still held this long after the first signal'),
  }),
  output: pruneDocument,
  annotations: {
    readOnlyHint: false,
    destructiveHint: true,
    idempotentHint: false,
    openWorldHint: false,
  },
  async run(args, context) {
    return withExistingRegistry({ location: context.registry }, async (store) => {
      const scope = await pruneScope({ cwd: context.cwd, project: args.project }, store)
      const plan = await planPrune(scope, {
        ...parseStopOptions(
          { signal: args.signal, wait: args.wait, killAfter: args.kill_after },
          { wait: 'wait', killAfter: 'kill_after' },
        ),
        backend: context.backend,
        releaseGone: args.release_gone === true,
      })
      const warnings = plan.warnings.map((w) => w.message)
      if (args.confirm !== true) {
        const acting = plan.candidates.some((c) => c.decision === 'stop') || plan.gone.length > 0
        return {
          json: toJsonPrunePlan(plan),
          sentence: `dry run (nothing was signalled or released): ${prunePlanSentence(plan)}${acting ? '; call prune again with "confirm": true to do it' : ''}`,
          warnings,
        }
      }
      const report = await executePrune(plan, { store })
      return { json: toJsonPruneReport(report), sentence: pruneReportSentence(report), warnings }
    })
  },
})
