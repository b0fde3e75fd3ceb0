// TREC / MS MARCO qrels and run files, one import for callers: line scanning (lines.ts), in-memory runs and
// trec_eval order (ranking.ts), qrels (qrelsfile.ts), the run reader (runreader.ts) and the run writer (runwriter.ts).
export { scanFileLines, scanTextLines, forEachLine, forEachLineOfText, parseScore, type ByteLineSink } from './lines.ts';
export {
  rankingFromDocs, runFromDocs, trecOrder, rankedDocs, strcmpUtf8, compareTrecOrder,
  type ScoredDoc, type Scores, type Ranking, type Run, type RunFormat, type IdMapper,
} from './ranking.ts';
export { readQrels, parseQrels, writeQrels, type Qrels } from './qrelsfile.ts';
export { readRun, parseRun, type ReadRunOptions, type ReadRunResult } from './runreader.ts';
export { RunFileWriter, writeRun, writeTrecRun, writeMsmarcoRun, formatRunLine, type RunFileWriterOptions } from './runwriter.ts';
