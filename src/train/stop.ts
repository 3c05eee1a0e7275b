// Ctrl-C for every long run (`d2c train …`, `d2c fit`): the first SIGINT asks the work to stop at
// its next safe point (the trainer saves a checkpoint; fit stops after the running phase); a second
// aborts at once (exit 130). One signal object can span several trainings, so a run never has two
// handlers that disagree about what the first Ctrl-C did.

export class StopSignal {
  private stopRequested = false;
  private signals = 0;
  private readonly listeners = new Set<() => void>();
  /** What the first Ctrl-C makes happen, as told to the user; whoever runs now sets it. */
  doing = 'stopping';

  get requested(): boolean {
    return this.stopRequested;
  }

  /** Asks to stop without a Ctrl-C (a parent process asked); a Ctrl-C after it is still the first. */
  request(): void {
    this.stopNow();
  }

  /** Calls `fn` once a stop is requested (at once if it already was); returns the way to unsubscribe. */
  onStop(fn: () => void): () => void {
    if (this.stopRequested) fn();
    else this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Handles SIGINT until the returned function is called. */
  listen(): () => void {
    const onSigint = () => this.onSigint();
    process.on('SIGINT', onSigint);
    return () => process.off('SIGINT', onSigint);
  }

  private onSigint(): void {
    this.signals++;
    if (this.signals > 1) process.exit(130);
    if (!this.stopRequested) process.stderr.write(`\ninterrupt: ${this.doing} (Ctrl-C again to abort)\n`);
    this.stopNow();
  }

  private stopNow(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    for (const fn of this.listeners) fn();
    this.listeners.clear();
  }
}
