// A Leaflet tile layer that loads at most `maxLoading` of its tiles at once.
//
// Why: a browser opens at most six connections to a host, and a preview tile holds one for
// about a second while the service computes it. A map's twenty tiles asked at once would take
// all six, and the page's other requests to the service (the job's progress, the products'
// tiles and TileJSON) would queue behind them. Loaded a few at a time, the tiles leave
// connections free; the service computes only a tile per core at once anyway.
/* global L */

export const QueuedTileLayer = L.TileLayer.extend({
  options: { maxLoading: 4 },

  initialize(url, options) {
    L.TileLayer.prototype.initialize.call(this, url, options);
    this.waiting = [];   // [img, url] of the tiles not asked for yet, in Leaflet's order
    this.loading = 0;    // tiles asked for and not answered yet
  },

  // Leaflet's own createTile, but the image's URL is set when a place in the queue frees.
  createTile(coords, done) {
    const tile = document.createElement("img");
    tile.alt = "";
    tile.setAttribute("role", "presentation");
    const finish = (error) => {
      if (!tile.dataset.queued || tile.dataset.queued === "done") return;  // not ours
      tile.dataset.queued = "done";
      this.loading -= 1;
      this.startWaiting();
      done(error, tile);
    };
    tile.addEventListener("load", () => finish(null));
    tile.addEventListener("error", (event) => finish(event));
    this.waiting.push([tile, this.getTileUrl(coords)]);
    // After Leaflet has put the tile in the map (it does as soon as this returns).
    queueMicrotask(() => this.startWaiting());
    return tile;
  },

  /** Ask for waiting tiles while fewer than `maxLoading` load. */
  startWaiting() {
    while (this.loading < this.options.maxLoading && this.waiting.length) {
      const [tile, url] = this.waiting.shift();
      // A tile that left the map while it waited (panned away, zoomed, layer removed), or
      // that Leaflet emptied (it sets a blank `src` on the tiles it drops), is not asked.
      if (tile.isConnected && !tile.getAttribute("src")) {
        tile.dataset.queued = "loading";
        this.loading += 1;
        tile.src = url;
      }
    }
  },
});
