// The map: product tiles over the preview (`preview.js`) over a basemap (`basemap.js`), the
// order's area with its draw tools (`draw.js`), product footprints, and the swipe comparison.
/* global L */
import { addBasemap } from "./basemap.js";
import { drawPolygon, drawRectangle } from "./draw.js";
import { QueuedTileLayer } from "./tilequeue.js";

const OUTLINE = {
  color: "#d9480f", weight: 2, fill: false, dashArray: "6 4", className: "order-area",
};
const FOOTPRINT = {
  color: "#495057", weight: 1, fill: false, opacity: 0.7, className: "footprint",
};

export class MapView {
  constructor(element) {
    // The map's own zoom range: without it Leaflet takes its layers' range, and the preview
    // alone on the offline basemap (from zoom 11) would forbid zooming out.
    this.map = L.map(element, { zoomControl: true, minZoom: 0, maxZoom: 19 });
    // Two panes for products: "bottom" holds the shown (or left) product, "top" the right
    // product of a comparison, clipped by the swipe.
    this.map.createPane("bottom").style.zIndex = 250;
    this.map.createPane("top").style.zIndex = 260;
    // The preview of an order (`preview.js`): over the basemap and its names (210, 240), so
    // that it reads as imagery, under the products (what was ordered wins) and under the
    // overlay pane (400), where the order's area stays drawn over it.
    this.map.createPane("preview").style.zIndex = 245;
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layers = { bottom: null, top: null };
    this.preview = null;
    this.footprints = L.layerGroup().addTo(this.map);
    this.area = null;
    this.split = 0.5;
    this.map.on("move zoom resize", () => this.clip());
    // The zoom level, for tests and scripts (as `data-layer` says what the map shows).
    this.map.on("zoomend", () => { element.dataset.zoom = String(this.map.getZoom()); });
  }

  fit(bbox, padding = 20) {
    const [w, s, e, n] = bbox;
    this.map.fitBounds([[s, w], [n, e]], { padding: [padding, padding] });
  }

  /** Put the basemap under everything: the tiles of `url`, or the offline one. */
  setBasemap(basemap) {
    return addBasemap(this.map, basemap);
  }

  /** Draw the order's area (dashed): a bbox, or the polygon `geometry` when there is one. */
  showArea(bbox, geometry = null) {
    if (this.area) this.map.removeLayer(this.area);
    const style = { ...OUTLINE, interactive: false };
    this.area = geometry
      ? L.polygon(geometry.coordinates[0].map(([lon, lat]) => [lat, lon]), style)
      : L.rectangle([[bbox[1], bbox[0]], [bbox[3], bbox[2]]], style);
    this.area.addTo(this.map);
  }

  /** Show or hide the products' outlines (drawn over imagery, they hide its edges). */
  setFootprintsVisible(visible) {
    if (visible) this.footprints.addTo(this.map);
    else this.footprints.remove();
  }

  /** Outline every product (thin grey), so that the map shows what exists. */
  showFootprints(features) {
    this.footprints.clearLayers();
    for (const feature of features) {
      L.geoJSON(feature.geometry, { style: FOOTPRINT, interactive: false }).addTo(this.footprints);
    }
  }

  /** Show a TileJSON layer in a pane ("bottom" or "top"), replacing what was there. */
  showTiles(pane, tilejson, onTile) {
    this.clear(pane);
    const [w, s, e, n] = tilejson.bounds;
    const layer = L.tileLayer(tilejson.tiles[0], {
      pane,
      tileSize: 256,
      bounds: [[s, w], [n, e]],
      // TileJSON's maxzoom is the zoom of the product's own pixels. Ask the server for a few
      // zooms more (it resamples by nearest neighbour) rather than letting the browser blur
      // stretched tiles: pixels stay crisp and tiles meet without seams.
      maxNativeZoom: Math.min(19, tilejson.maxzoom + 4),
      maxZoom: 19,
      className: `tiles-${pane}`,
    });
    if (onTile) layer.on("tileload tileerror", onTile);
    layer.addTo(this.map);
    this.layers[pane] = layer;
    this.clip();
  }

