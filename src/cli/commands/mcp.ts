import type { Command } from 'commander'
import type { CliContext } from '../cli-context.js'
import type { CommandResult } from '../command-result.js'
import { EXIT } from '../exit-codes.js'
import { parseBackend } from '../parse-options.js'

export interface McpOptions {
  registry?: string
  backend?: string
}

/** `mcp`: the MCP server on stdin/stdout until the client closes stdin; prints nothing itself. */
export async function mcp(options: McpOptions): Promise<CommandResult> {
  const backend = parseBackend(options.backend)
  const { serveMcpOnStdio } = await import('../../mcp/server.js')
  await serveMcpOnStdio({ registry: options.registry, backend, cwd: process.cwd() })
  return { exitCode: EXIT.ok, json: null, text: '', warnings: [] }
}

export function registerMcp(program: Command, cli: CliContext): void {
  program
    .command('mcp')
    .description(
      'the Model Context Protocol server on stdio, for coding agents (free_port is a dry run unless confirmed)',
    )
    .option(
      '--registry <path|url>',
      'registry file or postgres:// URL (default: PORTWARDEN_REGISTRY, else the state directory)',
    )
    .option('--backend <name>', 'socket table source: auto, netlink, proc or lsof')
    .action((options: McpOptions) => cli.run(mcp(options)))
}
