// The basemap under the products: the operator's tiles (OpenStreetMap by default), or, when
// there are none or they fail to load (no internet), Natural Earth's countries drawn from
// files the service ships, with their names, so that the map always says where it is.
/* global L, topojson */
import { polygonContains, ringArea, ringCentroid } from "./geometry.js";

const WORLD = "static/vendor/world-atlas/countries-50m.json";
const TOPOJSON_CLIENT = "static/vendor/topojson-client/topojson-client.min.js";
const NATURAL_EARTH = '<a href="https://www.naturalearthdata.com">Natural Earth</a>';
/** The offline basemap's colours (the sea is the map's background). */
const OFFLINE_COLOURS = {
  sea: "#c6dbea", land: "#f3efe6", coast: "#6f93b0", border: "#a3869e",
};
// The room a name takes, px (an average character, the line): a name shows once its country
// is that wide and no other name is there.
const LABEL_CHAR_PX = 7;
const LABEL_HEIGHT_PX = 16;

/**
 * Put the basemap on `map` under every other layer: the tiles of `url` (XYZ), switching for
 * good to the offline basemap at their first error; the offline basemap alone when `url` is
 * empty. The map's element says which one shows in `data-basemap` ("online", "offline").
 */
export function addBasemap(map, { url = "", attribution = "" } = {}) {
  const element = map.getContainer();
  // Both basemaps lie under the products' panes (250, 260) and the drawn area (400).
  map.createPane("basemap").style.zIndex = 210;
  map.createPane("basemap-labels").style.zIndex = 240;
  let offline = null;
  const goOffline = () => {
    offline ??= drawOffline(map).then(
      () => { element.dataset.basemap = "offline"; },
      (error) => {  // a plain background then, as before there was a basemap
        element.dataset.basemap = "none";
        console.error("the offline basemap could not be drawn:", error);
      });
    return offline;
  };
  if (!url) return goOffline();
  const tiles = L.tileLayer(url, { attribution, maxZoom: 19 });
  // The first failing tile means the tiles are out of reach (offline, blocked, wrong URL):
  // switch once and stay, rather than a map that half shows tiles and flickers back.
  tiles.once("tileerror", () => { map.removeLayer(tiles); goOffline(); });
  tiles.once("tileload", () => { element.dataset.basemap ??= "online"; });
  tiles.addTo(map);
  return Promise.resolve();
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = Object.assign(document.createElement("script"), { src });
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
    document.head.append(script);
  });
}

/** Draw the land, coastlines, borders and country names (fetched only when needed). */
async function drawOffline(map) {
  const [world] = await Promise.all([
    fetch(WORLD).then((response) => {
      if (!response.ok) throw new Error(`cannot load ${WORLD}: HTTP ${response.status}`);
      return response.json();
    }),
    window.topojson ? null : loadScript(TOPOJSON_CLIENT),
  ]);
  map.getContainer().style.background = OFFLINE_COLOURS.sea;
  // One canvas for the three layers: 140,000 points draw faster there than as SVG paths.
  const renderer = L.canvas({ pane: "basemap" });
  const common = { renderer, interactive: false, smoothFactor: 1.5 };
  const land = cutGeometry(topojson.feature(world, world.objects.land).features[0].geometry);
  L.geoJSON(land, { ...common, attribution: NATURAL_EARTH,
    style: { stroke: false, fillColor: OFFLINE_COLOURS.land, fillOpacity: 1 } }).addTo(map);
  const coast = topojson.mesh(world, world.objects.land);
  L.geoJSON(cutGeometry(coast), { ...common,
    style: { color: OFFLINE_COLOURS.coast, weight: 1.2, opacity: 1 } }).addTo(map);
  const borders = topojson.mesh(world, world.objects.countries, (a, b) => a !== b);
  L.geoJSON(cutGeometry(borders), { ...common,
    style: { color: OFFLINE_COLOURS.border, weight: 1, opacity: 0.9, dashArray: "4 3" } })
    .addTo(map);
  addCountryNames(map, topojson.feature(world, world.objects.countries).features);
}

// ---------------------------------------------------------------- country names

/**
 * Name the countries at the middle of their largest part, the largest first, each once the
 * map shows it wide enough for its name and where the name overlaps no other; and, zoomed in
 * so far that the name of the country under the map's centre is out of view, that name at
 * the top of the map.
 */
