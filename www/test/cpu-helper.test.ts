import { describe, expect, it } from "vitest";
import { CpuHelper, type HelperPort, type HelperReply, type HelperRequest } from "../src/cpu-helper";

/** A helper worker the test answers by hand. */
class FakePort implements HelperPort {
  readonly posted: { msg: HelperRequest; transfer: Transferable[] }[] = [];
  terminated = false;
  private onMessage: (e: MessageEvent<HelperReply>) => void = () => {};
  private onError: (e: Event) => void = () => {};

  postMessage(msg: HelperRequest, transfer: Transferable[]): void {
    this.posted.push({ msg, transfer });
  }
  addEventListener(type: "message" | "error", listener: ((e: MessageEvent<HelperReply>) => void) | ((e: Event) => void)): void {
    if (type === "message") this.onMessage = listener as (e: MessageEvent<HelperReply>) => void;
    else this.onError = listener as (e: Event) => void;
  }
  terminate(): void {
    this.terminated = true;
  }
  reply(msg: HelperReply): void {
    this.onMessage({ data: msg } as MessageEvent<HelperReply>);
  }
  fail(): void {
    this.onError(new Event("error", { cancelable: true }));
  }
}

/** The smallest wasm module (magic and version): what the helper is sent first. */
const MODULE = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));

const tiles = (): [Float32Array, number, Uint32Array] => [new Float32Array([1, 2, 3, 4]), 2, new Uint32Array([0, 0])];
const subtree = (): [Float32Array, Uint8Array, Float64Array] => [new Float32Array([1, 0.5, 0.5, 1]), new Uint8Array([0, 1]), new Float64Array([1, 0.8, 0, 1e-6, 400])];

describe("CpuHelper", () => {
  it("starts its worker on the first request, or when warmed", () => {
    let opened = 0;
    const helper = new CpuHelper(() => {
      opened += 1;
      return new FakePort();
    }, MODULE);
    expect(opened).toBe(0);
    void helper.tiles(...tiles());
    void helper.subtree(...subtree());
    expect(opened).toBe(1);
    const warmed = new CpuHelper(() => {
      opened += 1;
      return new FakePort();
    }, MODULE);
    warmed.warm();
    warmed.warm();
    expect(opened).toBe(2);
  });

  it("posts each request with its buffers and resolves it by id, in any order", async () => {
    const port = new FakePort();
    const helper = new CpuHelper(() => port, MODULE);
    const [x, c, t] = tiles();
    const a = helper.tiles(x, c, t);
    const [w, excluded, params] = subtree();
    const b = helper.subtree(w, excluded, params);
    expect(port.posted.map((p) => [p.msg.kind, p.msg.id])).toEqual([
      ["start", -1],
      ["tiles", 0],
      ["subtree", 1],
    ]);
    expect(port.posted[0]?.msg).toEqual({ kind: "start", id: -1, module: MODULE });
    expect(port.posted[1]?.transfer).toEqual([x.buffer, t.buffer]);
    expect(port.posted[2]?.transfer).toEqual([w.buffer, excluded.buffer, params.buffer]);
    port.reply({ id: 1, result: new Float64Array([7]) });
    port.reply({ id: 0, result: new Float32Array([5, 6]) });
    expect(Array.from(await a)).toEqual([5, 6]);
    expect(Array.from(await b)).toEqual([7]);
  });

  it("rejects an answer of the wrong kind, and the helper's message when it could not do the work", async () => {
    const port = new FakePort();
    const helper = new CpuHelper(() => port, MODULE);
    const a = helper.tiles(...tiles());
    port.reply({ id: 0, result: new Float64Array([1]) });
    await expect(a).rejects.toThrow("the helper answered tiles with the wrong kind of array");
    const b = helper.subtree(...subtree());
    port.reply({ id: 1, error: "invalid parameter `subtree job`" });
    await expect(b).rejects.toThrow("invalid parameter `subtree job`");
    // Still alive: the next request is posted.
    void helper.tiles(...tiles()).catch(() => {});
    expect(port.posted).toHaveLength(4);
  });

  it("rejects what is in flight and everything after, once the helper worker fails", async () => {
    const port = new FakePort();
    const helper = new CpuHelper(() => port, MODULE);
    const a = helper.tiles(...tiles());
    port.fail();
    await expect(a).rejects.toThrow("the helper worker stopped");
    await expect(helper.subtree(...subtree())).rejects.toThrow("the helper worker stopped");
    expect(port.posted).toHaveLength(2);
    // A late answer for a rejected request is ignored.
    port.reply({ id: 0, result: new Float32Array([1]) });
  });

  it("rejects every request when its worker cannot start, without throwing", async () => {
    const helper = new CpuHelper(() => {
      throw new Error("Worker is not defined");
    }, MODULE);
    expect(() => helper.warm()).not.toThrow();
    await expect(helper.tiles(...tiles())).rejects.toThrow("the helper worker could not start: Worker is not defined");
  });

  it("stops its worker on request", async () => {
    const port = new FakePort();
    const helper = new CpuHelper(() => port, MODULE);
    const a = helper.tiles(...tiles());
    helper.stop();
    expect(port.terminated).toBe(true);
    await expect(a).rejects.toThrow("stopped");
  });
});
