/**
 * Worker thread for the holder scan: walks the `/proc/<pid>/fd` tables of the pids it is given,
 * for the inodes it is given, and posts back `[inode, pid, ...]` pairs. The walk is syscall-bound
 * (readdir + readlink per fd), so a second thread on a second core halves it.
 */
import { parentPort } from 'node:worker_threads'
import { scanSocketHolders } from './read-process.js'

interface ScanRequest {
  procRoot: string
  pids: number[]
  wanted: Float64Array
}

parentPort?.once('message', (request: ScanRequest) => {
  const scan = scanSocketHolders(new Set(request.wanted), {
    procRoot: request.procRoot,
    pids: request.pids,
  })
  const pairs: number[] = []
  for (const [inode, pids] of scan.holders) for (const pid of pids) pairs.push(inode, pid)
  const packed = Float64Array.from(pairs)
  parentPort?.postMessage({ pairs: packed, unreadablePids: scan.unreadablePids }, [packed.buffer])
})