function addCountryNames(map, features) {
  const countries = features.filter((f) => f.properties?.name && f.geometry).map((f) => {
    const polygons = polygonsOf(cutGeometry(f.geometry));
    if (!polygons.length) return null;
    const largest = polygons.reduce((a, b) => (ringArea(b[0]) > ringArea(a[0]) ? b : a));
    const [lon, lat] = ringCentroid(largest[0]);
    const name = f.properties.name;
    const boundsOf = (ring) => L.latLngBounds(ring.map(([x, y]) => [y, x]));
    return {
      name, area: ringArea(largest[0]), bounds: boundsOf(largest[0]),
      parts: polygons.map((rings) => ({ rings, bounds: boundsOf(rings.flat()) })),
      marker: L.marker([lat, lon], { icon: labelIcon(name), pane: "basemap-labels",
        interactive: false, keyboard: false }),
    };
  }).filter(Boolean).sort((a, b) => b.area - a.area);
  const names = L.layerGroup().addTo(map);
  const here = L.marker([0, 0], { pane: "basemap-labels", interactive: false,
    keyboard: false });
  const boxOf = (point, name) => {
    const half = (name.length * LABEL_CHAR_PX) / 2;
    return [point.x - half, point.y - LABEL_HEIGHT_PX / 2, point.x + half,
      point.y + LABEL_HEIGHT_PX / 2];
  };
  const overlaps = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const update = () => {
    const view = map.getBounds();
    const centre = map.getCenter();
    const under = countries.find((c) => c.parts.some(({ rings, bounds }) => (
      bounds.contains(centre) && polygonContains(rings, [centre.lng, centre.lat]))));
    const placed = [];
    if (under && !view.contains(under.marker.getLatLng())) {
      const top = L.point(map.getSize().x / 2, 48);
      here.setIcon(labelIcon(under.name, "here"));
      here.setLatLng(map.containerPointToLatLng(top)).addTo(names);
      placed.push(boxOf(map.containerPointToLayerPoint(top), under.name));
    } else {
      names.removeLayer(here);
    }
    for (const country of countries) {
      const nw = map.latLngToLayerPoint(country.bounds.getNorthWest());
      const se = map.latLngToLayerPoint(country.bounds.getSouthEast());
      const box = boxOf(map.latLngToLayerPoint(country.marker.getLatLng()), country.name);
      const fits = Math.max(se.x - nw.x, se.y - nw.y) >= box[2] - box[0]
        && !placed.some((other) => overlaps(box, other));
      if (fits) {
        placed.push(box);
        names.addLayer(country.marker);
      } else {
        names.removeLayer(country.marker);
      }
    }
  };
  map.on("moveend", update);
  update();
}

function labelIcon(name, kind = "") {
  const span = document.createElement("span");
  span.textContent = name;
  return L.divIcon({ className: `country-label ${kind}`.trim(), html: span, iconSize: null });
}

// ---------------------------------------------------------------- the antimeridian

// Natural Earth's shapes here are stitched across the antimeridian, as spherical renderers
// want them; drawn flat, an edge from 179.9 E to 179.9 W would cross the whole world (Russia,
// Fiji, Antarctica). Cut them there instead.

/** The point where a -> b crosses the antimeridian, on a's side. */
function crossing(a, b) {
  const side = a[0] > 0 ? 180 : -180;
  const bLon = b[0] + (side > 0 ? 360 : -360);
  const t = bLon === a[0] ? 0 : (side - a[0]) / (bLon - a[0]);
  return [side, a[1] + t * (b[1] - a[1])];
}

function cutLine(points) {
  const pieces = [[points[0]]];
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    if (Math.abs(b[0] - a[0]) > 180) {
      const [lon, lat] = crossing(a, b);
      pieces.at(-1).push([lon, lat]);
      pieces.push([[-lon, lat]]);
    }
    pieces.at(-1).push(b);
  }
  return pieces;
}

function cutRing(ring) {
  const pieces = cutLine(ring);
  // A closed ring: its last piece runs on into its first.
  if (pieces.length > 1) pieces[0] = pieces.pop().concat(pieces[0]);
  return pieces;
}

/** The same GeoJSON geometry, cut at the antimeridian (lines and polygons). */
function cutGeometry(geometry) {
  const { type, coordinates } = geometry;
  switch (type) {
    case "LineString": return { type: "MultiLineString", coordinates: cutLine(coordinates) };
    case "MultiLineString": return { type, coordinates: coordinates.flatMap(cutLine) };
    case "Polygon": return { type, coordinates: coordinates.flatMap(cutRing) };
    case "MultiPolygon":
      return { type, coordinates: coordinates.map((rings) => rings.flatMap(cutRing)) };
    default: return geometry;
  }
}

/** The polygons of a (cut) geometry, each as its rings, outer first. */
function polygonsOf(geometry) {
  if (geometry.type === "Polygon") return [geometry.coordinates];
  return geometry.type === "MultiPolygon" ? geometry.coordinates : [];
}
