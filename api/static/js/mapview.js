// The map: product tiles over a plain background (no basemap: the service works offline),
// the order's rectangle with a draw tool, product footprints, and the swipe comparison.
/* global L */

const OUTLINE = { color: "#d9480f", weight: 2, fill: false, dashArray: "6 4" };
const FOOTPRINT = {
  color: "#495057", weight: 1, fill: false, opacity: 0.7, className: "footprint",
};

export class MapView {
  constructor(element) {
    this.map = L.map(element, { zoomControl: true, attributionControl: false, maxZoom: 19 });
    // Two panes for products: "bottom" holds the shown (or left) product, "top" the right
    // product of a comparison, clipped by the swipe.
    this.map.createPane("bottom").style.zIndex = 250;
    this.map.createPane("top").style.zIndex = 260;
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layers = { bottom: null, top: null };
    this.footprints = L.layerGroup().addTo(this.map);
    this.area = null;
    this.split = 0.5;
    this.map.on("move zoom resize", () => this.clip());
  }

  fit(bbox, padding = 20) {
    const [w, s, e, n] = bbox;
    this.map.fitBounds([[s, w], [n, e]], { padding: [padding, padding] });
  }

  /** Draw the order's area (dashed) and keep it in sync with the inputs. */
  showArea(bbox) {
    const bounds = [[bbox[1], bbox[0]], [bbox[3], bbox[2]]];
    if (this.area) this.area.setBounds(bounds);
    else this.area = L.rectangle(bounds, { ...OUTLINE, interactive: false }).addTo(this.map);
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

  /**
   * Let the user draw a rectangle: drag, or click two corners. Resolves to [W, S, E, N], or
   * null when cancelled (Esc, or `cancel()`).
   */
  drawRectangle() {
    const map = this.map;
    const container = map.getContainer();
    container.classList.add("drawing");
    map.dragging.disable();
    map.boxZoom.disable();
    let start = null;
    let moved = false;
    let preview = null;
    return new Promise((resolve) => {
      const finish = (bbox) => {
        map.off("mousedown", down).off("mousemove", move).off("mouseup", up);
        document.removeEventListener("keydown", key);
        container.classList.remove("drawing");
        map.dragging.enable();
        map.boxZoom.enable();
        if (preview) map.removeLayer(preview);
        this.cancelDraw = null;
        resolve(bbox);
      };
      const bboxOf = (a, b) => [
        Math.min(a.lng, b.lng), Math.min(a.lat, b.lat),
        Math.max(a.lng, b.lng), Math.max(a.lat, b.lat),
      ].map((v) => Math.round(v * 1e5) / 1e5);
      const down = (event) => {
        if (!start) { start = event.latlng; moved = false; }
      };
      const move = (event) => {
        if (!start) return;
        moved = true;
        const bounds = L.latLngBounds(start, event.latlng);
        if (preview) preview.setBounds(bounds);
        else preview = L.rectangle(bounds, { ...OUTLINE, dashArray: null }).addTo(map);
      };
      const up = (event) => {
        if (!start) return;
        const far = map.latLngToContainerPoint(start).distanceTo(event.containerPoint) > 4;
        // A drag ends the rectangle; a click leaves the first corner set for a second click.
        if (moved && far) finish(bboxOf(start, event.latlng));
      };
      const key = (event) => { if (event.key === "Escape") finish(null); };
      map.on("mousedown", down).on("mousemove", move).on("mouseup", up);
      document.addEventListener("keydown", key);
      this.cancelDraw = () => finish(null);
    });
  }
}
