// Runs async tasks one at a time, in order. Modelled CPUs serialize work in modelled time
// (Cpu); this is the wall-clock side of it: a domain's handlers must not interleave at an await,
// since ring and queue state would be touched by two tasks at once.
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => T | Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** A promise with its resolve function, for "wake me when X happens". */
export class Signal {
  private waiters: Array<() => void> = [];

  wait(timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w = () => {
        if (timer) clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(w);
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve(false);
        }, timeoutMs);
    });
  }

  fire(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
