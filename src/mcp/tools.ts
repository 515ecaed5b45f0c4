/**
 * Every tool the MCP server offers, in the order `tools/list` gives them: the one place a tool
 * is registered.
 */
import {
  allocatePort,
  findFreePortsTool,
  healthCheck,
  registryStatusTool,
  releasePort,
} from './registry-tools.js'
import { checkPortsTool, freePort, listListeners, whoHoldsTool } from './socket-tools.js'
import { pruneTool } from './prune-tool.js'
import type { ToolDefinition } from './tool.js'

export const TOOLS: readonly ToolDefinition[] = [
  listListeners,
  whoHoldsTool,
  checkPortsTool,
  findFreePortsTool,
  allocatePort,
  releasePort,
  registryStatusTool,
  healthCheck,
  freePort,
  pruneTool,
]
