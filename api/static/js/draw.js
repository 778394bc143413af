// Drawing the order's area on the map: a rectangle (drag, or click two corners) or a polygon
// (click its corners). Each tool returns {done, cancel}: `done` resolves to what was drawn,
// or null when cancelled (Esc, or `cancel()`).
/* global L */

export const DRAWING = { color: "#d9480f", weight: 2, fill: false };
const round = (v) => Math.round(v * 1e5) / 1e5;
// Pixels within which a click is taken as the same point (a double click's second click, or
// the first corner clicked again to close the polygon).
const SAME_POINT_PX = 8;

/** Take the map for a drawing: no panning or zooming by mouse until `release()`. */
function hold(map) {
  const container = map.getContainer();
  container.classList.add("drawing");
  map.dragging.disable();
  map.boxZoom.disable();
  map.doubleClickZoom.disable();
  return () => {
    container.classList.remove("drawing");
    map.dragging.enable();
    map.boxZoom.enable();
    // Re-enabled after the double click that may have ended the drawing has been handled.
    setTimeout(() => map.doubleClickZoom.enable(), 0);
  };
}

/** Drag a rectangle, or click two corners; resolves to [W, S, E, N]. */
export function drawRectangle(map) {
  const release = hold(map);
  let start = null;
  let moved = false;
  let preview = null;
  let finish;
  const done = new Promise((resolve) => {
    const bboxOf = (a, b) => [
      Math.min(a.lng, b.lng), Math.min(a.lat, b.lat),
      Math.max(a.lng, b.lng), Math.max(a.lat, b.lat),
    ].map(round);
    const down = (event) => {
      if (!start) { start = event.latlng; moved = false; }
    };
    const move = (event) => {
      if (!start) return;
      moved = true;
      const bounds = L.latLngBounds(start, event.latlng);
      if (preview) preview.setBounds(bounds);
      else preview = L.rectangle(bounds, DRAWING).addTo(map);
    };
    const up = (event) => {
      if (!start) return;
      const far = map.latLngToContainerPoint(start).distanceTo(event.containerPoint) > 4;
      // A drag ends the rectangle; a click leaves the first corner set for a second click.
      if (moved && far) finish(bboxOf(start, event.latlng));
    };
    const key = (event) => { if (event.key === "Escape") finish(null); };
    finish = (bbox) => {
      map.off("mousedown", down).off("mousemove", move).off("mouseup", up);
      document.removeEventListener("keydown", key);
      if (preview) map.removeLayer(preview);
      release();
      resolve(bbox);
    };
    map.on("mousedown", down).on("mousemove", move).on("mouseup", up);
    document.addEventListener("keydown", key);
  });
  return { done, cancel: () => finish(null) };
}

/**
 * Click the polygon's corners; a double click, a click on the first corner or Enter closes
 * it, Backspace removes the last corner. Resolves to its closed ring [[lon, lat], ...].
 */
export function drawPolygon(map) {
  const release = hold(map);
  const corners = [];
  const outline = L.polyline([], DRAWING).addTo(map);
  const rubber = L.polyline([], { ...DRAWING, dashArray: "4 4", interactive: false }).addTo(map);
  let finish;
  const done = new Promise((resolve) => {
    const near = (a, b) => map.latLngToContainerPoint(a).distanceTo(
      map.latLngToContainerPoint(b)) <= SAME_POINT_PX;
    const close = () => {
      if (corners.length < 3) return finish(null);
      const ring = corners.map((c) => [round(c.lng), round(c.lat)]);
      return finish([...ring, ring[0]]);
    };
    const click = (event) => {
      if (corners.length >= 3 && near(event.latlng, corners[0])) return close();
      if (corners.length && near(event.latlng, corners.at(-1))) return null;
      corners.push(event.latlng);
      outline.setLatLngs(corners);
      return null;
    };
    const move = (event) => {
      rubber.setLatLngs(corners.length ? [corners.at(-1), event.latlng, corners[0]] : []);
    };
    const key = (event) => {
      if (event.key === "Escape") return finish(null);
      if (event.target.closest?.("input, select, textarea")) return null;  // typing there
      if (event.key === "Enter") { event.preventDefault(); close(); }
      else if (event.key === "Backspace" && corners.length) {
        event.preventDefault();
        corners.pop();
        outline.setLatLngs(corners);
        rubber.setLatLngs([]);
      }
      return null;
    };
    finish = (ring) => {
      map.off("click", click).off("dblclick", close).off("mousemove", move);
      document.removeEventListener("keydown", key);
      map.removeLayer(outline).removeLayer(rubber);
      release();
      resolve(ring);
    };
    map.on("click", click).on("dblclick", close).on("mousemove", move);
    document.addEventListener("keydown", key);
  });
  return { done, cancel: () => finish(null) };
}
