/** The batch observer the server wires: the metrics count every event; hangs and quarantines are also logged. */
import type { BatchObserver } from "../batching/model-queue.ts";
import type { Logger } from "../log.ts";

export function withLog(metrics: BatchObserver, logger: Logger): BatchObserver {
  return {
    onBatch: (m, rows, latency, predict) => metrics.onBatch(m, rows, latency, predict),
    onSplit: (m) => metrics.onSplit(m),
    onRowsFailed: (m, rows) => metrics.onRowsFailed(m, rows),
    onClientGone: (m, n) => metrics.onClientGone(m, n),
    onShed: (m, reason, n) => metrics.onShed(m, reason, n),
    onQueueWait: (m, seconds) => metrics.onQueueWait(m, seconds),
    onHang(m, replicaId, detail) {
      metrics.onHang(m, replicaId, detail);
      logger.warn("replica_hung", `${detail}; replica ${replicaId} killed and replaced`, { model: m, replica: replicaId });
    },
    onQuarantine(m, reason) {
      metrics.onQuarantine(m, reason);
      logger.warn("input_quarantined", reason, { model: m });
    },
  };
}