  /**
   * Show the preview's TileJSON under the products, replacing the one before; `events` are
   * Leaflet's tile layer events (`loading`, `load`, ...) to listen to.
   */
  showPreview(tilejson, events = {}) {
    this.clearPreview();
    const [w, s, e, n] = tilejson.bounds;
    // A few tiles at a time: each takes the service about a second (`tilequeue.js`).
    this.preview = new QueuedTileLayer(tilejson.tiles[0], {
      pane: "preview",
      className: "tiles-preview",
      tileSize: tilejson.tileSize || 256,
      bounds: [[s, w], [n, e]],
      // Below its minzoom the service answers every tile 204 (a tile would read too many
      // scenes): Leaflet asks nothing there. Past its maxzoom the browser enlarges the
      // maxzoom's tiles, so that the preview does not vanish at the map's last zoom.
      minZoom: tilejson.minzoom,
      maxNativeZoom: tilejson.maxzoom,
      maxZoom: Math.max(tilejson.maxzoom, this.map.getMaxZoom()),
      // A preview tile is computed on request (about a second): ask for the tiles of where
      // the map stops, not of every view it passes through while panned or zoomed.
      updateWhenIdle: true,
      updateWhenZooming: false,
    });
    this.preview.on(events);
    this.preview.addTo(this.map);
    // The preview's tiles, for tests and scripts (as `data-layer` says what products show).
    this.map.getContainer().dataset.preview = tilejson.tiles[0];
  }

  clearPreview() {
    if (this.preview) this.map.removeLayer(this.preview);
    this.preview = null;
    delete this.map.getContainer().dataset.preview;
  }

  /** The map's zoom level now. */
  get zoom() {
    return this.map.getZoom();
  }

  /** Call `callback(zoom)` after each change of zoom. */
  onZoom(callback) {
    this.map.on("zoomend", () => callback(this.map.getZoom()));
  }

  clear(pane) {
    if (this.layers[pane]) this.map.removeLayer(this.layers[pane]);
    this.layers[pane] = null;
  }

  /** Move the divider of the swipe: the left product left of it, the right one right. */
  setSplit(fraction) {
    this.split = fraction;
    this.clip();
  }

  clip() {
    const top = this.map.getPane("top");
    const bottom = this.map.getPane("bottom");
    if (!this.layers.top) { top.style.clip = ""; bottom.style.clip = ""; return; }
    // Panes move with the map (CSS transforms): convert the container's edges and the
    // divider into the pane's coordinates. Both sides are clipped: where the right product
    // has no data, the left one must not show through on the right of the line.
    const size = this.map.getSize();
    const nw = this.map.containerPointToLayerPoint([0, 0]);
    const se = this.map.containerPointToLayerPoint(size);
    const x = nw.x + size.x * this.split;
    top.style.clip = `rect(${nw.y}px, ${se.x}px, ${se.y}px, ${x}px)`;
    bottom.style.clip = `rect(${nw.y}px, ${x}px, ${se.y}px, ${nw.x}px)`;
  }

  /** Let the user draw a rectangle; resolves to [W, S, E, N], or null when cancelled. */
  drawRectangle() {
    return this.startDrawing(drawRectangle);
  }

  /** Let the user draw a polygon; resolves to its closed ring, or null when cancelled. */
  drawPolygon() {
    return this.startDrawing(drawPolygon);
  }

  /** Run a tool of `draw.js`; `cancelDraw()` stops it while it runs. */
  async startDrawing(tool) {
    const { done, cancel } = tool(this.map);
    this.cancelDraw = cancel;
    try {
      return await done;
    } finally {
      this.cancelDraw = null;
    }
  }
}
