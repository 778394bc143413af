// The preview: what an order of the form's period, method and cloud mask would give, on the
// map before anything is ordered (issue 16), with the layers and legends of a product. The
// service computes its tiles on request (`/preview`, about a second a tile), so the overlay
// is rebuilt only once the form has settled, and the preview stays silent when the form's
// choices are refused: the order form reports those itself when the user orders.
import * as api from "./api.js";
import { renderLegend } from "./panels.js";

// How long the form must stay unchanged before a new preview is asked for: stepping through
// months or typing a year must not start a round of tiles per keystroke.
const SETTLE_MS = 300;

export class Preview {
  /**
   * @param {MapView} view the map (`mapview.js`), which draws the overlay.
   * @param {object} controls the page's elements: `toggle` (the "Preview" checkbox),
   *   `layer` (its layer picker), `legend`, `details` (the picker and legend, folded when the
   *   preview is off), `hint` (why nothing shows) and `status` ("computing…").
   * @param {() => ({period, method, cloudMask} | null)} readChoices the form's choices, or
   *   null while they are incomplete (a custom period without its end, say).
   */
  constructor(view, controls, readChoices) {
    this.view = view;
    this.controls = controls;
    this.readChoices = readChoices;
    this.tilejson = null;      // the preview's TileJSON, also kept while unticked
    this.shownUrl = null;      // the tile URL on the map now, or null
    this.tilesLoading = false;  // tiles of the shown preview asked for and not all there
    this.layerLists = new Map();  // "period method" -> its /preview/layers answer
    this.hiddenBecause = "";   // why the preview is off although ticked (e.g. comparing)
    this.generation = 0;       // the latest rebuild: answers to older ones are dropped
    this.timer = null;
    controls.toggle.addEventListener("change", () => this.draw());
    controls.layer.addEventListener("change", () => this.rebuild());
    view.onZoom(() => this.showNotes());
  }

  /** Rebuild the preview once the form has not changed for SETTLE_MS. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.rebuild(), SETTLE_MS);
  }

  /** Ask for the layers and the TileJSON of the form's choices now, and draw them. */
  async rebuild() {
    clearTimeout(this.timer);
    const generation = ++this.generation;
    const stale = () => generation !== this.generation;  // the form changed meanwhile
    let tilejson = null;
    let legend = null;
    try {
      const choices = this.readChoices();
      if (choices) {
        const answer = await this.layersOf(choices);
        if (stale()) return;
        this.fillLayerPicker(answer);
        const layer = this.controls.layer.value;
        tilejson = await api.previewTileJSON(choices, layer);
        legend = answer.layers.find((l) => l.id === layer)?.legend;
      }
    } catch (error) {
      // A 422 is about the form's choices: the order form names the input at fault when
      // the user orders. Anything else is the service's; neither may break the page.
      if (error.status !== 422) console.warn("no preview:", error.message);
      tilejson = null;
    }
    if (stale()) return;
    this.tilejson = tilejson;
    renderLegend(this.controls.legend, tilejson && legend);
    this.draw();
  }

  /** Hide the preview although ticked, saying `reason` (until `resume()`). */
  suspend(reason) {
    this.hiddenBecause = reason;
    this.draw();
  }

  resume() {
    this.hiddenBecause = "";
    this.draw();
  }

  /** Put the map, the picker and the hint in line with the checkbox and the TileJSON. */
  draw() {
    const { toggle, details } = this.controls;
    const url = toggle.checked && !this.hiddenBecause && this.tilejson
      ? this.tilejson.tiles[0] : null;
    if (url !== this.shownUrl) {
      this.shownUrl = url;
      this.tilesLoading = false;
      if (url) {
        const loading = (now) => () => { this.tilesLoading = now; this.showNotes(); };
        this.view.showPreview(this.tilejson, { loading: loading(true), load: loading(false) });
      } else {
        this.view.clearPreview();
      }
    }
    toggle.closest("label").title = this.tilejson?.description ?? "";
    details.hidden = !toggle.checked || !this.tilejson || Boolean(this.hiddenBecause);
    this.showNotes();
  }

  /**
   * Say what the preview is doing: computing tiles, or why a ticked preview shows nothing
   * (the map is too far out, or the preview is hidden).
   */
  showNotes() {
    const { toggle, hint, status } = this.controls;
    const tooFarOut = this.tilejson && this.view.zoom < this.tilejson.minzoom;
    let text = "";
    if (toggle.checked && this.hiddenBecause) {
      text = this.hiddenBecause;
    } else if (toggle.checked && tooFarOut) {
      text = `Zoom in to see the preview (from zoom ${this.tilejson.minzoom})`;
    }
    hint.textContent = text;
    hint.hidden = !text;
    // Leaflet says "load" only once the tiles it asked for are there: zoomed out past the
    // minzoom, those were dropped, and nothing is computing for the map.
    status.hidden = !(this.shownUrl && this.tilesLoading && !tooFarOut);
  }

  /** The layers of a method's preview (their legends depend on the period too), kept. */
  async layersOf({ period, method }) {
    const key = `${period} ${method}`;
    if (!this.layerLists.has(key)) this.layerLists.set(key, await api.previewLayers(period, method));
    return this.layerLists.get(key);
  }

  /** Offer the method's layers, keeping the current choice when the method has it. */
  fillLayerPicker(answer) {
    const picker = this.controls.layer;
    const current = picker.value;
    picker.replaceChildren(...answer.layers.map((layer) => new Option(layer.title, layer.id)));
    picker.value = answer.layers.some((l) => l.id === current) ? current : answer.default;
  }
}
