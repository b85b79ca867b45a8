// Where the cursor rests: a selection change that is not typing, held for `delayMs`, is
// told to the server (`bigcode/didMoveCursor`), which computes that place's prompt while
// the user reads. Pure: the timer functions are injected, for tests.

export type SendRest = (uri: string, version: number, line: number, character: number) => void;

export class RestTracker {
  private versions = new Map<string, number>();
  private timer: unknown;

  constructor(
    private readonly delayMs: number,
    private readonly send: SendRest,
    private readonly schedule: (fn: () => void, ms: number) => unknown = (fn, ms) => setTimeout(fn, ms),
    private readonly cancel: (timer: unknown) => void = (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
  ) {}

  // The cursor is now at (line, character) of `uri` at document `version`. A move whose
  // document changed since the last one was typing: the completion request covers it.
  moved(uri: string, version: number, line: number, character: number): void {
    const last = this.versions.get(uri);
    this.versions.set(uri, version);
    if (this.timer !== undefined) {
      this.cancel(this.timer);
      this.timer = undefined;
    }
    if (this.delayMs <= 0 || (last !== undefined && last !== version)) {
      return;
    }
    this.timer = this.schedule(() => {
      this.timer = undefined;
      this.send(uri, version, line, character);
    }, this.delayMs);
  }

  forget(uri: string): void {
    this.versions.delete(uri);
  }
}
