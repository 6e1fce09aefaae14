/**
 * The helper worker of the page's CPU path: it computes the Gram tiles and grows the subtrees the
 * segmenting worker hands it (`gramTiles`, `growSubtree` of the light module), while that worker
 * does the rest, so that the CPU NCut uses two cores without wasm threads (which need a
 * cross-origin isolated page). Same wasm, same code: the results are the ones the segmenting
 * worker would have computed.
 */
import init, { gramTiles, growSubtree } from "../pkg/diffcut.js";
import type { HelperReply, HelperRequest } from "./cpu-helper";
import { messageOf } from "./errors";

interface HelperScope {
  postMessage(msg: HelperReply, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (e: MessageEvent<HelperRequest>) => void): void;
}
const scope = self as unknown as HelperScope;

/** The light module, instantiated from the segmenting worker's compiled module (the first message). */
let ready: Promise<unknown> | null = null;

function run(msg: Exclude<HelperRequest, { kind: "start" }>): Float32Array | Float64Array {
  switch (msg.kind) {
    case "tiles":
      return gramTiles(msg.x, msg.c, msg.tiles);
    case "subtree":
      return growSubtree(msg.w, msg.excluded, msg.params);
  }
}

scope.addEventListener("message", (e: MessageEvent<HelperRequest>) => {
  const msg = e.data;
  if (msg.kind === "start") {
    ready = init({ module_or_path: msg.module });
    return;
  }
  (ready ?? Promise.reject(new Error("no module was sent"))).then(
    () => {
      try {
        const result = run(msg);
        scope.postMessage({ id: msg.id, result }, [result.buffer]);
      } catch (err) {
        scope.postMessage({ id: msg.id, error: messageOf(err) }, []);
      }
    },
    (err: unknown) => scope.postMessage({ id: msg.id, error: `the helper could not start: ${messageOf(err)}` }, []),
  );
});
