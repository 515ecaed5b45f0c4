/**
 * What a portwarden MCP tool is: a name, words for the agent, a zod schema for its arguments
 * (checked here, so a bad argument is a tool error with portwarden's sentence), the schema of
 * its structured content, and the work, which answers the CLI's --json document and a sentence.
 */
import type { z } from 'zod'
import type { BackendName } from '../core/sockets/list-sockets.js'

/** What every call may use: how the server was started. */
export interface ToolContext {
  /** `--registry`: a file or postgres:// URL; undefined: PORTWARDEN_REGISTRY, else the default. */
  registry: string | undefined
  backend: BackendName | 'auto'
  /** The server's working directory: the default project and worktree of `allocate_port`. */
  cwd: string
}

/** A tool's answer: the document (as `--json` prints it), one sentence, and warnings. */
export interface ToolAnswer {
  json: Record<string, unknown>
  /** A sentence fragment as src/core/messages.ts makes them (capitalised and ended here). */
  sentence: string
  warnings: readonly string[]
}

export interface ToolAnnotations {
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  openWorldHint: boolean
}

export interface ToolDefinition<Input extends z.ZodType = z.ZodType> {
  name: string
  title: string
  description: string
  input: Input
  output: z.ZodType
  annotations: ToolAnnotations
  run(args: z.output<Input>, context: ToolContext): Promise<ToolAnswer>
}

/** Keeps each definition's argument type tied to its own schema inside one list. */
export function defineTool<Input extends z.ZodType>(
  definition: ToolDefinition<Input>,
): ToolDefinition {
  return definition as unknown as ToolDefinition
}

export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
}
