import { checkPorts, toJsonCheck } from '../../core/index.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend, requireSpecs } from '../parse-options.js'
import { renderChecks } from '../render/human.js'
import type { Style } from '../render/style.js'

export interface CheckCommandOptions extends GlobalOptions {
  host?: string
}

export async function check(specTexts: string[], options: CheckCommandOptions, style: Style): Promise<CommandResult> {
  const checks = await checkPorts(requireSpecs(specTexts, 'check'), {
    host: options.host,
    backend: parseBackend(options.backend),
  })
  return {
    exitCode: checks.every((c) => c.free) ? EXIT.ok : EXIT.no,
    json: options.json ? { ports: checks.map(toJsonCheck) } : null,
    text: options.json ? '' : renderChecks(checks, style),
    warnings: checks.flatMap((c) => c.warnings.map((w) => w.message)),
  }
}
