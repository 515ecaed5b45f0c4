import { toJsonPortHolders, whoHolds } from '../../core/index.js'
import type { CommandResult, GlobalOptions } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend, requireSpecs } from '../parse-options.js'
import { renderWho } from '../render/human.js'
import type { Style } from '../render/style.js'

export async function who(specTexts: string[], options: GlobalOptions, style: Style): Promise<CommandResult> {
  const result = await whoHolds(requireSpecs(specTexts, 'who'), { backend: parseBackend(options.backend) })
  const held = result.ports.some((entry) => entry.sockets.length > 0 || entry.heldOutOfSight)
  const text =
    result.ports.length === 0 ? 'Nothing holds any port in the given range.' : renderWho(result.ports, style)
  return {
    exitCode: held ? EXIT.ok : EXIT.no,
    json: options.json ? { ports: result.ports.map(toJsonPortHolders) } : null,
    text: options.json ? '' : text,
    warnings: result.warnings.map((w) => w.message),
  }
}
