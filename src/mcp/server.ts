/**
 * `portwarden mcp`: the Model Context Protocol server on stdio, for coding agents. A front end
 * like the CLI and the HTTP server: it uses the core library only.
 *
 * Built on the SDK's low-level `Server` rather than `McpServer`, for two things the high-level
 * one does not allow: arguments are checked here, so a bad one is a tool error with
 * portwarden's sentence and code (McpServer answers zod's own text), and a tool error carries
 * `{"error": code, "message"}` as structured content, which each tool's outputSchema admits
 * beside its document (McpServer takes only one object schema per tool).
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { PortwardenError, isPortwardenError } from '../core/errors.js'
import { packageVersion } from '../core/package-root.js'
import { parseWithSchema } from '../core/schema-check.js'
import { errorDocument } from './output-schemas.js'
import type { ToolAnswer, ToolContext, ToolDefinition } from './tool.js'
import { TOOLS } from './tools.js'

const INSTRUCTIONS =
  'portwarden answers who holds a port (from the kernel socket tables), whether ports are free, ' +
  'gives services stable ports from a registry shared with the portwarden CLI, checks their ' +
  'health, and stops stale port holders safely: free_port is a dry run unless called with ' +
  '"confirm": true.'

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  // Clients compile the schema with their own draft; the listing names none.
  const json: Record<string, unknown> = z.toJSONSchema(schema, { target: 'draft-7', io })
  delete json.$schema
  return json
}

/** The listing of a tool: its argument schema, and its document or a tool error as output. */
function listing(tool: ToolDefinition): Tool {
  return {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: jsonSchema(tool.input, 'input') as Tool['inputSchema'],
    outputSchema: {
      type: 'object',
      anyOf: [jsonSchema(tool.output, 'output'), jsonSchema(errorDocument, 'output')],
    },
    annotations: { title: tool.title, ...tool.annotations },
  }
}

/**
 * `allocated TCP port 20417 to web of project shop` → `Allocated ... shop.` Only a full stop
 * counts as an ending: a fragment may end in a name (project `demo!`) that is not one.
 */
function asSentence(fragment: string): string {
  const text = fragment.charAt(0).toUpperCase() + fragment.slice(1)
  return text.endsWith('.') ? text : `${text}.`
}

function answered(answer: ToolAnswer): CallToolResult {
  return {
    content: [
      { type: 'text', text: asSentence(answer.sentence) },
      ...answer.warnings.map((w) => ({ type: 'text' as const, text: `Warning: ${w}` })),
    ],
    structuredContent: answer.json,
  }
}

/** Any failure is a tool error, never a crash: typed errors keep their code, others are internal. */
export function failed(error: unknown): CallToolResult {
  const known = isPortwardenError(error)
  const code = known ? error.code : 'internal_error'
  const message = known
    ? error.message
    : `Internal error: ${error instanceof Error ? error.message : String(error)}`
  const hint = known ? error.hint : 'Please report this.'
  return {
    isError: true,
    content: [{ type: 'text', text: hint ? `${message} ${hint}` : message }],
    structuredContent: {
      error: code,
      message,
      ...(hint ? { hint } : {}),
      ...(known && error.details ? { details: error.details } : {}),
    },
  }
}

export async function callTool(
  name: string,
  args: unknown,
  context: ToolContext,
): Promise<CallToolResult> {
  try {
    const tool = TOOLS.find((t) => t.name === name)
    if (!tool) {
      return failed(
        new PortwardenError(
          'invalid_request',
          `There is no tool ${JSON.stringify(name.slice(0, 64))}.`,
          { hint: `The tools: ${TOOLS.map((t) => t.name).join(', ')}.` },
        ),
      )
    }
    const parsed = parseWithSchema(
      tool.input,
      args ?? {},
      `arguments for ${tool.name}`,
      'arguments',
    )
    return answered(await tool.run(parsed, context))
  } catch (error) {
    return failed(error)
  }
}

/** Creates the server (`connect` it to a transport) and the calls it is answering. */
export function createMcpServer(context: ToolContext): {
  server: Server
  inFlight: Set<Promise<CallToolResult>>
} {
  const server = new Server(
    { name: 'portwarden', version: packageVersion() },
    { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  )
  const inFlight = new Set<Promise<CallToolResult>>()
  // A line that is not JSON-RPC is the client's bug: said on stderr, and the session goes on.
  server.onerror = (error) => process.stderr.write(`portwarden mcp: ${error.message}\n`)
  const tools = TOOLS.map(listing)
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }))
  server.setRequestHandler(CallToolRequestSchema, (request) => {
    const answer = callTool(request.params.name, request.params.arguments, context)
    inFlight.add(answer)
    void answer.finally(() => inFlight.delete(answer))
    return answer
  })
  return { server, inFlight }
}

/**
 * Serves on stdin/stdout until the client closes stdin (the calls it sent are answered first)
 * or SIGINT/SIGTERM. Nothing else may write to stdout: it carries the protocol.
 */
export async function serveMcpOnStdio(context: ToolContext): Promise<void> {
  const { server, inFlight } = createMcpServer(context)
  const closed = new Promise<void>((resolve) => {
    server.onclose = resolve
  })
  const close = () => void server.close()
  const finish = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight])
    // The last answers are written after their handlers return: let them go out first.
    await new Promise((resolve) => setImmediate(resolve))
    close()
  }
  process.stdin.once('end', () => void finish())
  process.once('SIGINT', close)
  process.once('SIGTERM', close)
  await server.connect(new StdioServerTransport())
  await closed
  process.off('SIGINT', close)
  process.off('SIGTERM', close)
}
