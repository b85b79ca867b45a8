// Pure: what the status-bar item says for each server state.

export type State = "starting" | "loading" | "ready" | "error" | "disabled";

export interface ServerStatus {
  model?: string | null;
  loadError?: string | null;
  demonstration?: boolean;
  advice?: string | null; // what to do about the model, e.g. download a real one
  languages?: string[]; // what the model completes ("*": every language)
}

export function stateOf(status: ServerStatus | undefined, enabled: boolean): State {
  if (!enabled) {
    return "disabled";
  }
  if (!status) {
    return "starting";
  }
  if (status.loadError) {
    return "error";
  }
  return status.model ? "ready" : "loading";
}

export function statusText(state: State, status?: ServerStatus): { text: string; tooltip: string } {
  switch (state) {
    case "starting":
      return { text: "$(sync~spin) bigcode", tooltip: "bigcode-ls: starting the server" };
    case "loading":
      return { text: "$(sync~spin) bigcode", tooltip: "bigcode-ls: loading the model" };
    case "ready":
      if (status?.demonstration) {
        return {
          text: "$(sparkle) bigcode (demo)",
          tooltip: `bigcode-ls: ${status.model ?? "ready"}\n${status.advice ?? ""}`,
        };
      }
      return { text: "$(sparkle) bigcode", tooltip: `bigcode-ls: ${status?.model ?? "ready"}` };
    case "error":
      return { text: "$(error) bigcode", tooltip: `bigcode-ls: ${status?.loadError ?? "error"} (click for logs)` };
    case "disabled":
      return { text: "$(circle-slash) bigcode", tooltip: "bigcode-ls: disabled (bigcode.enable)" };
  }
}
