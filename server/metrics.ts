/**
 * Prometheus metrics of one bridge (prom-client, own registry so several
 * bridges can live in one process, e.g. in tests). Served at /metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export class BridgeMetrics {
  readonly registry = new Registry();
  readonly sessionsStarted = new Counter({ name: "golive_sessions_started_total", help: "Sessions opened (WebSocket connections on /ingest)", registers: [this.registry] });
  readonly sessionsEnded = new Counter({ name: "golive_sessions_ended_total", help: "Sessions ended, by outcome", labelNames: ["outcome"] as const, registers: [this.registry] });
  readonly sessionsActive = new Gauge({ name: "golive_sessions_active", help: "Sessions open now", registers: [this.registry] });
  readonly bytesIn = new Counter({ name: "golive_bytes_in_total", help: "Media bytes received from clients (binary messages)", registers: [this.registry] });
  readonly framesIn = new Counter({ name: "golive_frames_in_total", help: "Media frames received from clients", labelNames: ["kind"] as const, registers: [this.registry] });
  readonly bytesOut = new Counter({ name: "golive_bytes_out_total", help: "Bytes written to destinations", labelNames: ["sink"] as const, registers: [this.registry] });
  readonly framesOut = new Counter({ name: "golive_frames_out_total", help: "Frames written, per sink kind and media kind", labelNames: ["sink", "kind"] as const, registers: [this.registry] });
  readonly destinationStates = new Counter({ name: "golive_destination_states_total", help: "Destination state changes", labelNames: ["state", "code"] as const, registers: [this.registry] });
  readonly reconnects = new Counter({ name: "golive_destination_reconnects_total", help: "Destination connections lost while live (each then retried until it is back or gives up)", registers: [this.registry] });
  readonly refusals = new Counter({ name: "golive_refusals_total", help: "Connections refused before a session (limits, origin)", labelNames: ["code"] as const, registers: [this.registry] });
  readonly framesDropped = new Counter({ name: "golive_frames_dropped_total", help: "Frames dropped for congestion or while reconnecting", registers: [this.registry] });
  readonly framesLost = new Counter({ name: "golive_frames_lost_total", help: "Frames sent on a connection that was reset before the ingest received them", registers: [this.registry] });
  readonly frameLatency = new Histogram({
    name: "golive_frame_latency_seconds",
    help: "Time from a frame's arrival on the WebSocket to its write to an RTMP socket or the recording",
    labelNames: ["sink"] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "golive_" });
  }
}
