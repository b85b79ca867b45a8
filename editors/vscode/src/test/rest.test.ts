import { strict as assert } from "node:assert";
import { test } from "node:test";
import { RestTracker } from "../rest";

function harness(delayMs = 200) {
  const sent: unknown[][] = [];
  let pending: (() => void) | undefined;
  const tracker = new RestTracker(
    delayMs,
    (...args) => sent.push(args),
    (fn) => {
      pending = fn;
      return fn;
    },
    () => {
      pending = undefined;
    },
  );
  const fire = () => {
    const fn = pending;
    pending = undefined;
    fn?.();
  };
  return { tracker, sent, fire, isPending: () => pending !== undefined };
}

test("a move that rests is sent once, after the delay", () => {
  const { tracker, sent, fire } = harness();
  tracker.moved("file:///a.py", 3, 0, 0);
  tracker.moved("file:///a.py", 3, 40, 2); // moved again before the delay: only the last
  assert.deepEqual(sent, []);
  fire();
  assert.deepEqual(sent, [["file:///a.py", 3, 40, 2]]);
});

test("a move made by typing is not a rest", () => {
  const { tracker, sent, fire, isPending } = harness();
  tracker.moved("file:///a.py", 3, 0, 0);
  tracker.moved("file:///a.py", 4, 0, 1); // the document changed: typing
  assert.equal(isPending(), false);
  fire();
  assert.deepEqual(sent, []);
});

test("a delay of 0 turns it off", () => {
  const { tracker, isPending } = harness(0);
  tracker.moved("file:///a.py", 1, 5, 0);
  assert.equal(isPending(), false);
});
