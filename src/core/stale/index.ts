export type {
  Evidence,
  EvidenceContext,
  HolderRef,
  RegistrySign,
  WorktreeSign,
} from './evidence.js'
export { gatherEvidence, isInside, isReaper, readCwd } from './evidence.js'
export type { Judgement, Reason, Verdict } from './verdict.js'
export { describeJudgement, explainJudgement, formatAge, judge, SIGNS } from './verdict.js'

import type { Evidence } from './evidence.js'
import type { Judgement } from './verdict.js'

/** One asked holder's evidence and the verdict on it. */
export interface HolderJudgement extends Judgement {
  pid: number
  evidence: Evidence
}
