// A service's Prometheus registry: default labels {service, host}, the modelled-time gauge
// every dashboard divides by, and the count of messages the service had to refuse.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FlowCount } from '@vnetlab/flows';
import type { Logger } from './logger.js';

/** Bad-message log lines per reason and second; the rest are counted, and the next logged line says how many were not logged. */
export const BAD_MESSAGE_LOGS_PER_SECOND = 20;

export class ServiceMetrics {
  readonly registry: Registry;
  private readonly modelledTime: Gauge;
  private readonly badMessages: Counter<'reason'>;
  private latestNs = 0;

  constructor(
    labels: { service: string; host: string },
    private readonly log?: Logger,
    opts: { processMetrics?: boolean } = {},
  ) {
    this.registry = new Registry();
    this.registry.setDefaultLabels(labels);
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'vnetlab_' });
    this.modelledTime = this.gauge(
      'vnetlab_modelled_time_seconds',
      'Latest modelled time this service has reached (use as the denominator of modelled rates)',
    );
    this.badMessages = this.counter(
      'vnetlab_bad_messages_total',
      'Messages refused by this service (undecodable, or their handler failed), by reason',
      ['reason'],
    );
  }

  // Metrics are created where they are used; asking twice for one name returns the first,
  // so two modules of an app may share a counter without passing it around.
  private existing<T>(name: string, kind: string): T | undefined {
    const m = this.registry.getSingleMetric(name);
    if (!m) return undefined;
    if ((m as unknown as { constructor: { name: string } }).constructor.name !== kind) {
      throw new Error(`metric ${name} already registered as a ${(m as object).constructor.name}, not a ${kind}`);
    }
    return m as T;
  }

  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.existing<Counter<L>>(name, 'Counter') ?? new Counter<L>({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.existing<Gauge<L>>(name, 'Gauge') ?? new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return (
      this.existing<Histogram<L>>(name, 'Histogram') ??
      new Histogram<L>({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) })
    );
  }

  /** Advances the modelled clock (ns); it never goes back, since signals arrive out of order. */
  setModelledTime(ns: number): void {
    if (!Number.isFinite(ns) || ns <= this.latestNs) return;
    this.latestNs = ns;
    this.modelledTime.set(ns / 1e9);
  }

  /** Latest modelled time reached, in ns. */
  get modelledTimeNs(): number {
    return this.latestNs;
  }

  /** Counts a refused message under `reason` and logs why. */
  badMessage(reason: string, detail: Record<string, unknown> | string = {}): void {
    this.badMessages.inc({ reason });
    // Every one is counted; only the first few of a reason each second are logged: a peer
    // sending one message of 100 000 bad events must not cost 100 000 log lines.
    const now = Date.now();
    let w = this.badLogWindows.get(reason);
    let notLogged = 0;
    if (!w || now - w.start >= 1000) {
      notLogged = w?.suppressed ?? 0;
      w = { start: now, logged: 0, suppressed: 0 };
      this.badLogWindows.set(reason, w);
    }
    if (w.logged >= BAD_MESSAGE_LOGS_PER_SECOND) {
      w.suppressed++;
      return;
    }
    w.logged++;
    const fields = typeof detail === 'string' ? { detail } : detail;
    this.log?.warn('bad message', { reason, ...fields, ...(notLogged > 0 ? { notLogged } : {}) });
  }

  private readonly badLogWindows = new Map<string, { start: number; logged: number; suppressed: number }>();

  /**
   * Exports a component's per-flow conservation counters, read at every scrape: frames
   * sent and delivered, and drops by reason. Summed over the lab's services they give
   * sent = delivered + Σ drops + in flight for every flow.
   */
  exportFlows(source: () => FlowCount[] | Promise<FlowCount[]>): void {
    this.exportCounter('vnetlab_flow_sent_frames_total', 'Frames of a flow this component sent (a source, or a bridge copying a flooded frame)', ['flow'], async (inc) => {
      for (const f of await source()) if (f.sentFrames > 0) inc({ flow: f.flow }, f.sentFrames);
    });
    this.exportCounter('vnetlab_flow_delivered_frames_total', 'Frames of a flow delivered to this component (the destination guest)', ['flow'], async (inc) => {
      for (const f of await source()) if (f.deliveredFrames > 0) inc({ flow: f.flow }, f.deliveredFrames);
    });
    this.exportCounter('vnetlab_flow_drops_total', 'Frames of a flow this component dropped, by reason', ['flow', 'reason'], async (inc) => {
      for (const f of await source()) for (const [reason, n] of Object.entries(f.drops)) if (n > 0) inc({ flow: f.flow, reason }, n);
    });
  }

  /**
   * A counter whose values a component keeps itself (its own cumulative counts), read at
   * every scrape by `fill`; set again, it replaces the earlier source.
   */
  exportCounter<L extends string>(name: string, help: string, labelNames: readonly L[], fill: (inc: (labels: Record<L, string>, n: number) => void) => void | Promise<void>): void {
    const self = this;
    if (this.registry.getSingleMetric(name)) this.registry.removeSingleMetric(name);
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        try {
          await fill((labels, n) => this.inc(labels as Partial<Record<L, string | number>>, n));
        } catch (e) {
          self.log?.warn('counter source unavailable', { metric: name, error: e });
        }
      },
    });
  }

  /**
   * Exports a component's cost ledger, read at every scrape: modelled CPU cycles charged,
   * by physical CPU, domain (xen for the hypervisor's share) and primitive. Divided by the
   * rate of vnetlab_modelled_time_seconds it is cycles per modelled second.
   */
  exportLedger(source: () => Array<{ pcpu: string; domain: string; primitive: string; cycles: number }> | Promise<Array<{ pcpu: string; domain: string; primitive: string; cycles: number }>>): void {
    this.exportCounter('vnetlab_cpu_cycles_total', 'Modelled CPU cycles charged, by physical CPU, domain and primitive', ['pcpu', 'domain', 'primitive'], async (inc) => {
      for (const r of await source()) if (r.cycles > 0) inc({ pcpu: r.pcpu, domain: r.domain, primitive: r.primitive }, r.cycles);
    });
  }

  /** Text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
