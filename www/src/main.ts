/** The page's entry point: wires index.html to the worker (see app.ts). */
import "./style.css";
import { App } from "./app";
import { pageElements, setStatus } from "./dom";
import { messageOf } from "./errors";

const ui = pageElements();
// Anything that escapes the handlers still ends up on the page, not only in the console.
window.addEventListener("error", (e) => setStatus(ui.status, "error", e.message));
window.addEventListener("unhandledrejection", (e) => setStatus(ui.status, "error", messageOf(e.reason)));
if (typeof Worker === "undefined" || typeof WebAssembly === "undefined") {
  setStatus(ui.status, "error", "This browser lacks Web Workers or WebAssembly, which this page needs.");
} else {
  new App(ui).start();
}
